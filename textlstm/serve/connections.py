"""Connections that must send their request head in time: uvicorn's h11 protocol plus a deadline.

uvicorn closes an idle keep-alive connection only after it has answered one request; a
connection that sends nothing, or half a request head a byte at a time (slow loris), stays
open for ever and holds a file descriptor and a place under `limit_concurrency`. Here each
connection gets `head_timeout_s` seconds, from its opening and again from the end of each
answer, to send a whole request line and headers; past that it is closed. The body and the
model call are bounded by the request's own timeout (`app.py`), not by this.
"""

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeadDeadlineProtocol(H11Protocol):
    """`H11Protocol` that closes a connection whose request head is not in after `head_timeout_s`.

    Args:
        head_timeout_s: seconds a connection has for each request head (keyword only); the rest
            are uvicorn's own arguments (give the class to `uvicorn.Config(http=...)` through
            `functools.partial`).
    """

    def __init__(self, *args, head_timeout_s, **kwargs):
        super().__init__(*args, **kwargs)
        self.head_timeout_s = head_timeout_s
        self._head_timer = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data):
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is in (or the connection is over)
            self._stop_waiting()

    def on_response_complete(self):
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_head()  # the next request's head, on a kept-alive connection

    def connection_lost(self, exc):
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self):
        self._stop_waiting()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_overdue)

    def _stop_waiting(self):
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self):
        self._head_timer = None
        if not self.transport.is_closing():
            try:
                self.conn.send(h11.ConnectionClosed())
            except h11.LocalProtocolError:  # mid-message on our side: closing is all there is to do
                pass
            self.transport.close()
