"""Our LSTM and GRU under Keras's mixed-precision policies, against Keras's layers under the same policy.

Under `mixed_bfloat16` (and `mixed_float16`) weights stay float32 and the layers compute in the
low precision, so ours and Keras's round differently and cannot agree to 1e-5 as in float32
(test_layer_parity.py). The tolerance is stated in units of the compute dtype's unit roundoff u
(2^-8 for bfloat16, 2^-11 for float16), relative to each tensor's largest magnitude:

- parity: |ours - keras| <= 16 u · max|keras| for every output, state and gradient. Measured on
  these sizes (every case below, both policies), each of the two layers is 2 to 6 u away from
  the float32 answer after 7 steps and they differ by at most 5 u; two independent errors of
  6 u can differ by 12 u, so 16 u (6.25% for bfloat16) leaves room for rounding alone and
  still fails on any real fault (a wrong gate, mask or state is off by the tensor's own size);
- accuracy: ours is no further from the float32 answer than 2 × Keras's distance + 2 u, so
  ours may not be systematically worse than Keras's at the same precision.

Dtypes must be Keras's exactly: outputs and states in the compute dtype, weights and their
gradients float32. Every test sets Keras's global policy through the `policy` fixture, which
restores float32 afterwards.
"""

import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from support.layers import as_list, assert_layer_round_trip
from textlstm import precision as precision_lib
from textlstm.layers import GRU, LSTM, Bidirectional, force_kernel

RNG = np.random.default_rng(5)
BATCH, STEPS, FEATURES, UNITS = 5, 7, 3, 8
X = RNG.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
MASKS = {
    "none": None,
    "left": np.arange(STEPS)[None, ::-1] < np.array([7, 5, 1, 7, 3])[:, None],
    "holes": np.array([[1, 0, 1, 1, 0, 1, 1]] * 2 + [[0, 1, 1, 0, 1, 0, 0]] * 3, dtype=bool),
}
KINDS = {"LSTM": (LSTM, keras.layers.LSTM), "GRU": (GRU, keras.layers.GRU)}
UNIT_ROUNDOFF = {"mixed_bfloat16": 2.0**-8, "mixed_float16": 2.0**-11}
COMPUTE = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


@pytest.fixture(params=["mixed_bfloat16", "mixed_float16"])
def policy(request):
    """Keras's global dtype policy set to the parameter for one test, float32 again afterwards."""
    keras.mixed_precision.set_global_policy(request.param)
    try:
        yield request.param
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.fixture
def bfloat16():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        yield "mixed_bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _run(layer, x, mask=None, kernel=None, training=None):
    """`(outputs, gradients)` as float32 arrays, and the output dtypes. The loss weights every
    output element differently, so no error can cancel out."""
    x = tf.constant(x)
    kwargs = {} if mask is None else {"mask": tf.constant(mask)}
    if training is not None:
        kwargs["training"] = training
    with tf.GradientTape() as tape:
        tape.watch(x)
        if kernel is None:
            outputs = as_list(layer(x, **kwargs))
        else:
            with force_kernel(kernel):
                outputs = as_list(layer(x, **kwargs))
        loss = sum(
            tf.reduce_sum(tf.cast(o, "float32") * tf.sin(tf.reshape(tf.range(tf.size(o), dtype="float32"), o.shape)))
            for o in outputs
        )
    gradients = tape.gradient(loss, [x] + layer.trainable_weights)
    return (
        [np.asarray(tf.cast(o, "float32")) for o in outputs],
        [np.asarray(g) for g in gradients],
        [o.dtype.name for o in outputs],
        [g.dtype.name for g in gradients],
    )


def _error(got, want):
    """The largest |got - want| relative to the largest |want|, over a list of tensors."""
    return max(float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)) for a, b in zip(got, want, strict=True))


def assert_matches_keras(make_ours, make_keras, policy, mask=None, kernel=None):
    """Ours vs Keras's under the global `policy` (same weights): dtypes equal, parity within 16 u,
    and ours no further than Keras from the float32 answer (2 x Keras's error + 2 u)."""
    ours, reference = make_ours(), make_keras()
    for layer in (ours, reference):
        layer.build(X.shape)
    ours.set_weights(reference.get_weights())
    keras.mixed_precision.set_global_policy("float32")
    exact = make_keras()
    exact.build(X.shape)
    exact.set_weights(reference.get_weights())
    keras.mixed_precision.set_global_policy(policy)
    got, want, truth = _run(ours, X, mask, kernel), _run(reference, X, mask), _run(exact, X, mask)
    assert got[2] == want[2] and set(got[2]) == {COMPUTE[policy]}, (got[2], want[2])
    assert got[3] == want[3] and set(got[3]) == {"float32"}, (got[3], want[3])
    u = UNIT_ROUNDOFF[policy]
    for name, index in (("outputs", 0), ("gradients", 1)):
        parity = _error(got[index], want[index])
        assert parity <= 16 * u, f"{name}: ours differ from Keras's by {parity:.3g} (16 u = {16 * u:.3g})"
        ours_error, keras_error = _error(got[index], truth[index]), _error(want[index], truth[index])
        assert ours_error <= 2 * keras_error + 2 * u, (
            f"{name}: ours {ours_error:.3g} from float32, Keras's {keras_error:.3g} (u = {u:.3g})"
        )
    return ours


@pytest.mark.parametrize("kernel", ["fused", "portable"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mask", MASKS, ids=str)
def test_layers_match_keras_under_the_policy(policy, kind, kernel, mask):
    ours_cls, keras_cls = KINDS[kind]
    options = dict(return_sequences=True, return_state=True, go_backwards=mask == "holes")
    ours = assert_matches_keras(
        lambda: ours_cls(UNITS, **options),
        lambda: keras_cls(UNITS, use_cudnn=False, **options),
        policy,
        MASKS[mask],
        kernel,
    )
    assert ours.kernel_used == kernel
    assert ours.cell.kernel.dtype == "float32" and ours.compute_dtype == COMPUTE[policy]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mask", ["none", "left"])
def test_the_fused_graph_loop_and_its_overlapped_inference_under_bfloat16(bfloat16, kind, mask, monkeypatch):
    """The form the fused kernel takes for large layers (graph loop; inference projecting one
    step ahead, overlap.py) computes in bfloat16 like the compiled one."""
    from textlstm.layers import fused_lstm, gru, lstm

    monkeypatch.setattr(fused_lstm, "COMPILED_LOOP_MAX_STEP_MACS", 0)
    for module in (lstm, gru):
        monkeypatch.setattr(module, "worth_overlapping", lambda: True)
    ours_cls, keras_cls = KINDS[kind]
    options = dict(return_sequences=True, return_state=True)
    assert_matches_keras(
        lambda: ours_cls(UNITS, **options),
        lambda: keras_cls(UNITS, use_cudnn=False, **options),
        bfloat16,
        MASKS[mask],
        "fused",
    )


@pytest.mark.parametrize("wrapper", [Bidirectional, keras.layers.Bidirectional], ids=["ours", "keras"])
@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_with_masks_matches_keras(bfloat16, kind, wrapper):
    ours_cls, keras_cls = KINDS[kind]
    options = dict(return_sequences=True, return_state=True)
    assert_matches_keras(
        lambda: wrapper(ours_cls(UNITS, **options)),
        lambda: keras.layers.Bidirectional(keras_cls(UNITS, use_cudnn=False, **options)),
        bfloat16,
        MASKS["left"],
        "fused",
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_policy_given_to_one_layer_gives_keras_dtypes(kind):
    """`dtype=` on the layer (no global policy), and on a Bidirectional wrapper: Keras's dtypes."""
    ours_cls, keras_cls = KINDS[kind]
    for make in (
        lambda cls: cls(UNITS, return_state=True, dtype="mixed_bfloat16"),
        lambda cls: keras.layers.Bidirectional(cls(UNITS, return_state=True), dtype="mixed_bfloat16"),
        lambda cls: Bidirectional(cls(UNITS, return_state=True, dtype="mixed_bfloat16")),
    ):
        ours, theirs = make(ours_cls), make(keras_cls)
        assert [o.dtype for o in ours(X)] == [o.dtype for o in theirs(X)]
        assert {w.dtype for w in ours.weights} == {w.dtype for w in theirs.weights} == {"float32"}


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_under_bfloat16_trains_in_bfloat16(bfloat16, kind):
    """Input dropout (fused kernel) and recurrent dropout (portable) act, in bfloat16, with float32
    weight gradients; Keras draws other masks, so only dtypes and effect are compared."""
    ours_cls, keras_cls = KINDS[kind]
    for options, kernel in ((dict(dropout=0.5), "fused"), (dict(recurrent_dropout=0.5), "portable")):
        layer = ours_cls(UNITS, return_sequences=True, seed=3, **options)
        outputs, gradients, dtypes, gradient_dtypes = _run(layer, X, kernel=kernel, training=True)
        assert layer.kernel_used == kernel
        reference = keras_cls(UNITS, return_sequences=True, seed=3, **options)
        assert dtypes == [o.dtype for o in as_list(reference(X, training=True))] == ["bfloat16"]
        assert set(gradient_dtypes) == {"float32"} and all(np.isfinite(g).all() for g in gradients)
        assert not np.allclose(outputs[0], np.asarray(tf.cast(layer(X, training=False), "float32")), atol=1e-2)


@pytest.mark.parametrize("kind", KINDS)
def test_stateful_layers_carry_states_like_keras(bfloat16, kind):
    ours_cls, keras_cls = KINDS[kind]
    ours, theirs = (
        ours_cls(UNITS, stateful=True, return_sequences=True),
        keras_cls(UNITS, stateful=True, return_sequences=True),
    )
    for layer in (ours, theirs):
        layer.build(X.shape)
    ours.set_weights(theirs.get_weights())
    for mask in (MASKS["left"], None):
        got, want = ours(X, mask=mask), theirs(X, mask=mask)
        assert got.dtype == want.dtype == "bfloat16"
        np.testing.assert_allclose(
            np.asarray(tf.cast(got, "float32")), np.asarray(tf.cast(want, "float32")), atol=16 * UNIT_ROUNDOFF[bfloat16]
        )
    assert [s.dtype for s in ours.states] == [s.dtype for s in theirs.states]
    for a, b in zip(ours.states, theirs.states, strict=True):
        np.testing.assert_allclose(
            np.asarray(tf.cast(a, "float32")), np.asarray(tf.cast(b, "float32")), atol=16 * UNIT_ROUNDOFF[bfloat16]
        )


@pytest.mark.parametrize("kind", KINDS)
def test_the_step_api_computes_in_the_policys_dtype(bfloat16, kind):
    """`cell.gate_values` called directly (how generation and inspection step) casts float32
    inputs, states and weights to bfloat16, and gives the layer's own steps, bit for bit where
    the layer steps the same cell (the portable kernel)."""
    ours_cls, _ = KINDS[kind]
    layer = ours_cls(UNITS, return_sequences=True)
    with force_kernel("portable"):
        sequence = np.asarray(tf.cast(layer(X), "float32"))
    cell = layer.cell
    states = [np.zeros((BATCH, UNITS), "float32")] * (2 if kind == "LSTM" else 1)
    gates = cell.gate_values(X[:, 0], states)
    assert {v.dtype for v in gates.values()} == {tf.bfloat16}
    np.testing.assert_array_equal(np.asarray(tf.cast(gates["h"], "float32")), sequence[:, 0])
    again = cell.gate_values(X[:, 1], cell.next_states(gates))  # bfloat16 states go straight in
    np.testing.assert_array_equal(np.asarray(tf.cast(again["h"], "float32")), sequence[:, 1])


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_and_training_under_the_policy(policy, kind, tmp_path):
    """Config, `.keras` save and load (the policy travels with each layer), a training step."""
    ours_cls, _ = KINDS[kind]
    assert_layer_round_trip(lambda: ours_cls(UNITS, return_sequences=False), X, tmp_path)
    model = keras.saving.load_model(tmp_path / "model.keras")
    keras.mixed_precision.set_global_policy("float32")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")  # in a float32 world: the saved policy holds
    assert reloaded.layers[0].dtype_policy.name == policy and reloaded.layers[0].cell.compute_dtype == COMPUTE[policy]
    np.testing.assert_array_equal(np.asarray(reloaded(X)), np.asarray(model(X)))


def _quantized(model):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.quantize("int8")
    return sorted({str(w.message) for w in caught if "quantize" in str(w.message)})


def test_quantize_under_mixed_bfloat16_quantizes_our_cells_where_keras_leaves_its_own(bfloat16):
    """`Model.quantize("int8")` quantizes the Dense layer in both models; Keras's LSTMCell is
    left in bfloat16 with a warning, ours becomes int8 (`textlstm.layers.int8`) and keeps computing
    in bfloat16, close to Keras's model."""
    ours, theirs = (
        keras.Sequential([keras.Input((STEPS, FEATURES)), layer_cls(UNITS), keras.layers.Dense(3)])
        for layer_cls in (LSTM, keras.layers.LSTM)
    )
    ours.set_weights(theirs.get_weights())
    ours_said, theirs_said = _quantized(ours), _quantized(theirs)
    assert any("LSTMCell" in line for line in theirs_said) and not any("LSTMCell" in line for line in ours_said)
    assert ours.layers[1].dtype_policy.name == theirs.layers[1].dtype_policy.name == "int8_from_mixed_bfloat16"
    assert ours.layers[0].cell.dtype_policy.name == "int8_from_mixed_bfloat16"
    assert ours.layers[0].cell.compute_dtype == "bfloat16"
    assert theirs.layers[0].cell.dtype_policy.name == "mixed_bfloat16"
    got, want = np.asarray(tf.cast(ours(X), "float32")), np.asarray(tf.cast(theirs(X), "float32"))
    assert np.abs(got - want).max() <= 0.05 * np.abs(want).max()


# --- the precision note --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, machine, expected",
    [
        ("fpu avx2 avx512f avx512_bf16", "x86_64", True),
        ("fpu amx_bf16 amx_tile", "x86_64", True),
        ("fpu avx2 avx512f", "x86_64", False),
        ("fp asimd bf16", "aarch64", None),
    ],
)
def test_bfloat16_instructions_are_read_from_cpuinfo(tmp_path, flags, machine, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n")
    assert precision_lib.cpu_has_bfloat16(cpuinfo, machine) is expected
    assert precision_lib.cpu_has_bfloat16(tmp_path / "absent", "x86_64") is None
    assert precision_lib.cpu_model(cpuinfo) == "Some CPU"


def test_the_note_says_when_reduced_precision_is_emulated():
    assert precision_lib.precision_note("float32", False, False) is None
    assert precision_lib.precision_note("mixed_bfloat16", False, True) is None
    assert precision_lib.precision_note("mixed_bfloat16", True, False) is None  # the GPU computes
    assert "no bfloat16 instructions" in precision_lib.precision_note("mixed_bfloat16", False, False)
    assert "emulated" in precision_lib.precision_note("mixed_bfloat16", False, False)
    assert "unknown" in precision_lib.precision_note("mixed_bfloat16", False, None)
    assert "float16 is emulated" in precision_lib.precision_note("mixed_float16", False, True)
    with pytest.raises(ValueError, match="precision='float64'"):
        precision_lib.policy("float64")


# --- the char LM's train.precision ----------------------------------------------------------------

TINY_LM = {"cell": "lstm", "layers": 2, "units": 16, "embedding_dim": 8, "dropout": 0.0, "input_dropout": 0.0}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_charlm_layers_take_the_precision_and_the_logits_stay_float32(cell):
    """Per-layer policies, no global one: the embedding and recurrent layers compute in bfloat16,
    the logits are float32, and the generator's steps give the model's own logits."""
    from textlstm.charlm.model import CharStepper, build_model

    model = build_model(11, {**TINY_LM, "cell": cell}, seed=1, precision="mixed_bfloat16")
    assert keras.mixed_precision.global_policy().name == "float32"  # untouched
    assert [model.get_layer(n).dtype_policy.name for n in ("embedding", "rnn_0", "rnn_1", "logits")] == [
        "mixed_bfloat16"
    ] * 3 + ["float32"]
    ids = RNG.integers(0, 11, size=(3, 6)).astype("int32")
    logits = model(ids)
    assert logits.dtype == "float32" and {w.dtype for w in model.weights} == {"float32"}
    stepper = CharStepper(model)
    state = stepper.initial_state(3)
    assert {s.dtype for layer in state for s in layer} == {tf.bfloat16}
    for t in range(ids.shape[1]):
        step_logits, state = stepper(tf.constant(ids[:, t]), state)
        assert step_logits.dtype == tf.float32 and {s.dtype for layer in state for s in layer} == {tf.bfloat16}
        np.testing.assert_allclose(
            np.asarray(step_logits),
            np.asarray(logits[:, t]),
            atol=16 * UNIT_ROUNDOFF["mixed_bfloat16"] * float(np.abs(logits).max()),
        )


def test_inspect_records_a_bfloat16_char_lm():
    """`textlstm inspect`'s recording steps the cells in bfloat16 and hands back float32 arrays
    that follow the model's own hidden states."""
    from textlstm.charlm.states import hidden_state_model
    from textlstm.inspection.record import record_activations

    model = build_model_for_test("mixed_bfloat16")
    ids = RNG.integers(0, 11, size=9).astype("int32")
    recording = record_activations(model, ids, "x" * 9)
    top = recording.layers[-1]["h"]
    assert top.dtype == np.float32
    want = np.asarray(tf.cast(hidden_state_model(model)(ids[None]), "float32"))[0]
    np.testing.assert_allclose(top, want, atol=16 * UNIT_ROUNDOFF["mixed_bfloat16"] * np.abs(want).max())


def build_model_for_test(precision):
    from textlstm.charlm.model import build_model

    return build_model(11, TINY_LM, seed=1, precision=precision)


def test_charlm_float16_compiles_with_loss_scaling():
    from textlstm.charlm.model import DEFAULTS, build_model, compile_model

    for precision, scaled in (("float32", False), ("mixed_bfloat16", False), ("mixed_float16", True)):
        model = build_model(11, TINY_LM, seed=1, precision=precision)
        compile_model(model, {**DEFAULTS["train"], "precision": precision})
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) is scaled
        assert isinstance(model.optimizer.inner_optimizer if scaled else model.optimizer, keras.optimizers.Adam)
    ids = RNG.integers(0, 11, size=(4, 6)).astype("int32")
    losses = [float(model.train_on_batch(ids[:, :-1], ids[:, 1:])) for _ in range(5)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_train_precision_is_saved_with_the_run_and_used_by_generate(tmp_path, monkeypatch, capsys):
    """A tiny run at mixed_bfloat16: the note where the CPU lacks bfloat16 instructions, the key
    in the saved recipe, the policy in the saved model, and generate working from the run."""
    from textlstm.charlm import train as train_module
    from textlstm.charlm.generate import generate
    from textlstm.charlm.model import DEFAULTS
    from textlstm.recipes import resolve_recipe
    from textlstm.rundir import RunDir

    text = tmp_path / "corpus.txt"
    text.write_text("the quick brown fox jumps over the lazy dog.\n" * 40, encoding="utf-8")
    settings = {
        "data.paths": [str(text)],
        "data.seq_len": 12,
        "model.units": 12,
        "model.layers": 1,
        "model.embedding_dim": 8,
        "train.batch_size": 4,
        "train.steps_per_epoch": 3,
        "train.epochs": 1,
        "train.precision": "mixed_bfloat16",
        "train.strategy": "one-device",
    }
    recipe = resolve_recipe(DEFAULTS, None, [f"{key}={json.dumps(value)}" for key, value in settings.items()])
    monkeypatch.setattr(train_module.precision_lib, "cpu_has_bfloat16", lambda: False)
    monkeypatch.setattr(train_module, "gpu_available", lambda: False)
    run, _ = train_module.train_charlm(recipe, tmp_path / "run")
    assert "bfloat16 will be emulated and slower" in capsys.readouterr().out
    assert RunDir.open(tmp_path / "run", "charlm").read_recipe(DEFAULTS)["train"]["precision"] == "mixed_bfloat16"
    model = keras.saving.load_model(tmp_path / "run" / "last.keras", compile=False)
    assert model.get_layer("rnn_0").dtype_policy.name == "mixed_bfloat16"
    (sample,) = generate(tmp_path / "run", prompt="the ", length=20, seed=3)
    assert len(sample) == 20


def test_train_precision_is_declared():
    from textlstm.charlm.model import DEFAULTS
    from textlstm.errors import UserError
    from textlstm.schema import check_value

    assert DEFAULTS["train"]["precision"] == "float32"
    assert check_value("charlm", "train.precision", "mixed_bfloat16") == "mixed_bfloat16"
    with pytest.raises(UserError, match="train.precision must be one of float32, mixed_bfloat16, mixed_float16"):
        check_value("charlm", "train.precision", "bfloat16")
