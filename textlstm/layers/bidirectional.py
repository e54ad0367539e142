"""`Bidirectional`: Keras's wrapper, built so that loading a saved model cannot swap its layers.

Why it exists: `keras.layers.Bidirectional.__init__` serializes the layer it wraps (once for
the forward copy, and again for the backward copy when none is given). While a model loads,
Keras keeps an object-sharing table keyed by `id()` of every object serialized during the
load, and hands back an earlier object when a later one is serialized under the same id.
A wrapped layer that is freed right after the wrapper is built leaves its id free for the
next object Python allocates there; when that object is the next wrapper's layer, the
table hands back the earlier wrapper's backward layer, and loading fails with "Forward
layer and backward layer should have different `go_backwards` value" (or, worse, two
wrappers silently share one layer). This happens only when memory addresses happen to
repeat, which is why it was seen once in many test runs (a tagger with a character BiLSTM).

The remedy has two parts, and both are needed:
1. the backward layer is always built here, from the layer's own config, so the wrapper
   never serializes one object twice (no entry in Keras's sharing table at all);
2. the wrapper keeps the layer it was given alive as long as itself, so no later object
   can take that layer's id while the model that holds the wrapper is being loaded.

The layers draw the same random seeds as under Keras's wrapper (initializers and dropout
take theirs from Python's `random` when built without one, forward copy first), so a seeded
model starts from the same weights with either wrapper. Weights live under the same
attribute paths as in `keras.layers.Bidirectional` (`forward_layer`, `backward_layer`), so
they move between the two wrappers both ways; a file keeps the wrapper class it was saved with.
"""

import random

import keras


class _KeptAlive:
    """Holds one object without Keras tracking or saving it (neither a layer nor a container)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


@keras.saving.register_keras_serializable(package="textlstm")
class Bidirectional(keras.layers.Bidirectional):
    """`keras.layers.Bidirectional` that loads reliably from `.keras` files; same arguments and outputs.

    Args:
        layer: a recurrent layer (`textlstm.layers.LSTM`/`GRU` or Keras's) with
            `go_backwards=False`; it is copied for the forward direction.
        merge_mode: "concat" (default), "sum", "mul", "ave" or None, as in Keras.
        weights: optional initial weights, as in Keras.
        backward_layer: optional layer for the backward direction; by default a copy of
            `layer` with `go_backwards=True`, named `backward_<name>`.

    Call and output shapes are Keras's: inputs [B, T, D] (and an optional [B, T] mask);
    output [B, M] or, with `return_sequences`, [B, T, M], where M is 2U for "concat" and U
    for "sum", "mul" and "ave" (U: the wrapped layer's units); `merge_mode=None` returns the
    two directions' outputs as a list. With `return_state`, the forward layer's states
    follow the output, then the backward layer's (LSTM: h, c each; GRU: h).

    Raises:
        ValueError: `layer` is not a recurrent layer (it has no `go_backwards`), or as
            `keras.layers.Bidirectional` (mismatched directions or settings, bad merge_mode).

    Reference: Schuster and Paliwal (1997), "Bidirectional recurrent neural networks";
    Keras's `Bidirectional` for the merging and the state order.
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if isinstance(layer, keras.layers.Layer) and not hasattr(layer, "go_backwards"):
            raise ValueError(
                f"Bidirectional wraps a recurrent layer (one with go_backwards), received {type(layer).__name__}"
            )
        draws_after = None
        if backward_layer is None and isinstance(layer, keras.layers.Layer):
            backward_layer, draws_after = _backward_copy(layer)
        super().__init__(layer, merge_mode=merge_mode, weights=weights, backward_layer=backward_layer, **kwargs)
        if draws_after is not None:
            random.setstate(draws_after)
        self._wrapped_layer_kept_alive = _KeptAlive(layer)


def _backward_copy(layer):
    """A `go_backwards=True` copy of `layer` named `backward_<name>`, holding the seeds Keras's
    wrapper would give it (drawn after the forward copy's), and Python's `random` state after
    both copies. `random` is left where it was, so the wrapper's forward copy draws first."""
    config = layer.get_config()
    before = random.getstate()
    type(layer).from_config(dict(config))  # the forward copy's draws; the copy itself is dropped
    backward = type(layer).from_config(
        {**config, "go_backwards": True, "name": f"backward_{layer.name.removeprefix('backward_')}"}
    )
    after = random.getstate()
    random.setstate(before)
    return backward, after
