"""int8 weight-only quantization of our recurrent layers, through Keras's own API
(`model.quantize`, `layer.quantize`, save and load), in the configurations users run."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from textlstm.layers import GRU, LSTM, Bidirectional, force_kernel

CASES = [
    pytest.param(LSTM, {}, id="lstm"),
    pytest.param(GRU, {}, id="gru"),
    pytest.param(GRU, {"reset_after": False}, id="gru-reset-before"),
]


def _inputs(batch=3, time=7, features=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, time, features)).astype("float32")
    mask = np.ones((batch, time), bool)
    mask[1, 5:] = False  # right padding
    mask[2, :2] = False  # left padding
    return x, mask


def _model(layer_class, settings, seed=0):
    """Embedding-free stack as users build it: a layer, a Bidirectional layer (masks, dropout on), Dense."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, 5))
    mask = keras.Input((None,), dtype="bool")
    h = layer_class(16, return_sequences=True, dropout=0.2, **settings)(inputs, mask=mask)
    h = Bidirectional(layer_class(8, return_sequences=True, **settings), name="birnn")(h, mask=mask)
    return keras.Model([inputs, mask], keras.layers.Dense(4)(h))


def _cells(model):
    found = []
    for layer in model._flatten_layers():
        if hasattr(layer, "recurrent_kernel_scale") or hasattr(layer, "_recurrent_kernel"):
            found.append(layer)
    return found


def _recurrent_part(model):
    """The model up to its Bidirectional layer (the Dense on top is Keras's own int8)."""
    return keras.Model(model.inputs, model.get_layer("birnn").output)


def _float_twin(model, layer_class, settings):
    """A float model whose cells hold exactly the dequantized int8 weights of `model`'s."""
    twin = _model(layer_class, settings, seed=1)
    for ours, theirs in zip(_cells(model), _cells(twin)):
        theirs._kernel.assign(np.asarray(ours.kernel))
        theirs._recurrent_kernel.assign(np.asarray(ours.recurrent_kernel))
        if ours.bias is not None:
            theirs.bias.assign(np.asarray(ours.bias))
    return twin


@pytest.mark.parametrize("layer_class, settings", CASES)
def test_model_quantize_stores_int8_matrices_and_computes_with_their_dequantized_values(layer_class, settings):
    model = _model(layer_class, settings)
    x, mask = _inputs()
    before = np.asarray(model([x, mask]))
    model.quantize("int8")
    cells = _cells(model)
    assert len(cells) == 3  # the layer's and both directions of the Bidirectional's
    for cell in cells:
        assert cell.dtype_policy.name == "int8_from_float32"
        assert cell._kernel.dtype == "int8" and cell._recurrent_kernel.dtype == "int8"
        assert not cell._kernel.trainable and cell.bias.trainable
        # per output column: the largest weight of each column is +-127
        assert np.all(np.abs(np.asarray(cell._recurrent_kernel)).max(axis=0) == 127)
    after = np.asarray(model([x, mask]))
    # int8 weights cost a little accuracy, not much
    assert np.abs(after - before).max() <= 0.03 * np.abs(before).max()
    # and the model computes exactly what a float model of the dequantized weights computes
    twin = _float_twin(model, layer_class, settings)
    np.testing.assert_allclose(
        np.asarray(_recurrent_part(model)([x, mask])), np.asarray(_recurrent_part(twin)([x, mask])), atol=2e-5
    )


@pytest.mark.parametrize("layer_class, settings", CASES)
def test_a_quantized_model_saves_and_loads_with_safe_mode(layer_class, settings, tmp_path):
    model = _model(layer_class, settings)
    model.quantize("int8")
    x, mask = _inputs()
    expected = np.asarray(model([x, mask]))
    path = tmp_path / "int8.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for cell in _cells(loaded):
        assert cell._kernel.dtype == "int8" and cell.quantization_mode == "int8"
    np.testing.assert_array_equal(np.asarray(loaded([x, mask])), expected)
    # and a model saved before quantizing still loads as float (the variable order is unchanged)
    float_model = _model(layer_class, settings)
    float_model.save(tmp_path / "float.keras")
    reloaded = keras.saving.load_model(tmp_path / "float.keras", safe_mode=True)
    assert all(cell.quantization_mode is None for cell in _cells(reloaded))


KERNEL_CASES = [  # the fused GRU needs reset_after=True: dispatch sends the others to the portable loop
    pytest.param(LSTM, {}, "fused", id="lstm-fused"),
    pytest.param(LSTM, {}, "portable", id="lstm-portable"),
    pytest.param(GRU, {}, "fused", id="gru-fused"),
    pytest.param(GRU, {}, "portable", id="gru-portable"),
    pytest.param(GRU, {"reset_after": False}, "portable", id="gru-reset-before-portable"),
]


@pytest.mark.parametrize("layer_class, settings, kernel", KERNEL_CASES)
def test_layer_quantize_gives_the_same_numbers_in_every_kernel(layer_class, settings, kernel):
    keras.utils.set_random_seed(3)
    x, mask = _inputs()
    layer = layer_class(12, return_sequences=True, return_state=True, **settings)
    layer.build(x.shape)
    layer.quantize("int8")
    assert layer.dtype_policy.name == "int8_from_float32" and layer.cell.quantization_mode == "int8"
    float_layer = layer_class(12, return_sequences=True, return_state=True, **settings)
    float_layer.build(x.shape)
    float_layer.cell._kernel.assign(np.asarray(layer.cell.kernel))
    float_layer.cell._recurrent_kernel.assign(np.asarray(layer.cell.recurrent_kernel))
    float_layer.cell.bias.assign(np.asarray(layer.cell.bias))
    with force_kernel(kernel):
        ours = [np.asarray(t) for t in layer(x, mask=mask)]
        assert layer.kernel_used == kernel
    reference = [np.asarray(t) for t in float_layer(x, mask=mask)]
    for a, b in zip(ours, reference):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("projected", [False, True])
@pytest.mark.parametrize("layer_class, settings", CASES)
def test_the_generation_step_of_an_int8_cell_reads_int8_and_matches_the_cell(layer_class, settings, projected):
    keras.utils.set_random_seed(4)
    layer = layer_class(16, **settings)
    layer.build((2, 1, 6))
    layer.quantize("int8")
    cell = layer.cell
    rng = np.random.default_rng(1)
    x = tf.constant(rng.standard_normal((2, 6)).astype("float32"))
    states = (
        [tf.constant(rng.standard_normal((2, 16)).astype("float32") * 0.5) for _ in cell.state_size]
        if isinstance(cell.state_size, (list, tuple))
        else [tf.constant(rng.standard_normal((2, 16)).astype("float32") * 0.5)]
    )
    weights = cell.step_weights(projected=projected)
    # the step reads the int8 matrices themselves
    assert {name for name in weights if name.endswith("kernel")} == (
        {"recurrent_kernel"} if projected else {"kernel", "recurrent_kernel"}
    )
    assert all(weights[name].dtype == tf.int8 for name in weights if name.endswith("kernel"))
    inputs = cell.input_projection(x) if projected else x
    stepped = cell.step(inputs, states, weights, projected=projected)
    expected = cell.gate_values(x, states)
    for name, value in expected.items():
        np.testing.assert_allclose(np.asarray(stepped[name]), np.asarray(value), atol=1e-5)


def test_other_quantization_modes_are_refused_and_model_quantize_warns_and_goes_on():
    model = _model(LSTM, {})
    with pytest.raises(NotImplementedError, match="int8 only"):
        model.layers[2].quantize("int4")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.quantize("int4")
    assert any("int8 only" in str(w.message) for w in caught)
    assert all(cell.quantization_mode is None for cell in _cells(model))
    assert model.layers[-1].quantization_mode == "int4"  # Keras's Dense did quantize


def test_quantizing_twice_is_keras_s_error():
    layer = LSTM(4)
    layer.build((1, 2, 3))
    layer.quantize("int8")
    with pytest.raises(ValueError, match="already quantized"):
        layer.quantize("int8")


def test_int8_under_mixed_bfloat16_computes_in_bfloat16(tmp_path):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = _model(LSTM, {})
        model.quantize("int8")
        x, mask = _inputs()
        out = model([x, mask])
        for cell in _cells(model):
            assert cell.dtype_policy.name == "int8_from_mixed_bfloat16"
            assert cell.compute_dtype == "bfloat16"
        model.save(tmp_path / "m.keras")
        loaded = keras.saving.load_model(tmp_path / "m.keras")
        np.testing.assert_array_equal(np.asarray(loaded([x, mask])), np.asarray(out))
    finally:
        keras.config.set_dtype_policy(previous)


def test_a_quantized_model_still_trains_its_biases():
    model = _model(LSTM, {})
    model.quantize("int8")
    cell = _cells(model)[0]
    kernel_before = np.asarray(cell._kernel).copy()
    bias_before = np.asarray(cell.bias).copy()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, mask = _inputs()
    model.fit([x, mask], np.ones((3, 7, 4), "float32"), epochs=1, verbose=0)
    np.testing.assert_array_equal(np.asarray(cell._kernel), kernel_before)
    assert not np.allclose(np.asarray(cell.bias), bias_before)
