"""What textlstm's LSTM and GRU share: dropout masks, kernel dispatch, time-major plumbing.

A cell (one timestep) holds the weights and the gate equations; the sequence layer,
a `keras.layers.RNN`, loops over it. The loop is one of three kernels chosen by
`dispatch.kernel_plan`; the layer records the one it used in `kernel_used`.
"""

import keras
import tensorflow as tf

from textlstm.layers import dispatch


class DropoutCellMixin:
    """Input and recurrent dropout masks that stay fixed across the steps of one sequence.

    The sequence layer draws the masks once per call (`begin_sequence`) and drops
    them afterwards (`end_sequence`); a cell called on its own draws fresh masks.
    """

    def _init_dropout(self, dropout, recurrent_dropout, seed):
        for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"Argument `{name}` must be in [0, 1). Received: {name}={rate}")
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._sequence_masks = None

    def _draw_mask(self, like, rate):
        return keras.random.dropout(keras.ops.ones_like(like), rate=rate, seed=self.seed_generator)

    def dropout_masks(self, inputs, h, training):
        """`(input_mask, recurrent_mask)` for this step; None where no dropout applies."""
        if self._sequence_masks is not None:
            return self._sequence_masks
        input_mask = self._draw_mask(inputs, self.dropout) if training and self.dropout else None
        recurrent_mask = self._draw_mask(h, self.recurrent_dropout) if training and self.recurrent_dropout else None
        return input_mask, recurrent_mask

    def begin_sequence(self, first_inputs, h0, training):
        self._sequence_masks = None
        self._sequence_masks = self.dropout_masks(first_inputs, h0, training)

    def end_sequence(self):
        self._sequence_masks = None


class StepCellMixin:
    """What a cell's one-step API (`gate_values`, `projected_gate_values`, used to generate and
    inspect outside any layer call; `step_weights` and `step`, the fast path of generation) needs
    to compute as the layer does under any dtype policy.

    Inside a layer call Keras casts the inputs and, for a mixed policy, the float32 weights to
    the compute dtype; a step called directly gets neither, so it casts here (a no-op where the
    dtypes already agree, as in every float32 model).
    """

    def in_compute_dtype(self, *tensors):
        """The tensors (or variables) cast to `self.compute_dtype`, as a list; None stays None, and
        so does a `(product, scale)` pair (`Int8CellMixin.int8_product`), already in it."""
        return [t if t is None or isinstance(t, tuple) else keras.ops.cast(t, self.compute_dtype) for t in tensors]

    def input_projection(self, inputs):
        """`inputs @ kernel + input_bias` in the compute dtype: `[..., features]` -> `[..., gates * units]`."""
        inputs, kernel, bias = self.in_compute_dtype(inputs, self.kernel, self.input_bias)
        projected = keras.ops.matmul(inputs, kernel)
        return projected if bias is None else projected + bias

    def step_weights(self, projected=False):
        """What `step` reads, cast once to the compute dtype: a dict of tensors (a copy of the
        weights as they are now; a generator keeps them, e.g. as variables, and hands them back
        to every `step`). Empty here: `step` then reads the cell's variables."""
        del projected
        return {}

    def step(self, inputs, states, weights, projected=False):
        """Every gate's value for one generation step, without dropout: `gate_values`, or with
        `projected` `projected_gate_values` (`inputs` are then `x W + b`), from `weights`
        (`step_weights(projected)`, which a cell may lay out for speed)."""
        del weights
        return self.projected_gate_values(inputs, states) if projected else self.gate_values(inputs, states)


class RecurrentLayer(keras.layers.RNN):
    """A `keras.layers.RNN` over one of our cells that picks cuDNN, fused or portable loops.

    Every kernel gives the numbers of Keras's generic RNN loop, attribute by attribute:
    at a masked step the state is carried over and the output is the previous output
    (zeros before a sequence's first valid step), or zeros with `zero_output_for_mask`
    (which `keras.layers.Bidirectional` turns on for layers that return sequences).
    Subclasses implement `_cudnn_loop` (Keras's cuDNN dispatch) and `_fused_loop`
    (our recurrence over time-major input projections).
    """

    def __init__(self, cell, use_cudnn="auto", zero_output_for_mask=False, **kwargs):
        super().__init__(cell, zero_output_for_mask=zero_output_for_mask, **kwargs)
        self.input_spec = keras.layers.InputSpec(ndim=3)
        self.use_cudnn = dispatch.check_use_cudnn(use_cudnn)
        self.kernel_used = None
        if dispatch.gpu_available() and use_cudnn is not False and not dispatch.cudnn_blockers(self):
            self.supports_jit = False  # the CudnnRNN ops cannot be compiled by XLA

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        kernel, _ = dispatch.kernel_plan(self)
        self.cell.begin_sequence(sequences[:, 0, :], initial_state[0], training)
        try:
            if kernel == dispatch.CUDNN:
                try:
                    return self._run_cudnn(sequences, initial_state, mask, training)
                except NotImplementedError:
                    if self.use_cudnn is True:
                        raise ValueError(
                            f"Layer {self.name!r} has use_cudnn=True, but TensorFlow's cuDNN kernel "
                            "is not available here. Pass use_cudnn='auto' to fall back."
                        ) from None
                    kernel = dispatch.FUSED
            if kernel == dispatch.FUSED:
                self.kernel_used = dispatch.FUSED
                return self._run_fused(sequences, initial_state, mask, training)
            self.kernel_used = dispatch.PORTABLE
            return super().inner_loop(sequences, initial_state, mask=mask, training=training)
        finally:
            self.cell.end_sequence()

    def _dropped_inputs(self, sequences):
        input_mask, _ = self.cell.dropout_masks(sequences[:, 0, :], None, False)
        if input_mask is None:
            return sequences
        return sequences * input_mask[:, None, :]

    def _run_fused(self, sequences, initial_state, mask, training):
        # Only a Python False selects the lean inference loop; a symbolic flag keeps
        # the loop that saves what the hand-written backward pass needs.
        training = training is not False and training is not None
        inputs = tf.transpose(self._dropped_inputs(sequences), [1, 0, 2])  # time-major
        if mask is not None:
            mask = tf.transpose(tf.cast(mask, "bool"), [1, 0])
        if self.go_backwards:
            inputs = tf.reverse(inputs, [0])
            mask = None if mask is None else tf.reverse(mask, [0])
        states, final_states = self._fused_loop(inputs, initial_state, mask, training)
        if mask is not None:
            # The loop carries the state over masked steps; Keras outputs zeros there
            # (zero_output_for_mask), else zeros until a sequence's first valid step
            # and the last valid output after it.
            shown = mask if self.zero_output_for_mask else tf.math.cumsum(tf.cast(mask, "int32"), axis=0) > 0
            states = states * tf.cast(shown, states.dtype)[:, :, None]
        last_output = states[-1]
        outputs = tf.transpose(states, [1, 0, 2]) if self.return_sequences else last_output[:, None, :]
        return last_output, outputs, final_states

    def _run_cudnn(self, sequences, initial_state, mask, training):
        """cuDNN for batches it can take, the fused loop for the others, Keras's outputs either way.

        cuDNN needs right-padded masks with a valid step in every sequence (Keras's own
        cuDNN path fails on other masks inside a compiled function); such batches are
        routed to the fused loop, decided on the data. cuDNN writes zeros at padded
        steps; without `zero_output_for_mask` Keras's contract is the last valid
        output there, which is the final hidden state.
        """
        if mask is None:
            self.kernel_used = dispatch.CUDNN
            return self._cudnn_loop(sequences, initial_state, None)
        mask = tf.cast(mask, "bool")
        lengths = tf.reduce_sum(tf.cast(mask, "int32"), axis=1)
        usable = tf.logical_and(
            tf.reduce_all(lengths > 0),
            tf.reduce_all(tf.equal(mask, tf.sequence_mask(lengths, tf.shape(mask)[1]))),
        )

        def cudnn():
            last_output, outputs, states = self._cudnn_loop(sequences, initial_state, mask)
            h = states[0]
            if self.zero_output_for_mask and not self.go_backwards:
                last_output = tf.where(mask[:, -1:], h, tf.zeros_like(h))
            else:
                last_output = h
            if not self.return_sequences:
                outputs = last_output[:, None, :]
            elif not self.zero_output_for_mask and not self.go_backwards:
                outputs = tf.where(mask[:, :, None], outputs, h[:, None, :])
            return last_output, outputs, list(states)

        def fused():
            return self._run_fused(sequences, initial_state, mask, training)

        if tf.executing_eagerly():
            self.kernel_used = dispatch.CUDNN if bool(usable) else dispatch.FUSED
            return cudnn() if bool(usable) else fused()
        self.kernel_used = dispatch.CUDNN
        return tf.cond(usable, cudnn, fused)

    def _project(self, inputs, kernel, bias):
        """`inputs @ kernel + bias` for every timestep at once (one large matmul).

        A 2-D matmul followed by `bias_add`, which TensorFlow fuses into one kernel.
        """
        kernel = tf.convert_to_tensor(kernel)
        projected = tf.matmul(tf.reshape(inputs, [-1, kernel.shape[0]]), kernel)  # static even where inputs are not
        if bias is not None:
            projected = tf.nn.bias_add(projected, tf.convert_to_tensor(bias))
        return tf.reshape(projected, tf.concat([tf.shape(inputs)[:2], tf.shape(kernel)[1:]], axis=0))

    def _keras_cudnn(self, function, sequences, **kwargs):
        return function(
            self._dropped_inputs(sequences),
            kernel=self.cell.kernel,
            recurrent_kernel=self.cell.recurrent_kernel,
            bias=self.cell.bias,
            activation=self.cell.activation,
            recurrent_activation=self.cell.recurrent_activation,
            return_sequences=self.return_sequences,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            **kwargs,
        )

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, mask=mask, training=training, initial_state=initial_state)

    def quantize(self, mode=None, type_check=True, config=None):
        """Quantize the cell's weights (`textlstm.layers.int8`: int8, weight-only) and take its
        dtype policy (`int8_from_<policy>`). Raises as `Int8CellMixin.quantize` does."""
        self.cell.quantize(mode, type_check=type_check, config=config)
        self._is_quantized = True
        self.dtype_policy = self.cell.dtype_policy

    def _int8_call(self, *args, **kwargs):
        # Keras routes a quantized layer's __call__ here; the cell holds the quantized weights.
        return self.call(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        config["activity_regularizer"] = keras.regularizers.serialize(self.activity_regularizer)
        config["use_cudnn"] = self.use_cudnn
        if self.cell.quantization_mode != self.quantization_mode:  # quantized by `model.quantize`, which
            config["dtype"] = keras.dtype_policies.serialize(self.cell.dtype_policy)  # reaches only the cell
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


_CELL_ATTRIBUTES = {
    "units",
    "activation",
    "recurrent_activation",
    "use_bias",
    "unit_forget_bias",
    "reset_after",
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
    "seed",
}


def _cell_property(name):
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's `{name}`.")


# Hyper-parameters live on the cell (one place for the weights and their settings);
# the layer exposes them under the same names, as keras.layers.LSTM does.
for _name in _CELL_ATTRIBUTES:
    setattr(RecurrentLayer, _name, _cell_property(_name))


def serialize_cell_settings(cell, names):
    """The cell's hyper-parameters in Keras's serialized form, for `get_config`."""
    serializers = {
        "activation": keras.activations.serialize,
        "recurrent_activation": keras.activations.serialize,
        "kernel_initializer": keras.initializers.serialize,
        "recurrent_initializer": keras.initializers.serialize,
        "bias_initializer": keras.initializers.serialize,
        "kernel_regularizer": keras.regularizers.serialize,
        "recurrent_regularizer": keras.regularizers.serialize,
        "bias_regularizer": keras.regularizers.serialize,
        "kernel_constraint": keras.constraints.serialize,
        "recurrent_constraint": keras.constraints.serialize,
        "bias_constraint": keras.constraints.serialize,
    }
    return {name: serializers.get(name, lambda value: value)(getattr(cell, name)) for name in names}
