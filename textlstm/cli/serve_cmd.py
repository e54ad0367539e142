"""`textlstm serve RUN_DIR...`: an HTTP/JSON server and a page to try the models (extra [serve])."""

import click

from textlstm.cli.options import checked, loading_options


@click.command("serve")
@click.argument("run_dirs", nargs=-1, required=True, metavar="[NAME=]RUN_DIR...")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback is warned about (no authentication). "
    "Requests must name this server in their Host header: loopback names and the address "
    "a client connected to are accepted; with --host 0.0.0.0, add --allow-host NAME for "
    "each name clients reach this machine by.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port; 0 picks a free one (printed on the first line).",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Also accept requests whose Host header names HOST (on this port, or PORT); repeatable; "
    "'*' accepts any (this turns off the DNS-rebinding protection).",
)
@click.option(
    "--allow-origin",
    "allow_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Also accept requests from pages of ORIGIN (e.g. https://app.example), with CORS "
    "headers; repeatable. Other cross-origin requests are refused (403).",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(1),
    default=65536,
    show_default=True,
    help="Largest request body (bytes); larger is refused with 413.",
)
@click.option(
    "--max-prompt-chars",
    type=click.IntRange(0),
    default=2000,
    show_default=True,
    help="Longest generation prompt (characters).",
)
@click.option(
    "--max-length",
    type=click.IntRange(1),
    default=2000,
    show_default=True,
    help="Most characters generated per request (pieces for a subword LM).",
)
@click.option(
    "--max-sentences",
    type=click.IntRange(1),
    default=64,
    show_default=True,
    help="Most sentences per tag or translate request.",
)
@click.option(
    "--max-sentence-chars",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Longest sentence (characters).",
)
@click.option(
    "--max-beam-size", type=click.IntRange(1), default=16, show_default=True, help="Largest beam size and n_best."
)
@click.option(
    "--max-output-subwords",
    type=click.IntRange(1),
    default=256,
    show_default=True,
    help="Largest max_length of a translation (subwords).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=60.0,
    show_default=True,
    callback=checked("serve.timeout"),
)
@click.option(
    "--header-timeout",
    "header_timeout_s",
    type=float,
    default=10.0,
    show_default=True,
    callback=checked("serve.header_timeout"),
)
@click.option(
    "--max-connections",
    type=int,
    default=2048,
    show_default=True,
    callback=checked("serve.max_connections"),
)
@loading_options
def serve_command(run_dirs, host, port, allow_hosts, allow_origins, loading, **caps):
    """Serve trained models over HTTP: JSON endpoints and a page at / to try them.

    Each model is named after its run directory's last path component, or NAME=RUN_DIR.
    Needs the [serve] extra (Starlette, uvicorn).
    """
    from textlstm.serve import require_extra

    require_extra()
    from textlstm.serve.limits import Limits
    from textlstm.serve.server import serve

    serve(
        run_dirs,
        host,
        port,
        Limits(**caps),
        echo=click.echo,
        allow_hosts=allow_hosts,
        allow_origins=allow_origins,
        loading=loading,
    )
