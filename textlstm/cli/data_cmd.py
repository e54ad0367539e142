"""`textlstm data list|download|path`: the corpora the guides use, fetched from their official sources."""

import sys

import click

from textlstm.cli import _Group  # the one-line error boundary every group uses


@click.group("data", cls=_Group)
def data_command():
    """Fetch the corpora the guides use (tiny-shakespeare, War and Peace, UD English EWT, WNUT-17, the Broad
    Twitter Corpus, Multi30k, GloVe) from their official sources, checked against pinned SHA-256s.

    \b
    textlstm data list                  what there is, its size and licence, and what is downloaded
    textlstm data download wnut17       fetch, check, unpack (resumes an interrupted fetch)
    textlstm data path wnut17           the folder, for "$(textlstm data path wnut17)/wnut17train.conll"

    \b
    Cache: $TEXTLSTM_DATA_DIR, else $XDG_CACHE_HOME/textlstm, else ~/.cache/textlstm.
    TEXTLSTM_DATA_MIRROR=URL fetches URL/NAME/FILE instead of the official host.
    """


@data_command.command("list")
def list_command():
    """List the corpora: name, download size, licence, whether it is downloaded here, what it is."""
    from textlstm.datasets import CORPORA, data_dir, is_cached
    from textlstm.errors import format_bytes

    rows = [("name", "download", "licence", "cached", "what it is")]
    for entry in CORPORA:
        size = ("~" if entry.approx_download_bytes else "") + format_bytes(entry.download_bytes)
        rows.append((entry.name, size, entry.licence, "yes" if is_cached(entry.name) else "no", entry.title))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[4])
    click.echo(f"cache: {data_dir()}")


@data_command.command("download")
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
def download_command(names):
    """Download the corpora NAME... (see `textlstm data list`) into the cache, unless already there.

    Prints each corpus's licence terms first. Every file is checked against its pinned SHA-256 before it is
    kept; an interrupted download is resumed by running the same command again."""
    from textlstm.cli import on_interrupt
    from textlstm.datasets import corpus, download
    from textlstm.errors import Interrupted

    for name in names:
        corpus(name)  # every name is checked before anything is fetched
    on_interrupt(lambda: Interrupted("interrupted; run the same command again to resume the download"))
    for name in names:
        download(name, echo=click.echo, progress=_progress_printer())


@data_command.command("path")
@click.argument("name")
def path_command(name):
    """Print the folder of the downloaded corpus NAME (one error line when it is not downloaded)."""
    from textlstm.datasets import path

    click.echo(str(path(name)))


def _progress_printer():
    """A progress callback that rewrites one line on a terminal's stderr (every 1%), silent otherwise."""
    if not sys.stderr.isatty():
        return None
    last = [-1]

    def show(done: int, total: int | None):
        from textlstm.errors import format_bytes

        step = done * 100 // total if total else done >> 24  # per cent, or every 16 MiB
        if step != last[0]:
            last[0] = step
            shown = f"{step}% of {format_bytes(total)}" if total else format_bytes(done)
            click.echo(f"\r    {shown}   ", err=True, nl=bool(total and done >= total))

    return show
