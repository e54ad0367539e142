"""`textlstm export`: SavedModels that run with TensorFlow alone and give textlstm's own results.

The three kinds are exported (the tagger and translator with random weights, so that their
outputs are varied rather than the constant answers of a barely trained model), then loaded
in one fresh Python process in which importing textlstm fails, and compared with textlstm.
"""

import json
import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import textlstm
from support.cli import assert_one_error_line, invoke
from support.runs import tiny_run
from textlstm.export.saved_model import TaggerModule, export_saved_model, scheme_table
from textlstm.tagger import schemes

PROMPTS = ["the ", "garden of the old river"]
TAGGER_SENTENCES = ["Anna sees the dog", "Oslo finds the old road Jr and Bob runs", "", "Acme", "zzz qqq"]
# for the tagger trained with word vectors: words only its vectors file has, in their own and
# upper case (found through the lowercase fallback), and words neither training nor the file has
VECTOR_SENTENCES = ["Anna sees berlin", "BERLIN London carol CAROL runs", "unread zzz Paris PARIS", "Berlin"]
SOURCES = ["alpha beta gamma", "zeta eta", "beta", "alpha alpha delta eps zeta theta"]

CLIENT = textwrap.dedent("""
    import importlib.abc, json, sys

    class NoTextlstm(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "textlstm" or name.startswith("textlstm."):
                raise ImportError("textlstm is blocked in this process")

    sys.meta_path.insert(0, NoTextlstm())
    try:
        import textlstm
        raise SystemExit("textlstm was importable")
    except ImportError:
        pass
    import sentencepiece as spm
    import tensorflow as tf

    job = json.load(open(sys.argv[1]))
    out = {}
    lm = tf.saved_model.load(job["charlm"]).signatures["generate"]
    out["signature"] = sorted(lm.structured_input_signature[1]) + sorted(lm.structured_outputs)
    out["charlm"] = []
    for prompts, seed in job["charlm_calls"]:
        result = lm(prompt=tf.constant(prompts), length=tf.constant(40), temperature=tf.constant(0.8),
                    seed=tf.constant(seed))
        out["charlm"].append([text.decode("utf-8") for text in result["text"].numpy()])
    tag = tf.saved_model.load(job["tagger"]).signatures["tag"]
    out["tagger"] = [t.decode() for t in tag(sentences=tf.constant(job["sentences"]))["tags"].numpy()]
    tag = tf.saved_model.load(job["tagger_vectors"]).signatures["tag"]
    out["tagger_vectors"] = [t.decode() for t in tag(sentences=tf.constant(job["vector_sentences"]))["tags"].numpy()]
    out["translator"] = {}
    for beam, path in job["translators"].items():
        translate = tf.saved_model.load(path).signatures["translate"]
        source_model = spm.SentencePieceProcessor(model_file=path + "/assets/" + job["source_model"])
        target_model = spm.SentencePieceProcessor(model_file=path + "/assets/" + job["target_model"])
        ids = [source_model.encode(line) for line in job["sources"]]
        width = max(len(row) for row in ids)
        batch = tf.constant([row + [0] * (width - len(row)) for row in ids], tf.int32)
        result = translate(source_ids=batch)
        out["translator"][beam] = [target_model.decode(row[:n].tolist()) for row, n in
                                   zip(result["target_ids"].numpy(), result["lengths"].numpy())]
    json.dump(out, open(sys.argv[2], "w"))
""")


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(0.0, 0.5, variable.shape).astype(np.float32))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    charlm_run = tiny_run(tmp_path_factory, "charlm")
    result = invoke("export", charlm_run, root / "charlm")  # the CLI path
    assert result.exit_code == 0, result.output
    lm = textlstm.load(charlm_run)
    tagger = textlstm.load(tiny_run(tmp_path_factory, "tagger"))
    _randomize(tagger.model, 1)
    export_saved_model(tagger, root / "tagger")
    tagger_vectors = textlstm.load(tiny_run(tmp_path_factory, "tagger-vectors"))
    _randomize(tagger_vectors.model, 4)
    export_saved_model(tagger_vectors, root / "tagger-vectors")
    translator = textlstm.load(tiny_run(tmp_path_factory, "seq2seq"))
    _randomize(translator.model, 2)
    for beam in (1, 4):
        export_saved_model(translator, root / f"translator-{beam}", beam_size=beam)
    models = sorted(path.name for path in translator.run_dir.glob("*.model"))
    job = {
        "charlm": str(root / "charlm"),
        "tagger": str(root / "tagger"),
        "sentences": TAGGER_SENTENCES,
        "tagger_vectors": str(root / "tagger-vectors"),
        "vector_sentences": VECTOR_SENTENCES,
        "charlm_calls": [[[PROMPTS[0]] * 2, 3], [PROMPTS, 2**31 - 5], [[""], 11]],
        "translators": {str(beam): str(root / f"translator-{beam}") for beam in (1, 4)},
        "sources": SOURCES,
        "source_model": models[0],
        "target_model": models[-1],
    }
    (root / "job.json").write_text(json.dumps(job))
    (root / "client.py").write_text(CLIENT)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    process = subprocess.run(
        [sys.executable, str(root / "client.py"), str(root / "job.json"), str(root / "out.json")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    return {
        "root": root,
        "lm": lm,
        "tagger": tagger,
        "tagger_vectors": tagger_vectors,
        "translator": translator,
        "out": json.loads((root / "out.json").read_text()),
    }


def test_char_lm_saved_model_gives_textlstm_text_for_the_same_seed(exported):
    lm, out = exported["lm"], exported["out"]
    assert out["signature"] == ["length", "prompt", "seed", "temperature", "text"]
    same = lm.generate(PROMPTS[0], 40, seed=3, sampler="temperature", temperature=0.8, num_samples=2)
    assert out["charlm"][0] == same
    # rows with different prompts in one batch: each row as textlstm gives it in a batch of two
    for row, prompt in enumerate(PROMPTS):
        assert (
            out["charlm"][1][row]
            == lm.generate(prompt, 40, seed=2**31 - 5, sampler="temperature", temperature=0.8, num_samples=2)[row]
        )
    assert out["charlm"][2] == lm.generate("", 40, seed=11, sampler="temperature", temperature=0.8)


@pytest.mark.parametrize(
    "length, temperature, fragment",
    [
        (40, 0.0, "temperature must be a finite number >= 0.001 and <= 1000"),
        (40, -1.0, "temperature must be"),
        (40, float("nan"), "temperature must be"),  # NaN once sampled the unknown entry
        (0, 0.8, "length must be an integer >= 1 and <= 10_000_000"),
        (2**31 - 1, 0.8, "length must be"),  # once allocated gigabytes
    ],
)
def test_char_lm_signature_refuses_what_textlstm_refuses(exported, length, temperature, fragment):
    generate = tf.saved_model.load(str(exported["root"] / "charlm")).signatures["generate"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=fragment):
        generate(
            prompt=tf.constant(["the "]),
            length=tf.constant(length),
            temperature=tf.constant(temperature),
            seed=tf.constant(3),
        )


def test_char_lm_signature_lengths_share_power_of_two_buffers(exported):
    generate = tf.saved_model.load(str(exported["root"] / "charlm")).signatures["generate"]
    for length in (1, 37, 64):
        text = (
            generate(
                prompt=tf.constant(["the "]),
                length=tf.constant(length),
                temperature=tf.constant(1.5),
                seed=tf.constant(7),
            )["text"]
            .numpy()[0]
            .decode("utf-8")
        )
        assert text == exported["lm"].generate("the ", length, seed=7, sampler="temperature", temperature=1.5)[0]


def test_translator_signature_gives_empty_outputs_for_an_empty_batch(exported):
    translate = tf.saved_model.load(str(exported["root"] / "translator-1")).signatures["translate"]
    for width in (0, 5):
        result = translate(source_ids=tf.zeros([0, width], tf.int32))
        assert result["target_ids"].shape[0] == 0 and result["lengths"].shape == (0,)
        assert result["scores"].shape == (0,)


def test_tagger_saved_model_gives_textlstm_tags(exported):
    expected = [" ".join(tags) for tags in exported["tagger"].tag(TAGGER_SENTENCES)]
    assert exported["out"]["tagger"] == expected
    assert len(set(" ".join(expected).split())) > 2  # varied tags, not one constant answer


def test_tagger_with_word_vectors_saved_model_looks_words_up_as_textlstm(exported):
    tagger = exported["tagger_vectors"]
    words = tagger.vocabs[0]
    assert words.index("BERLIN") == words.index("berlin") >= words.trainable_rows  # the cases the sentences test
    assert words.index("PARIS") == 1  # "paris" is neither a training word nor in the file: lowercase only
    expected = [" ".join(tags) for tags in tagger.tag(VECTOR_SENTENCES)]
    assert exported["out"]["tagger_vectors"] == expected
    assert len(set(" ".join(expected).split())) > 2
    # the graph's lookup gives Vocabulary.index's ids, token by token
    tokens = " ".join(VECTOR_SENTENCES).split() + ["Anna", "ANNA", "anna", "<unk>", "the", "THE"]
    graph_ids = TaggerModule(tagger).lookup_words(tf.constant(tokens)).numpy().tolist()
    assert graph_ids == words.encode(tokens)


def test_translator_saved_model_gives_textlstm_translations_at_beam_1_and_4(exported):
    for beam in (1, 4):
        assert exported["out"]["translator"][str(beam)] == exported["translator"].translate(SOURCES, beam_size=beam)


@pytest.mark.parametrize(
    "model_scheme, file_scheme", [("BIOES", "IOB2"), ("IOB2", "IOB1"), ("BIOES", "IOB1"), ("IOB2", "BIOES")]
)
def test_in_graph_scheme_table_equals_scheme_conversion(model_scheme, file_scheme):
    items = ["<pad>", "O"] + [f"{p}-{t}" for t in ("PER", "LOC") for p in "BIES"]
    tagset = {"entities": True, "model_scheme": model_scheme, "file_scheme": file_scheme}
    table = np.asarray(scheme_table(items, tagset), dtype=object).reshape(len(items) + 1, len(items) + 1, -1)
    rng = random.Random(0)
    for _ in range(300):
        ids = [rng.randrange(1, len(items)) for _ in range(rng.randint(1, 7))]
        padded = [len(items)] + ids + [len(items)]
        got = [table[padded[i - 1], padded[i], padded[i + 1]] for i in range(1, len(padded) - 1)]
        assert got == schemes.convert([items[i] for i in ids], model_scheme, file_scheme)


def test_export_refuses_a_non_empty_directory_that_is_not_an_export(exported, tmp_path_factory, tmp_path):
    charlm_run = tiny_run(tmp_path_factory, "charlm")
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    assert_one_error_line(invoke("export", charlm_run, target), "not a previous export")
    assert_one_error_line(invoke("export", charlm_run, target, "--overwrite"), "not a previous export")
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    assert_one_error_line(invoke("export", tmp_path / "nothing", tmp_path / "o2"), "does not exist")
    (target / "keep.txt").unlink()  # an empty directory is written into
    result = invoke("export", charlm_run, target)
    assert result.exit_code == 0, result.output
    assert (target / "saved_model.pb").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_beam_size_is_refused_for_a_run_that_is_no_translator(exported, tmp_path_factory, tmp_path):
    """As `evaluate` refuses it: named as the parameter in Python, as the option on the command line."""
    charlm_run = tiny_run(tmp_path_factory, "charlm")
    with pytest.raises(textlstm.TextlstmError, match=r"^beam_size is for translator \(seq2seq\) runs; .* char LM run"):
        exported["lm"].export(tmp_path / "py", beam_size=3)
    assert_one_error_line(
        invoke("export", charlm_run, tmp_path / "cli", "--beam-size", 3), "--beam-size is for translator"
    )
    assert not (tmp_path / "py").exists() and not (tmp_path / "cli").exists()


def test_exported_directory_has_mkdirs_permissions(exported):
    """A server often runs as another user: the export's directory is made with the mode a plain
    mkdir gives under the umask (0755 under 022), not the 0700 of a temporary directory."""
    from textlstm.rundir import DIRECTORY_MODE

    assert (exported["root"] / "charlm").stat().st_mode & 0o777 == DIRECTORY_MODE
