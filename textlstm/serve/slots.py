"""A loaded model behind a per-model lock, called in a worker thread.

Concurrency, decided: requests to the same model are **serialised** (one model call at a
time per model), each call running in a worker thread while the asyncio event loop goes on
accepting requests and serving other models. Why: a model object holds shared mutable state
(Keras layers, the cache of compiled `tf.function`s that traces on first use, Python-side
vocabularies), and TensorFlow already spreads one call over every core, so running two calls
of one model at once buys little and risks racing a trace. Batching requests together would
raise throughput under load but makes results depend on the other requests of the batch
(padding, shapes) and adds a queueing policy; serialising is the simplest correct choice.

The lock is an `asyncio.Lock`, released only when the worker thread's call has really
finished: a request that times out is answered at once, but the next call of that model
waits until the abandoned one ends, so two calls never overlap.
"""

import asyncio
import concurrent.futures
import threading
import time

from textlstm import families


class Timeout(Exception):
    """The request ran past its deadline (waiting for the model included)."""


class ModelSlot:
    """One loaded model: its name, kind, summary, lock and the thread its calls run in.

    Args:
        name: the name requests use (`/models/{name}/...`).
        model: a `textlstm.api` object (CharLM, Tagger or Translator).
    """

    def __init__(self, name, model):
        self.name = name
        self.model = model
        self.kind = model.kind
        self.endpoint = families.model_class(self.kind).endpoint  # the route its family's class serves
        self._lock = asyncio.Lock()
        # One thread per model: calls of one model are serialised anyway, and a
        # stuck model never takes a thread from another.
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"model-{name}")

    def summary(self):
        """`{"name", "kind", "run_dir", "recipe": {"model": ..., "decode": ...}, "quantize"}` plus what the
        model's class adds (`serving_fields`: the tagger's tag set), as plain JSON values."""
        recipe = self.model.recipe
        info = {
            "name": self.name,
            "kind": self.kind,
            "run_dir": self.model.run_dir.name,
            "recipe": {section: recipe.get(section, {}) for section in ("model", "decode")},
            "quantize": self.model.quantize,  # None, or "int8": how the served weights are stored
        }
        info.update(self.model.serving_fields())
        return info

    async def _acquire(self, deadline):
        try:
            await asyncio.wait_for(self._lock.acquire(), max(deadline - time.monotonic(), 0))
        except asyncio.TimeoutError:
            raise Timeout(f"model {self.name!r} stayed busy past the request's timeout") from None

    async def call(self, function, deadline):
        """Run `function(model)` in this model's thread, alone; its result, or Timeout at
        `deadline` (a `time.monotonic()` value; the call itself then finishes unobserved)."""
        await self._acquire(deadline)
        future = asyncio.get_running_loop().run_in_executor(self._pool, function, self.model)
        future.add_done_callback(lambda _: self._lock.release())
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(deadline - time.monotonic(), 0))
        except asyncio.TimeoutError:
            raise Timeout("the model call ran past the request's timeout") from None

    async def stream(self, make_iterator, deadline):
        """Items of `make_iterator(model)`, advanced in this model's thread, as an async
        iterator; the lock is held until the thread stops (after the current item when the
        consumer stops early or the deadline passes: Timeout)."""
        await self._acquire(deadline)
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()
        stop = threading.Event()
        done = object()

        def produce(model):
            try:
                for item in make_iterator(model):
                    loop.call_soon_threadsafe(queue.put_nowait, (item, None))
                    if stop.is_set():
                        break
            except Exception as error:  # handed to the consumer, which answers it
                loop.call_soon_threadsafe(queue.put_nowait, (done, error))
                return
            loop.call_soon_threadsafe(queue.put_nowait, (done, None))

        future = loop.run_in_executor(self._pool, produce, self.model)
        future.add_done_callback(lambda _: self._lock.release())
        try:
            while True:
                try:
                    item, error = await asyncio.wait_for(queue.get(), max(deadline - time.monotonic(), 0))
                except asyncio.TimeoutError:
                    raise Timeout("the stream ran past the request's timeout") from None
                if error is not None:
                    raise error
                if item is done:
                    return
                yield item
        finally:
            stop.set()

    def close(self):
        self._pool.shutdown(wait=False, cancel_futures=True)
