"""ONNX export (optional extra `[onnx]`: tf2onnx and onnxruntime) of what ONNX can express.

- tagger: `tagger.onnx`, the network `(words int32 [B, L], chars int32 [B, L, W]) ->
  emissions float32 [B, L, T]` (ids from the run's words.json / chars.json, 0 = padding),
  plus `crf.json` with the CRF's transition, start and end scores for Viterbi decoding in
  the client (`textlstm.tagger.crf.viterbi_decode` does it in TensorFlow, any few lines of
  numpy do it elsewhere). A tagger trained with a vectors file holds their frozen table in
  the network; its words.json says `"lowercase_fallback": true`: a word not found is looked
  up lowercased before it becomes `<unk>` (id 1), as `Vocabulary.index` does.
- char LM: `charlm_step.onnx`, one step `(char_ids int32 [B], state_0 ... state_{n-1}
  float32 [B, units]) -> (logits [B, V], new states)`, the states in the order of
  `CharStepper.initial_state` flattened (per layer: h, then c for an LSTM), and `vocab.json`.
- translator: not exported; its decoder step takes a nested state and attention memory,
  and beam search is a loop with data-dependent stopping; the SavedModel covers it.

The recurrent layers are traced with the portable kernel (Keras's loop over our cell, a
`while` loop ONNX's `Loop` expresses); the fused CPU kernel is an XLA-compiled function with
a hand-written gradient that tf2onnx cannot convert. Both compute the same gate equations.

Reference: tf2onnx (`tf2onnx.convert.from_function`), ONNX opset 17.
"""

import contextlib
import copy
import json
import pathlib
import shutil
from unittest import mock

import tensorflow as tf

from textlstm.errors import TextlstmError

OPSET = 17


def _converter():
    try:
        import tf2onnx
    except ImportError:
        raise TextlstmError(
            "ONNX export needs the [onnx] extra: pip install 'textlstm[onnx]' (tf2onnx and onnxruntime)"
        ) from None
    return tf2onnx


@contextlib.contextmanager
def portable_kernels():
    """Trace recurrent layers with the portable loop, which ONNX can express."""
    from textlstm.layers import dispatch

    with mock.patch.object(dispatch, "kernel_plan", lambda layer: (dispatch.PORTABLE, ["ONNX export"])):
        yield


def charlm_step_function(lm):
    """`(function, input specs, state structure)` of the char LM's one-character step."""
    stepper = copy.copy(lm.stepper)
    stepper.first_projection = lm.stepper.first_projection.numpy()  # a constant of the graph
    state = stepper.initial_state(1)
    flat = tf.nest.flatten(state)
    specs = [tf.TensorSpec([None], tf.int32, name="char_ids")] + [
        tf.TensorSpec([None, s.shape[1]], tf.float32, name=f"state_{i}") for i, s in enumerate(flat)
    ]

    def step(char_ids, *states):
        logits, new_state = stepper(char_ids, tf.nest.pack_sequence_as(state, list(states)))
        return [logits] + tf.nest.flatten(new_state)

    return tf.function(step, input_signature=specs), specs


def tagger_function(tagger):
    specs = [
        tf.TensorSpec([None, None], tf.int32, name="words"),
        tf.TensorSpec([None, None, None], tf.int32, name="chars"),
    ]
    model = tagger.model
    return tf.function(lambda words, chars: model([words, chars], training=False), input_signature=specs), specs


def export_onnx(model, out_dir):
    """Write the ONNX files of a `textlstm.api` object into `out_dir`; returns what was written.

    The graph follows what the model does (its class's `endpoint`), not its family's name, so
    this module needs no import of the API classes."""
    tf2onnx = _converter()
    out_dir = pathlib.Path(out_dir)
    if model.endpoint == "generate":
        function, specs = charlm_step_function(model)
        name = "charlm_step.onnx"
        shutil.copy2(model.run_dir / "vocab.json", out_dir / "vocab.json")
    elif model.endpoint == "tag":
        function, specs = tagger_function(model)
        name = "tagger.onnx"
        crf = model.model.crf_layer()
        if crf is not None:
            weights = {
                key: tf.convert_to_tensor(w).numpy().tolist()
                for key, w in zip(("transitions", "start", "end"), crf._crf_weights())
            }
            (out_dir / "crf.json").write_text(json.dumps(weights), encoding="utf-8")
        for vocab in ("words.json", "chars.json", "tags.json", "tagset.json"):
            shutil.copy2(model.run_dir / vocab, out_dir / vocab)
    else:
        raise TextlstmError(
            "ONNX export covers the tagger and the char LM; export a translator as a "
            "SavedModel (--format saved_model): its beam search and nested decoder state "
            "do not convert"
        )
    with portable_kernels():
        tf2onnx.convert.from_function(function, input_signature=specs, opset=OPSET, output_path=str(out_dir / name))
    return name
