"""Long Short-Term Memory: the one-step `LSTMCell` and the sequence layer `LSTM`.

Weights have exactly the layout of `keras.layers.LSTM` (`kernel [in, 4u]`,
`recurrent_kernel [u, 4u]`, `bias [4u]`, gates in the order input, forget,
candidate, output), so weights copy both ways between ours and Keras's.
"""

import keras
import tensorflow as tf

from textlstm.layers.base import DropoutCellMixin, RecurrentLayer, StepCellMixin, serialize_cell_settings
from textlstm.layers.fused_lstm import lstm_recurrence, use_compiled_loop
from textlstm.layers.fusion import split_sum
from textlstm.layers.int8 import MATRICES, Int8CellMixin
from textlstm.layers.int8 import MODE as INT8
from textlstm.layers.overlap import lstm_inference, worth_overlapping

_CELL_SETTINGS = (
    "units",
    "activation",
    "recurrent_activation",
    "use_bias",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "unit_forget_bias",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "dropout",
    "recurrent_dropout",
    "seed",
)


@keras.saving.register_keras_serializable(package="textlstm")
class LSTMCell(Int8CellMixin, StepCellMixin, DropoutCellMixin, keras.layers.Layer):
    """One LSTM timestep, written from the gate equations.

    i = σ(x W_i + h U_i + b_i), f = σ(x W_f + h U_f + b_f), o = σ(x W_o + h U_o + b_o),
    c̃ = tanh(x W_c + h U_c + b_c), c' = f ⊙ c + i ⊙ c̃, h' = o ⊙ tanh(c').
    All four gate pre-activations come from one matmul of the input and one of the state.

    Args:
        units: Size of the hidden and cell states.
        activation: Activation of the candidate and the cell output (default `"tanh"`).
        recurrent_activation: Activation of the gates (default `"sigmoid"`).
        use_bias: Whether the gates have a bias (default `True`).
        kernel_initializer: Initializer of `kernel` (default `"glorot_uniform"`).
        recurrent_initializer: Initializer of `recurrent_kernel` (default `"orthogonal"`).
        bias_initializer: Initializer of `bias` (default `"zeros"`).
        unit_forget_bias: Start the forget-gate bias at 1 so the cell remembers by
            default (default `True`; Jozefowicz et al. 2015).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Regularizers
            (default `None`).
        kernel_constraint, recurrent_constraint, bias_constraint: Constraints
            (default `None`).
        dropout: Fraction of the inputs dropped in training (default 0).
        recurrent_dropout: Fraction of the previous state dropped in training (default 0).
        seed: Seed of the dropout masks (default `None`).

    Call arguments:
        inputs: `[batch, features]`.
        states: `[h, c]`, each `[batch, units]`.
        training: Whether dropout applies.

    Example:

    >>> cell = LSTMCell(8)
    >>> h, (h, c) = cell(np.ones((2, 3)), [np.zeros((2, 8)), np.zeros((2, 8))])
    >>> h.shape
    (2, 8)

    Reference:
        Hochreiter & Schmidhuber (1997), "Long Short-Term Memory";
        Gers, Schmidhuber & Cummins (2000), "Learning to Forget".
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
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
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
        self.unit_forget_bias = unit_forget_bias
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self._init_dropout(dropout, recurrent_dropout, seed)
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        self._build_matrices((input_shape[-1], 4 * self.units), (self.units, 4 * self.units))
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(4 * self.units,),
                name="bias",
                initializer=self._bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def _bias_initializer(self, shape, dtype=None):
        if not self.unit_forget_bias:
            return self.bias_initializer(shape, dtype=dtype)
        units = self.units
        return keras.ops.concatenate(
            [
                self.bias_initializer((units,), dtype=dtype),
                keras.ops.ones((units,), dtype=dtype),
                self.bias_initializer((2 * units,), dtype=dtype),
            ]
        )

    @property
    def input_bias(self):
        """The bias added to the input projection (None without bias)."""
        return self.bias

    def gate_values(self, inputs, states, training=False):
        """Every gate's activation for one step, for inspection.

        Returns a dict with `input`, `forget`, `output` (the gates), `candidate` (c̃),
        `c` (new cell state) and `h` (new hidden state), each `[batch, units]` in the cell's
        compute dtype (bfloat16 under `mixed_bfloat16`), whatever the dtype of `inputs` and `states`.
        """
        if not self.built:  # read-out on a fresh cell, outside any layer call
            self.build(tuple(inputs.shape))
            self.built = True
        (inputs,) = self.in_compute_dtype(inputs)
        input_mask, recurrent_mask = self.dropout_masks(inputs, states[0], training)
        if input_mask is not None:
            inputs = inputs * input_mask
        return self.projected_gate_values(self.input_projection(inputs), states, recurrent_mask)

    def projected_gate_values(self, projected, states, recurrent_mask=None):
        """`gate_values` given the input projection `x W + b` (e.g. from a lookup table)."""
        projected, h, c, recurrent_kernel = self.in_compute_dtype(projected, *states, self.recurrent_kernel)
        if recurrent_mask is not None:
            h = h * keras.ops.cast(recurrent_mask, h.dtype)
        return self._gates([projected, keras.ops.matmul(h, recurrent_kernel)], c)

    def step_weights(self, projected=False):
        """What `step` reads, in the compute dtype: `recurrent_kernel`, and unless the inputs come
        `projected` also `kernel` and `bias`; for an int8 cell the int8 matrices with their scales
        (`Int8CellMixin.int8_step_weights`). A step does two products, `x @ kernel` and
        `h @ recurrent_kernel`, as Keras's cell does, not one over `[x, h]` and the two matrices
        stacked (docs/results.md, "Character LM generation speed")."""
        names = MATRICES[1:] if projected else MATRICES
        if self.quantization_mode == INT8:
            weights = self.int8_step_weights(names)
        else:
            weights = dict(zip(names, self.in_compute_dtype(*(getattr(self, name) for name in names))))
        if not projected and self.bias is not None:
            (weights["bias"],) = self.in_compute_dtype(self.bias)
        return weights

    def step(self, inputs, states, weights, projected=False):
        inputs, h, c = self.in_compute_dtype(inputs, *states)
        recurrent = self.step_product(h, weights, "recurrent_kernel")
        if projected:
            return self._gates([inputs, recurrent], c)
        return self._gates([self.step_product(inputs, weights, "kernel"), recurrent, weights.get("bias")], c)

    def _gates(self, z, c):
        """The gates and new states from the pre-activations `z` [batch, 4 * units] and `c`; `z` may
        also be a list of terms to add, each `[batch, 4 * units]`, an int8 product pair
        (`Int8CellMixin.int8_product`) or None, added left to right after the split into gates
        (`split_sum`)."""
        z_i, z_f, z_c, z_o = split_sum(z if isinstance(z, list) else [z], 4)
        input_gate = self.recurrent_activation(z_i)
        forget_gate = self.recurrent_activation(z_f)
        candidate = self.activation(z_c)
        output_gate = self.recurrent_activation(z_o)
        c_new = forget_gate * c + input_gate * candidate
        h_new = output_gate * self.activation(c_new)
        return {
            "input": input_gate,
            "forget": forget_gate,
            "output": output_gate,
            "candidate": candidate,
            "c": c_new,
            "h": h_new,
        }

    def next_states(self, gates):
        """The state list a step hands to the next one."""
        return [gates["h"], gates["c"]]

    def call(self, inputs, states, training=False):
        gates = self.gate_values(inputs, states, training=training)
        return gates["h"], self.next_states(gates)

    def get_initial_state(self, batch_size=None):
        return [keras.ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in self.state_size]

    def get_config(self):
        return {**super().get_config(), **serialize_cell_settings(self, _CELL_SETTINGS)}


@keras.saving.register_keras_serializable(package="textlstm")
class LSTM(RecurrentLayer):
    """Long Short-Term Memory layer over whole sequences, with cuDNN, fused and portable kernels.

    The kernel is chosen per call (see `textlstm.layers.dispatch`):

    1. cuDNN, when a GPU is visible, `use_cudnn` is not False, activation is tanh,
       recurrent_activation is sigmoid, recurrent_dropout is 0, unroll is False,
       use_bias is True; a batch whose mask is not right-padded, or has a
       sequence without valid steps, runs through the fused loop instead.
    2. Otherwise textlstm's fused loop, when activation is tanh, recurrent_activation
       is sigmoid, recurrent_dropout is 0 and unroll is False.
    3. Otherwise the portable loop over `LSTMCell`.

    `use_cudnn=True` raises a ValueError naming the reasons when cuDNN cannot run.
    The kernel of the last call is in `layer.kernel_used`; `textlstm.layers.force_kernel`
    picks one for the layers called inside it. All kernels give the same numbers.

    Args:
        units: Size of the hidden and cell states.
        activation, recurrent_activation, use_bias, kernel_initializer,
        recurrent_initializer, bias_initializer, unit_forget_bias,
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint, dropout,
        recurrent_dropout, seed: As in `LSTMCell`, same defaults.
        activity_regularizer: Regularizer of the layer's output (default `None`).
        return_sequences: Return the output of every step, not only the last
            (default `False`).
        return_state: Also return the final `h` and `c` (default `False`).
        go_backwards: Process the sequence backwards and return the reversed
            sequence (default `False`).
        stateful: Carry the final states into the next batch (default `False`).
        unroll: Unroll the loop (portable kernel only; default `False`).
        use_cudnn: `"auto"` (default), True (cuDNN or an error) or False (never).
        zero_output_for_mask: Output zeros at masked steps instead of the previous
            output (default `False`; `keras.layers.Bidirectional` sets it to
            `return_sequences`, as for Keras's layers).

    Call arguments:
        sequences: `[batch, time, features]`.
        initial_state: Optional `[h, c]`.
        mask: Optional `[batch, time]` boolean; False steps are skipped: the
            states are carried over, the output is the previous one (zeros
            before the first valid step) or zeros with `zero_output_for_mask`.
        training: Whether dropout applies.

    Example:

    >>> layer = LSTM(16, return_sequences=True, return_state=True)
    >>> outputs, h, c = layer(np.ones((4, 10, 8)))
    >>> outputs.shape, h.shape, c.shape
    ((4, 10, 16), (4, 16), (4, 16))

    Reference:
        Hochreiter & Schmidhuber (1997), "Long Short-Term Memory".
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
        unit_forget_bias=True,
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
        use_cudnn="auto",
        zero_output_for_mask=False,
        **kwargs,
    ):
        cell = LSTMCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="lstm_cell",
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
            backend.lstm, sequences, initial_state_h=initial_state[0], initial_state_c=initial_state[1], mask=mask
        )

    def _fused_loop(self, inputs, initial_state, mask, training):
        cell = self.cell
        if (
            not training
            and inputs.shape[0] != 0
            and not use_compiled_loop(inputs, cell.recurrent_kernel)
            and worth_overlapping()
        ):
            bias = cell.bias if cell.bias is not None else tf.zeros([4 * cell.units], inputs.dtype)
            states, last_c = lstm_inference(
                inputs, cell.kernel, bias, cell.recurrent_kernel, initial_state[0], initial_state[1], mask
            )  # the projection overlaps the loop (overlap.py)
            return states, [states[-1], last_c]
        projected = self._project(inputs, cell.kernel, cell.bias)
        states, last_c = lstm_recurrence(
            projected, cell.recurrent_kernel, initial_state[0], initial_state[1], mask, training
        )
        return states, [states[-1], last_c]

    def get_config(self):
        return {**super().get_config(), **serialize_cell_settings(self.cell, _CELL_SETTINGS)}
