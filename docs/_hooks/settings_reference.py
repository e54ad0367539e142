"""MkDocs hook: the recipe-settings reference, generated from textlstm's declarations.

A page containing the line `<!-- textlstm:settings -->` gets, in its place, one table per
model family listing every recipe key with its default, its allowed values and its meaning,
read from `textlstm.schema` (the one declaration recipes, `--set`, options, the Python API and
the server all check against), so the reference cannot drift from the code.
"""

MARKER = "<!-- textlstm:settings -->"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(value):
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`[" + ", ".join(f'"{item}"' if isinstance(item, str) else str(item) for item in value) + "]`"
    return f"`{value}`"


def _rows(kind):
    """(key, default, allowed values, meaning) for every recipe key of `kind`."""
    import importlib

    from textlstm import schema

    defaults = importlib.import_module(f"textlstm.{kind}.model").DEFAULTS
    for section, table in defaults.items():
        for key, default in table.items():
            name = f"{section}.{key}"
            spec = schema.SCHEMAS[kind].get(name)
            yield name, default, spec.describe() if spec else "", ""


def settings_tables():
    """Markdown: a section per family with a row per recipe key (key, default, allowed, meaning)."""
    from textlstm import families, schema

    parts = []
    for kind in families.KINDS:
        title = families.family(kind).title
        parts.append(f"## {kind} ({title})\n")
        parts.append("| key | default | allowed values | meaning |\n|---|---|---|---|")
        for name, default, allowed, meaning in _rows(kind):
            parts.append(f"| `{name}` | {_default(default)} | {_cell(allowed)} | {_cell(meaning)} |")
        parts.append("")
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    if MARKER in markdown:
        return markdown.replace(MARKER, settings_tables())
    return markdown
