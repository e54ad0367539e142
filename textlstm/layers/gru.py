"""Gated Recurrent Unit: the one-step `GRUCell` and the sequence layer `GRU`.

Weights have exactly the layout of `keras.layers.GRU` (`kernel [in, 3u]`,
`recurrent_kernel [u, 3u]`, gates in the order update, reset, candidate; `bias [2, 3u]`
(input and recurrent) with `reset_after=True`, `[3u]` without), so weights copy both ways.
"""

import keras
import tensorflow as tf

from textlstm.layers import fused_gru
from textlstm.layers.base import DropoutCellMixin, RecurrentLayer, StepCellMixin, serialize_cell_settings
from textlstm.layers.fused_gru import INFERENCE_MAX_STEP_MACS, gru_recurrence
from textlstm.layers.fused_lstm import use_compiled_loop
from textlstm.layers.fusion import split_sum
from textlstm.layers.int8 import MATRICES, Int8CellMixin
from textlstm.layers.int8 import MODE as INT8
from textlstm.layers.overlap import gru_inference, worth_overlapping

_CELL_SETTINGS = (
    "units",
    "activation",
    "recurrent_activation",
    "use_bias",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "dropout",
    "recurrent_dropout",
    "reset_after",
    "seed",
)


@keras.saving.register_keras_serializable(package="textlstm")
class GRUCell(Int8CellMixin, StepCellMixin, DropoutCellMixin, keras.layers.Layer):
    """One GRU timestep, written from the gate equations.

    z = σ(x W_z + h U_z + b_z) (update), r = σ(x W_r + h U_r + b_r) (reset),
    h̃ = tanh(x W_h + r ⊙ (h U_h + b'_h)) with `reset_after=True` (the cuDNN form),
    or h̃ = tanh(x W_h + (r ⊙ h) U_h + b_h) with `reset_after=False`;
    h' = z ⊙ h + (1 − z) ⊙ h̃ (Keras's convention).

    Args:
        units: Size of the hidden state.
        activation: Activation of the candidate (default `"tanh"`).
        recurrent_activation: Activation of the gates (default `"sigmoid"`).
        use_bias: Whether the gates have biases (default `True`).
        kernel_initializer: Initializer of `kernel` (default `"glorot_uniform"`).
        recurrent_initializer: Initializer of `recurrent_kernel` (default `"orthogonal"`).
        bias_initializer: Initializer of `bias` (default `"zeros"`).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Regularizers
            (default `None`).
        kernel_constraint, recurrent_constraint, bias_constraint: Constraints
            (default `None`).
        dropout: Fraction of the inputs dropped in training (default 0).
        recurrent_dropout: Fraction of the previous state dropped in training (default 0).
        reset_after: Apply the reset gate after the recurrent matmul (default `True`).
        seed: Seed of the dropout masks (default `None`).

    Call arguments:
        inputs: `[batch, features]`.
        states: `[h]` or `h`, `[batch, units]`.
        training: Whether dropout applies.

    Example:

    >>> cell = GRUCell(8)
    >>> h, _ = cell(np.ones((2, 3)), [np.zeros((2, 8))])
    >>> h.shape
    (2, 8)

    Reference:
        Cho et al. (2014), "Learning Phrase Representations using RNN Encoder-Decoder
        for Statistical Machine Translation".
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        reset_after=True,
        seed=None,
        **kwargs,
    ):
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"Argument `units` must be a positive integer. Received: units={units!r}")
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.reset_after = reset_after
        self._init_dropout(dropout, recurrent_dropout, seed)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self._build_matrices((input_shape[-1], 3 * self.units), (self.units, 3 * self.units))
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(2, 3 * self.units) if self.reset_after else (3 * self.units,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def split_bias(self):
        """`(input_bias, recurrent_bias)`; either may be None."""
        if self.bias is None:
            return None, None
        if not self.reset_after:
            return self.bias, None
        return self.bias[0], self.bias[1]

    @property
    def input_bias(self):
        """The bias added to the input projection (None without bias)."""
        return self.split_bias()[0]

    def gate_values(self, inputs, states, training=False):
        """Every gate's activation for one step, for inspection.

        Returns a dict with `update` (z), `reset` (r), `candidate` (h̃) and `h`
        (new hidden state), each `[batch, units]` in the cell's compute dtype (bfloat16 under
        `mixed_bfloat16`), whatever the dtype of `inputs` and `states`.
        """
        if not self.built:  # read-out on a fresh cell, outside any layer call
            self.build(tuple(inputs.shape))
            self.built = True
        h = states[0] if isinstance(states, (list, tuple)) else states
        (inputs,) = self.in_compute_dtype(inputs)
        input_mask, recurrent_mask = self.dropout_masks(inputs, h, training)
        if input_mask is not None:
            inputs = inputs * input_mask
        return self.projected_gate_values(self.input_projection(inputs), states, recurrent_mask)

    def projected_gate_values(self, projected, states, recurrent_mask=None, product=None):
        """`gate_values` given the input projection `x W + b_input` (e.g. from a lookup table).

        `projected` may also be a list of terms that add up to it (`split_sum`). `product(h, start,
        stop)` gives `h @ recurrent_kernel[:, start:stop]` as a tensor or an int8 pair (default: with
        the cell's float view; a generation step passes one over its `step_weights`). Sums are
        taken after splitting into gates, which keeps XLA's matrix-vector products on their fast
        path (`split_sum`)."""
        h = states[0] if isinstance(states, (list, tuple)) else states
        terms = projected if isinstance(projected, list) else [projected]
        h, recurrent_bias, *terms = self.in_compute_dtype(h, self.split_bias()[1], *terms)
        if product is None:
            (recurrent_kernel,) = self.in_compute_dtype(self.recurrent_kernel)

            def product(v, start, stop):
                whole = (start, stop) == (0, recurrent_kernel.shape[-1])
                return keras.ops.matmul(v, recurrent_kernel if whole else recurrent_kernel[:, start:stop])

        h_dropped = h if recurrent_mask is None else h * keras.ops.cast(recurrent_mask, h.dtype)
        x_z, x_r, x_h = split_sum(terms, 3)
        units = self.units
        if self.reset_after:
            r_z, r_r, r_h = split_sum([product(h_dropped, 0, 3 * units), recurrent_bias], 3)
        else:
            r_z, r_r = split_sum([product(h_dropped, 0, 2 * units)], 2)
        update = self.recurrent_activation(x_z + r_z)
        reset = self.recurrent_activation(x_r + r_r)
        if self.reset_after:
            candidate = self.activation(x_h + reset * r_h)
        else:
            (r_h,) = split_sum([product(reset * h_dropped, 2 * units, 3 * units)], 1)
            candidate = self.activation(x_h + r_h)
        h_new = update * h + (1.0 - update) * candidate
        return {"update": update, "reset": reset, "candidate": candidate, "h": h_new}

    def step_weights(self, projected=False):
        """Empty for a float cell (`step` reads its variables); for an int8 cell its int8 matrices
        and scales (`recurrent_kernel`, and `kernel` unless the inputs come projected), which the
        step reads as stored (`Int8CellMixin.int8_product`)."""
        if self.quantization_mode != INT8:
            return {}
        return self.int8_step_weights(MATRICES[1:] if projected else MATRICES)

    def step(self, inputs, states, weights, projected=False):
        (inputs,) = self.in_compute_dtype(inputs)
        if not weights:  # float: the cell's own variables
            if not projected:
                inputs = [keras.ops.matmul(inputs, *self.in_compute_dtype(self.kernel)), self.input_bias]
            return self.projected_gate_values(inputs, states)
        if not projected:
            inputs = [self.int8_product(inputs, weights, "kernel"), self.input_bias]

        def product(v, start, stop):
            if (start, stop) == (0, 3 * self.units):
                return self.int8_product(v, weights, "recurrent_kernel")
            columns = {name: weights[name][..., start:stop] for name in ("recurrent_kernel", "recurrent_kernel_scale")}
            return self.int8_product(v, columns, "recurrent_kernel")

        return self.projected_gate_values(inputs, states, product=product)

    def next_states(self, gates):
        """The state list a step hands to the next one."""
        return [gates["h"]]

    def call(self, inputs, states, training=False):
        h = self.gate_values(inputs, states, training=training)["h"]
        return h, ([h] if isinstance(states, (list, tuple)) else h)

    def get_initial_state(self, batch_size=None):
        return [keras.ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        return {**super().get_config(), **serialize_cell_settings(self, _CELL_SETTINGS)}


@keras.saving.register_keras_serializable(package="textlstm")
class GRU(RecurrentLayer):
    """Gated Recurrent Unit layer over whole sequences, with cuDNN, fused and portable kernels.

    The kernel is chosen per call (see `textlstm.layers.dispatch`):

    1. cuDNN, when a GPU is visible, `use_cudnn` is not False, activation is tanh,
       recurrent_activation is sigmoid, recurrent_dropout is 0, unroll is False,
       use_bias is True and reset_after is True; a batch whose mask is not
       right-padded, or has a sequence without valid steps, runs through the
       fused loop instead.
    2. Otherwise textlstm's fused loop, when activation is tanh, recurrent_activation
       is sigmoid, recurrent_dropout is 0, unroll is False and reset_after is True.
    3. Otherwise the portable loop over `GRUCell`.

    `use_cudnn=True` raises a ValueError naming the reasons when cuDNN cannot run.
    The kernel of the last call is in `layer.kernel_used`; `textlstm.layers.force_kernel`
    picks one for the layers called inside it. All kernels give the same numbers.

    Args:
        units: Size of the hidden state.
        activation, recurrent_activation, use_bias, kernel_initializer,
        recurrent_initializer, bias_initializer, kernel_regularizer,
        recurrent_regularizer, bias_regularizer, kernel_constraint,
        recurrent_constraint, bias_constraint, dropout, recurrent_dropout,
        reset_after, seed: As in `GRUCell`, same defaults.
        activity_regularizer: Regularizer of the layer's output (default `None`).
        return_sequences: Return the output of every step (default `False`).
        return_state: Also return the final `h` (default `False`).
        go_backwards: Process the sequence backwards and return the reversed
            sequence (default `False`).
        stateful: Carry the final state into the next batch (default `False`).
        unroll: Unroll the loop (portable kernel only; default `False`).
        use_cudnn: `"auto"` (default), True (cuDNN or an error) or False (never).
        zero_output_for_mask: Output zeros at masked steps instead of the previous
            output (default `False`; `keras.layers.Bidirectional` sets it to
            `return_sequences`, as for Keras's layers).

    Call arguments:
        sequences: `[batch, time, features]`.
        initial_state: Optional `[h]`.
        mask: Optional `[batch, time]` boolean; False steps are skipped: the
            states are carried over, the output is the previous one (zeros
            before the first valid step) or zeros with `zero_output_for_mask`.
        training: Whether dropout applies.

    Example:

    >>> layer = GRU(16, return_sequences=True, return_state=True)
    >>> outputs, h = layer(np.ones((4, 10, 8)))
    >>> outputs.shape, h.shape
    ((4, 10, 16), (4, 16))

    Reference:
        Cho et al. (2014), "Learning Phrase Representations using RNN Encoder-Decoder
        for Statistical Machine Translation".
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        reset_after=True,
        use_cudnn="auto",
        zero_output_for_mask=False,
        **kwargs,
    ):
        cell = GRUCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            reset_after=reset_after,
            seed=seed,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="gru_cell",
        )
        super().__init__(
            cell,
            use_cudnn=use_cudnn,
            zero_output_for_mask=zero_output_for_mask,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )

    def _cudnn_loop(self, sequences, initial_state, mask):
        from keras.src import backend

        return self._keras_cudnn(
            backend.gru, sequences, initial_state=initial_state[0], mask=mask, reset_after=self.cell.reset_after
        )

    def _fused_loop(self, inputs, initial_state, mask, training):
        cell = self.cell
        input_bias, recurrent_bias = cell.split_bias()
        recurrent_bias = tf.zeros([3 * cell.units], inputs.dtype) if recurrent_bias is None else recurrent_bias

        def from_raw_inputs(loop, *extra):
            """`loop` over the unprojected inputs (it projects them itself), zeros for a missing bias."""
            bias = tf.zeros([3 * cell.units], inputs.dtype) if input_bias is None else input_bias
            weights = (cell.kernel, bias, cell.recurrent_kernel, tf.convert_to_tensor(recurrent_bias))
            states = loop(inputs, *weights, initial_state[0], mask, *extra)
            return states, [states[-1]]

        if (
            not training
            and inputs.shape[0] != 0
            and worth_overlapping()
            and not use_compiled_loop(inputs, cell.recurrent_kernel, INFERENCE_MAX_STEP_MACS)
        ):
            return from_raw_inputs(gru_inference)  # the projection overlaps the loop (overlap.py)
        chunks = fused_gru.training_chunks(inputs.shape[0], inputs.shape[1], cell.units) if training else 1
        if chunks > 1:  # pieces of time whose large matmuls run beside the recurrence (fused_gru.py)
            return from_raw_inputs(fused_gru.gru_training, chunks)
        projected = self._project(inputs, cell.kernel, input_bias)
        states = gru_recurrence(
            projected, cell.recurrent_kernel, tf.convert_to_tensor(recurrent_bias), initial_state[0], mask, training
        )
        return states, [states[-1]]

    def get_config(self):
        return {**super().get_config(), **serialize_cell_settings(self.cell, _CELL_SETTINGS)}
