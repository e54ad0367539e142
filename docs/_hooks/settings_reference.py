"""MkDocs hook: the recipe-settings reference, generated from textlstm's declarations.

A page containing the line `<!-- textlstm:settings -->` gets, in its place, one table per
model family listing every recipe key with its default, its allowed values and its meaning,
read from `textlstm.schema.reference` (the declarations in `textlstm/settings.py`, which recipes,
`--set`, options, the Python API and the server all check against), so the reference cannot
drift from the code.
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


def settings_tables():
    """Markdown: a section per family with a row per recipe key (key, default, allowed, meaning)."""
    from textlstm import families, schema

    parts = []
    for kind in families.KINDS:
        title = families.family(kind).title
        parts.append(f"## {kind} ({title})\n")
        parts.append("| key | default | allowed values | meaning |\n|---|---|---|---|")
        for row in schema.reference(kind):
            parts.append(
                f"| `{row['key']}` | {_default(row['default'])} | {_cell(row['range'])} | {_cell(row['help'])} |"
            )
        parts.append("")
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    if MARKER in markdown:
        return markdown.replace(MARKER, settings_tables())
    return markdown
