"""The registry of model families: exactly three, `textlstm.load` returns each family's class,
the class owns summary and export, and no module outside the registry and the family packages
switches on a kind string (a source scan, so the switches do not come back)."""

import ast
import json
from pathlib import Path

import pytest

import textlstm
import textlstm.export
from support.runs import tiny_run
from textlstm import families

PACKAGE = Path(textlstm.__file__).resolve().parent
FAMILY_PACKAGES = ("charlm", "tagger", "seq2seq")  # each family's own code may name its kind
# Not converted yet (owned by other work): each entry names what still switches there.
NOT_YET = {
    "schema.py": "SCHEMAS by kind; the n_best <= beam_size rule for seq2seq",
    "settings.py": "FAMILIES: each family's declared settings (and the tagger's key model.charlm)",
}


@pytest.fixture(scope="module", params=families.KINDS)
def loaded(request, tmp_path_factory):
    return request.param, textlstm.load(tiny_run(tmp_path_factory, request.param))


def test_the_registry_lists_exactly_the_three_families():
    assert families.KINDS == (families.CHARLM, families.TAGGER, families.SEQ2SEQ) == ("charlm", "tagger", "seq2seq")
    assert [cls.__name__ for cls in families.model_classes().values()] == ["CharLM", "Tagger", "Translator"]
    for kind, cls in families.model_classes().items():
        assert cls.kind == kind and families.family(kind).kind == kind
        assert cls.endpoint in ("generate", "tag", "translate")
    assert len({cls.endpoint for cls in families.model_classes().values()}) == 3
    with pytest.raises(textlstm.TextlstmError, match="unknown model family 'demo'"):
        families.family("demo")


def test_registry_fields_feed_run_artefacts_keras_registration_and_memory():
    from textlstm import _registry, memory, rundir

    assert set(families.artefacts()) <= set(rundir.RUN_ARTEFACTS)
    assert {"vocab.json", "tagset.json", "source.model", "charlm"} <= set(rundir.RUN_ARTEFACTS)
    assert set(families.keras_modules()) <= set(_registry.modules())
    assert families.memory_estimate(families.CHARLM) is memory.charlm_bytes
    assert families.family(families.SEQ2SEQ).long_title == "translator (seq2seq)"
    assert families.family(families.CHARLM).long_title == "char LM"


def test_load_returns_the_registry_class_and_summary_comes_from_it(loaded, tmp_path_factory):
    kind, model = loaded
    assert type(model) is families.model_class(kind)
    summary = model.summary()
    json.dumps(summary)  # plain JSON values
    state = json.loads((model.run_dir / "state.json").read_text())
    assert summary["kind"] == kind and summary["run_dir"] == str(model.run_dir)
    assert summary["parameters"] == model.model.count_params() > 0
    assert summary["epochs"] == state["epoch"] and summary["step"] == state["step"] > 0
    assert summary["best"] == state["best"] and summary["dev_metric"].startswith("val_")
    assert summary["vocab_sizes"] and all(size > 1 for size in summary["vocab_sizes"].values())
    shown = set(type(model).highlights)
    if kind == families.TAGGER:  # this tiny tagger was trained on a CoNLL column file: no CoNLL-U column
        shown.discard("data.column")
    assert set(summary["recipe"]) == shown
    assert summary["quantize"] is None
    assert summary["recipe"]["model.units"] == model.recipe["model"]["units"]


def test_export_goes_through_the_class(loaded, tmp_path):
    kind, model = loaded
    cls, calls = type(model), []
    original = cls.export

    def spy(self, out_dir, format="saved_model", **options):
        calls.append(format)
        return original(self, out_dir, format, **options)

    cls.export = spy
    try:
        written = textlstm.export.export(model.run_dir, tmp_path / "out")  # what `textlstm export` calls
    finally:
        cls.export = original
    assert calls == ["saved_model"] and written.startswith("signature")
    info = json.loads((tmp_path / "out" / "assets" / "textlstm_export.json").read_text())
    assert info["kind"] == kind


# --- the source scan: nothing outside the registry and the family packages switches on a kind --


def _names_a_kind(node):
    """A kind string literal, or a registry constant (CHARLM, families.TAGGER, ...)."""
    if isinstance(node, ast.Constant):
        return node.value in families.KINDS
    if isinstance(node, ast.Name):
        return node.id in ("CHARLM", "TAGGER", "SEQ2SEQ")
    if isinstance(node, ast.Attribute):
        return node.attr in ("CHARLM", "TAGGER", "SEQ2SEQ")
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_names_a_kind(element) for element in node.elts)
    return False


def _switches(path):
    """`(line, what)` for each comparison with a kind and each table keyed or valued by kinds."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare) and any(_names_a_kind(side) for side in [node.left, *node.comparators]):
            found.append((node.lineno, "compares a kind"))
        elif isinstance(node, ast.Dict) and any(
            key is not None and _names_a_kind(key) or _names_a_kind(value) for key, value in zip(node.keys, node.values)
        ):
            found.append((node.lineno, "a table by kind"))
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and _names_a_kind(node.value):
            found.append((node.lineno, "defines a kind"))
    return sorted(found)


def test_no_module_outside_the_registry_and_family_packages_switches_on_the_kind():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "families.py" or relative.split("/")[0] in FAMILY_PACKAGES or relative in NOT_YET:
            continue
        offenders += [f"textlstm/{relative}:{line}: {what}" for line, what in _switches(path)]
    assert not offenders, "switch through textlstm.families instead:\n" + "\n".join(offenders)


def test_a_kind_is_defined_only_in_the_registry():
    definitions = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "families.py" and path.parent == PACKAGE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(target, ast.Name) and target.id.lower() == "kind" for target in node.targets)
                and isinstance(node.value, ast.Constant)
                and node.value.value in families.KINDS
            ):
                definitions.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not definitions, definitions


def test_the_scan_finds_a_switch(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('if kind == "tagger":\n    pass\nTABLE = {"charlm": 1}\nKIND = "seq2seq"\n')
    assert [what for _, what in _switches(sample)] == ["compares a kind", "a table by kind", "defines a kind"]
