"""`textlstm.layers.Bidirectional`: Keras's wrapper, immune to Keras's id-keyed sharing while loading."""

import random

import keras
import numpy as np
import pytest

# Keras's object-sharing table, which `keras.saving.load_model` opens for the whole load; it has
# no public name, and this test exists to pin our wrapper's behaviour inside it.
from keras.src.saving.serialization_lib import ObjectSharingScope

import textlstm.layers as tl


def test_wrappers_built_while_a_model_loads_keep_their_own_layers():
    """CI once failed to load a tagger ("Forward layer and backward layer should have different
    `go_backwards` value"): a wrapper's layer freed while a load runs leaves its id to the next
    wrapper's layer, and Keras's sharing table then hands back the wrong object. Building many
    wrappers in a row inside the table's scope is that situation, many times over (with
    `keras.layers.Bidirectional` a few of 200 fail this way on CPython; ours never may)."""
    wrappers = []
    with ObjectSharingScope():
        for i in range(200):
            wrappers.append(tl.Bidirectional(tl.LSTM(2 + i % 3, return_sequences=True)))
    inner = [layer for w in wrappers for layer in (w.forward_layer, w.backward_layer)]
    assert len({id(layer) for layer in inner}) == len(inner)  # no layer shared between wrappers
    for i, wrapper in enumerate(wrappers):
        assert not wrapper.forward_layer.go_backwards and wrapper.backward_layer.go_backwards
        assert wrapper.forward_layer.units == wrapper.backward_layer.units == 2 + i % 3


@pytest.mark.parametrize("layer_class", [tl.LSTM, tl.GRU])
def test_same_weights_outputs_and_names_as_keras_bidirectional(layer_class):
    """From the same seed: the same initial weights and dropout draws, so the same model."""
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")
    mask = np.array([[1] * 5, [1] * 3 + [0] * 2, [1] + [0] * 4], bool)
    wrappers, next_draws = [], []
    for wrapper in (tl.Bidirectional, keras.layers.Bidirectional):
        keras.utils.set_random_seed(3)
        layer = layer_class(6, dropout=0.3, return_sequences=True, return_state=True, name="rnn")
        wrappers.append(wrapper(layer, name="bi"))
        wrappers[-1].build(x.shape)
        next_draws.append(random.random())  # Python's random is left where Keras's wrapper leaves it
    ours, theirs = wrappers
    assert next_draws[0] == next_draws[1]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert ours.forward_layer.name == theirs.forward_layer.name == "forward_rnn"
    assert ours.backward_layer.name == theirs.backward_layer.name == "backward_rnn"
    for training in (False, True):  # with dropout: the same masks
        for a, b in zip(ours(x, mask=mask, training=training), theirs(x, mask=mask, training=training)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_saved_model_loads_in_safe_mode_with_the_same_outputs(tmp_path):
    keras.utils.set_random_seed(4)
    inputs = keras.Input((None, 3))
    x = inputs
    for i in range(3):  # three wrappers in one load: the case Keras's sharing table can mix up
        x = tl.Bidirectional(tl.GRU(4, return_sequences=True), name=f"bi_{i}")(x)
    model = keras.Model(inputs, x)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert all(isinstance(loaded.get_layer(f"bi_{i}"), tl.Bidirectional) for i in range(3))
    data = np.random.default_rng(1).normal(size=(2, 6, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))


def test_a_layer_that_is_not_recurrent_is_refused_in_one_line():
    with pytest.raises(ValueError, match="^Bidirectional wraps a recurrent layer .*received Dense$"):
        tl.Bidirectional(keras.layers.Dense(3))
