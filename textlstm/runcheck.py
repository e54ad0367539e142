"""One check of a run directory's files against each other and against the schema, when it is opened.

Each file of a run is checked alone where it is read (valid JSON, a vocabulary of strings, a
whole `.keras` archive); this module checks what no single file can show, for every family:

- the saved recipe (`recipe.toml`) against the declarations of `textlstm.schema`, with the
  same `Spec`s that check a recipe file and `--set` (an edited `data.seq_len = 0` or
  `data.direction = "sideways"` is refused here, not as a ZeroDivisionError later);
- the sizes that the vocabularies give against the layer shapes recorded in each model file
  (`best.keras`, `last.keras`; an epoch checkpoint or a `--checkpoint PATH` file when it is loaded,
  `check_model_file`): for a char LM the characters of `vocab.json` (or the pieces of
  `subwords.model`) against the embedding's rows and the output layer's units, and the recipe's
  `model.embedding_dim`, `model.units` and `model.layers` (the tagger's char-LM features rebuild
  the LM from them); for a tagger the entries of `words.json` (and its `trainable_rows` and
  `vector_dim` with a vectors table), `chars.json` and `tags.json` against the word embedding,
  the character features, the tag scores and the CRF; for a translator the pieces of the
  source and target SentencePiece models against the model's vocabulary sizes.

`RunDir.open` calls `check_run`, so `textlstm.load`, every command that reads a run
(`generate`, `tag`, `translate`, `evaluate`, `export`, `serve`, `inspect`) and `--resume` pass
here. Shapes are read from each archive's `config.json` (no TensorFlow, no weights); a model
file that cannot be read is left to the loader, which names the damage. A run that passed is
remembered by the size and time of its files, so opening it again costs a few `stat` calls.
Every refusal is one `UserError` line naming the file, the field, what was expected and what
was found.
"""

import json
import os
import pathlib
import zipfile

from textlstm import families, schema
from textlstm.errors import UserError
from textlstm.recipes import load_recipe_file

RECIPE_FILE = "recipe.toml"
MODEL_FILES = ("best.keras", "last.keras")
WATCHED = (
    RECIPE_FILE,
    *MODEL_FILES,
    "vocab.json",
    "subwords.model",
    "words.json",
    "chars.json",
    "tags.json",
    "source.model",
    "target.model",
)  # a change to any of these checks the run again
COUNT = "count"  # a "setting" that counts numbered layers (rnn_0, rnn_1, ...)
_PASSED: dict = {}  # (real path, kind) -> the signature of its files when they passed


def check_run(path, kind: str):
    """Check the run directory `path` of `kind` ("charlm", "tagger", "seq2seq"); raises `UserError`."""
    path = pathlib.Path(path)
    key, signature = (os.path.realpath(path), kind), _signature(path)
    if _PASSED.get(key) == signature:
        return
    recipe = check_saved_recipe(path / RECIPE_FILE, kind)
    _check_models(path, kind, recipe, [path / name for name in MODEL_FILES])
    _PASSED[key] = signature


def check_model_file(path, kind: str, model_path):
    """Check one more model file of the run in `path` (an epoch checkpoint, or any `.keras` file given
    as `--checkpoint PATH`) as `check_run` checks `best.keras` and `last.keras`; raises `UserError`."""
    path = pathlib.Path(path)
    _check_models(path, kind, check_saved_recipe(path / RECIPE_FILE, kind), [pathlib.Path(model_path)])


def _check_models(path, kind, recipe, model_paths):
    """The layer shapes of each readable model file in `model_paths` against what the run's files say."""
    models = {model: layers for model in model_paths if (layers := model_layers(model)) is not None}
    if recipe is None or not models or kind not in families.KINDS:
        return
    for source, field, found, layer, setting in families.run_check(kind)(path, recipe):
        for model_path, layers in models.items():
            expected = _setting(layers, layer, setting)
            if expected is not None and found is not None and expected != found:
                where = (
                    f"its {layer.replace('*', '0')}, {layer.replace('*', '1')}, ... layers"
                    if setting == COUNT
                    else f"layer {layer!r}, {setting}"
                )
                raise UserError(
                    f"{source}: {field} is {found}, but the model {model_path} was built "
                    f"for {expected} ({where}); the run's files do not belong together"
                )


def _setting(layers: dict, layer: str, setting: str):
    """A layer's setting (None where the model has no such layer or setting), or with `COUNT` how
    many layers the names `layer` ("rnn_*") give for 0, 1, 2, ... (None if not even the first)."""
    if setting != COUNT:
        return layers.get(layer, {}).get(setting)
    count = 0
    while layer.replace("*", str(count)) in layers:
        count += 1
    return count or None


def _signature(path: pathlib.Path):
    found = []
    for name in WATCHED:
        try:
            stat = (path / name).stat()
            found.append((name, stat.st_size, stat.st_mtime_ns))
        except OSError:
            found.append((name, None, None))
    return tuple(found)


def check_saved_recipe(path: pathlib.Path, kind: str) -> dict | None:
    """The saved recipe, every declared value in it checked as `--set` checks it, and the rules
    that join two keys; None when the run has none (whoever reads it says so)."""
    if not path.is_file() or kind not in schema.SCHEMAS:
        return None
    recipe = load_recipe_file(path)
    source = f"saved recipe {path}"
    for section, table in recipe.items():
        if not isinstance(table, dict):
            raise UserError(f"{source}: {section!r} must be a [{section}] table, got {table!r}")
    for name, spec in schema.SCHEMAS[kind].items():
        section, key = name.split(".", 1)
        value = recipe.get(section, {}).get(key)
        if value is not None:
            recipe[section][key] = spec.check(name, value, source)
    try:
        schema.check_joint_rules(recipe, kind)
    except UserError as error:
        raise UserError(f"{source}: {error}") from None
    return recipe


def model_layers(path: pathlib.Path) -> dict | None:
    """{layer name: its config} of every layer (nested ones too; the first of a name wins) and of
    the model itself, from a `.keras` archive's config.json; None when it cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError, RuntimeError):
        return None
    layers: dict = {}
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            inner = item.get("config")
            if "class_name" in item and isinstance(inner, dict) and isinstance(inner.get("name"), str):
                layers.setdefault(inner["name"], dict(inner, class_name=item["class_name"]))
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return layers


# --- what each family's files say: (file, field, value, layer, layer setting) ---------------------


def charlm_files(path, recipe):
    from textlstm.charlm.corpus import VOCAB_FILE, CharVocabulary, is_subword

    if is_subword(recipe):
        from textlstm.charlm.subword import SUBWORD_FILE
        from textlstm.sentencepiece_models import load_processor

        source, field = path / SUBWORD_FILE, "the number of pieces"
        size = load_processor(source, path).get_piece_size()
    else:
        source, field = path / VOCAB_FILE, "the number of characters"
        size = len(CharVocabulary.load(source))
    model, recipe_file = recipe.get("model", {}), path / RECIPE_FILE
    facts = [
        (source, field, size, "embedding", "input_dim"),
        (source, field, size, "logits", "units"),
        (recipe_file, "model.embedding_dim", model.get("embedding_dim"), "embedding", "output_dim"),
    ]
    facts += [(recipe_file, "model.layers", model.get("layers"), "rnn_*", COUNT)]
    units = model.get("units")
    facts += [(recipe_file, "model.units", units, f"rnn_{i}", "units") for i in range(model.get("layers") or 0)]
    return facts


def tagger_files(path, recipe):
    from textlstm.tagger.vocab import CHARS_FILE, TAGS_FILE, WORDS_FILE, Vocabulary

    words, chars, tags = (Vocabulary.load(path / name) for name in (WORDS_FILE, CHARS_FILE, TAGS_FILE))
    words_file, chars_file, tags_file = path / WORDS_FILE, path / CHARS_FILE, path / TAGS_FILE
    return [
        (words_file, "the number of words", len(words), "word_embedding", "input_dim"),  # a plain Embedding
        (words_file, "the number of words", len(words), "word_embedding", "vocab_size"),  # with a vectors table
        (words_file, "trainable_rows", words.trainable_rows, "word_embedding", "trainable_rows"),
        (words_file, "vector_dim", words.vector_dim, "word_embedding", "vectors_dim"),
        (chars_file, "the number of characters", len(chars), "char_features", "vocab_size"),
        (tags_file, "the number of tags", len(tags), "tag_scores", "units"),
        (tags_file, "the number of tags", len(tags), "crf", "num_tags"),
    ]


def seq2seq_files(path, recipe):
    from textlstm.seq2seq.subwords import JOINT_FILE, SOURCE_FILE, TARGET_FILE, load_processor

    names = (JOINT_FILE, JOINT_FILE) if (path / JOINT_FILE).is_file() else (SOURCE_FILE, TARGET_FILE)
    sizes = [load_processor(path / name, path).get_piece_size() for name in dict.fromkeys(names)]
    source_size, target_size = sizes[0], sizes[-1]
    return [
        (path / names[0], "the number of pieces", source_size, "seq2seq", "source_vocab_size"),
        (path / names[1], "the number of pieces", target_size, "seq2seq", "target_vocab_size"),
    ]
