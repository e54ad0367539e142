"""`textlstm export --format onnx` under onnxruntime: the tagger network and the char LM step
give TensorFlow's numbers (atol 1e-5). Skipped unless the `[onnx]` extra is installed."""

import json

import numpy as np
import tensorflow as tf

import textlstm
from support.cli import assert_one_error_line, invoke
from support.runs import tiny_run


def test_onnx_missing_extra_is_one_clear_error(tmp_path_factory, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tf2onnx(name, *args, **kwargs):
        if name == "tf2onnx":
            raise ImportError("blocked")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tf2onnx)
    run = tiny_run(tmp_path_factory, "charlm")
    assert_one_error_line(invoke("export", run, tmp_path / "out", "--format", "onnx"), "[onnx] extra")
    assert not (tmp_path / "out").exists()


def test_tagger_and_char_lm_step_match_tensorflow_under_onnxruntime(tmp_path_factory, tmp_path):
    import onnxruntime as ort  # the test extra installs the onnx extra: missing it fails, never skips

    _assert_tagger_onnx_parity(
        tiny_run(tmp_path_factory, "tagger"), tmp_path / "tagger", ort, ("Anna sees the dog", "Oslo finds Jr", "zzz")
    )
    assert set(json.loads((tmp_path / "tagger" / "crf.json").read_text())) == {"transitions", "start", "end"}

    charlm_run = tiny_run(tmp_path_factory, "charlm")
    result = invoke("export", charlm_run, tmp_path / "charlm", "--format", "onnx")
    assert result.exit_code == 0, result.output
    lm = textlstm.load(charlm_run)
    session = ort.InferenceSession(str(tmp_path / "charlm" / "charlm_step.onnx"))
    state = lm.stepper.initial_state(2)
    flat = [np.asarray(s) for s in tf.nest.flatten(state)]
    for ids in lm.vocab.encode("th"), lm.vocab.encode("e "):
        outputs = session.run(None, {"char_ids": ids.astype(np.int32), **{f"state_{i}": s for i, s in enumerate(flat)}})
        logits, state = lm.stepper(tf.constant(ids), state)
        np.testing.assert_allclose(outputs[0], logits.numpy(), atol=1e-5)
        flat = outputs[1:]
        for a, b in zip(flat, tf.nest.flatten(state)):
            np.testing.assert_allclose(a, b.numpy(), atol=1e-5)


def test_tagger_with_word_vectors_matches_tensorflow_under_onnxruntime(tmp_path_factory, tmp_path):
    import onnxruntime as ort  # the test extra installs the onnx extra: missing it fails, never skips

    words = _assert_tagger_onnx_parity(
        tiny_run(tmp_path_factory, "tagger-vectors"), tmp_path / "tagger", ort, ("Anna sees BERLIN", "carol London zzz")
    )
    assert words.lowercase_fallback and words.index("BERLIN") == words.index("berlin") >= words.trainable_rows


def _assert_tagger_onnx_parity(run, out, ort, texts):
    """Export `run` to ONNX in `out`; its emissions for `texts` (ids from the exported words.json,
    as a client reads them) equal the Keras model's. Returns that word vocabulary."""
    from textlstm.tagger import data as data_lib
    from textlstm.tagger.conll import Sentence
    from textlstm.tagger.vocab import Vocabulary

    result = invoke("export", run, out, "--format", "onnx")
    assert result.exit_code == 0, result.output
    tagger = textlstm.load(run)
    words = Vocabulary.load(out / "words.json")
    examples = data_lib.encode_sentences(
        [Sentence(tokens=t.split()) for t in texts], words, tagger.vocabs[1], None, 4, 20
    )
    (word_ids, chars), _ = data_lib.pad_batch(examples)
    got = ort.InferenceSession(str(out / "tagger.onnx")).run(None, {"words": word_ids, "chars": chars})[0]
    expected = tagger.model([tf.constant(word_ids), tf.constant(chars)], training=False).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    return words
