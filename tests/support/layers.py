"""Shared checks for recurrent layers: parity with Keras, and the layer round trip."""

import keras
import numpy as np
import tensorflow as tf

TOLERANCE = 1e-5


def expected_kernel(kernel, mask):
    """The kernel a layer forced to `kernel` runs on a batch of `mask` ([batch, time] bool or
    None): cuDNN takes right-padded masks with a valid step in each row; other batches run fused."""
    if kernel == "cudnn" and mask is not None:
        right_padded = np.arange(mask.shape[1])[None, :] < mask.sum(axis=1)[:, None]
        if not np.array_equal(mask, right_padded) or not mask.any(axis=1).all():
            return "fused"
    return kernel


def as_list(result):
    return list(result) if isinstance(result, (list, tuple)) else [result]


def assert_same_as_reference(ours, reference, x, mask=None, initial_state=None, tolerance=TOLERANCE):
    """Copy the reference's weights into ours; outputs, states and gradients must agree."""
    for layer in (ours, reference):
        if not layer.built:
            layer.build(x.shape)
    ours.set_weights(reference.get_weights())
    x = tf.constant(x)
    kwargs = {}
    if mask is not None:
        kwargs["mask"] = tf.constant(mask)
    if initial_state is not None:
        kwargs["initial_state"] = [tf.constant(s) for s in initial_state]
    results, gradients = [], []
    for layer in (ours, reference):
        watched = [x] + list(kwargs.get("initial_state", []))
        with tf.GradientTape() as tape:
            tape.watch(watched)
            outputs = as_list(layer(x, **kwargs))
            # A loss that weights every output element differently, so no error can cancel out.
            loss = sum(
                tf.reduce_sum(o * tf.sin(tf.reshape(tf.range(tf.size(o), dtype=o.dtype), o.shape))) for o in outputs
            )
        results.append([np.asarray(o) for o in outputs])
        gradients.append([np.asarray(g) for g in tape.gradient(loss, watched + layer.trainable_weights)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=tolerance, rtol=tolerance)
    for a, b in zip(*gradients):
        np.testing.assert_allclose(a, b, atol=tolerance, rtol=tolerance)
    return results[0]


def assert_layer_round_trip(make_layer, x, tmp_path):
    """Config round trip, `.keras` save/load with safe_mode, and one training step."""
    layer = make_layer()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config

    model = keras.Sequential([keras.Input(x.shape[1:]), layer, keras.layers.Dense(3)])
    before = np.asarray(model(x))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x)), before, atol=1e-6)
    assert type(loaded.layers[0]) is type(layer)

    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    targets = np.ones((x.shape[0], 3), dtype="float32")
    losses = [model.train_on_batch(x, targets) for _ in range(5)]
    assert losses[-1] < losses[0]


def assert_default_kernel_equals_fused(make_layer, x, mask, default_kernel):
    """The layer runs `default_kernel` when left to choose (cuDNN on a GPU, fused on a CPU)
    and gives the fused loop's outputs and states to 1e-5."""
    from textlstm.layers import force_kernel

    layer = make_layer(return_sequences=True, return_state=True)
    default = [np.asarray(t) for t in layer(x, mask=mask)]
    assert layer.kernel_used == default_kernel
    with force_kernel("fused"):
        fused = [np.asarray(t) for t in layer(x, mask=mask)]
    assert layer.kernel_used == "fused"
    for a, b in zip(default, fused):
        np.testing.assert_allclose(a, b, atol=TOLERANCE)


def assert_recurrent_dropout_acts(make_layer, x):
    """Recurrent dropout alone (input dropout 0) runs the portable kernel and changes the
    training output from the second step on (the first step has h0 = 0, nothing to drop)."""
    layer = make_layer(recurrent_dropout=0.5, seed=1, return_sequences=True)
    training = np.asarray(layer(x, training=True))
    inference = np.asarray(layer(x, training=False))
    assert layer.kernel_used == "portable"
    np.testing.assert_allclose(training[:, 0], inference[:, 0], atol=1e-6)
    assert not np.allclose(training[:, 1:], inference[:, 1:], atol=1e-3)


def masked_stack(make_layer, steps, features, units):
    """`Masking`, then `keras.layers.Bidirectional(make_layer(units, return_sequences=True))`, then
    `make_layer(units)`: a stack that carries a mask through both kinds of recurrent layer."""
    return keras.Sequential(
        [
            keras.Input((steps, features)),
            keras.layers.Masking(0.0),
            keras.layers.Bidirectional(make_layer(units, return_sequences=True)),
            make_layer(units),
        ]
    )
