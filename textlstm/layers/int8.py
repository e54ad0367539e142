"""int8 weight-only quantization of a recurrent cell, in Keras's own quantization API.

`cell.quantize("int8")`, `layer.quantize("int8")` (our `LSTM`/`GRU`) and `model.quantize("int8")`
replace a cell's `kernel [in, gates * units]` and `recurrent_kernel [units, gates * units]` with
int8 matrices and one float32 scale per output column, as Keras's `Dense.quantize("int8")` does
for its kernel (`keras.quantizers.AbsMaxQuantizer(axis=0)`: `int8 = round(w * scale)`,
`scale = 127 / max |w|` over the column, `w ≈ int8 / scale`). The bias stays float32 and
trainable. The cell's dtype policy becomes Keras's `int8_from_<policy>` (`int8_from_float32`,
`int8_from_mixed_bfloat16`), which is saved with the model, so `keras.saving.load_model` builds
int8 variables again and loads them; the variables keep Keras's save order either way.

Weight-only: the recurrent matmuls read int8 weights and multiply float activations (h is
never quantized: the state is carried in the compute dtype). Keras's default int8 config also
names an activation quantizer; recurrent cells ignore it (Dense and Embedding layers of the same
model still get Keras's own int8, activation quantizer included). A config's weight quantizer
is used; it must quantize along axis 0 (per output column) to int8. Other modes (int4, float8, gptq, awq) raise
`NotImplementedError`, which `model.quantize` turns into Keras's warning for that layer.

`cell.kernel` and `cell.recurrent_kernel` stay float tensors for every reader (the fused loops,
cuDNN, inspection, export): the dequantized `int8 / scale` once the cell is quantized. The fast
path of generation reads the int8 matrices themselves (`int8_step_weights`, `int8_product`).
"""

import keras
import numpy as np

MODE = "int8"
MATRICES = ("kernel", "recurrent_kernel")  # the quantized weights of a cell, each with `<name>_scale`


class Int8CellMixin:
    """`quantize("int8")` and the float/int8 storage of a cell's two weight matrices.

    A cell calls `_build_matrices(kernel_shape, recurrent_shape)` in `build` (before its bias,
    as before) and reads `self.kernel` / `self.recurrent_kernel`.
    """

    def _build_matrices(self, kernel_shape, recurrent_shape):
        """Add `kernel` and `recurrent_kernel`: float variables, or int8 ones and their scales when
        the cell's dtype policy is already int8 (a quantized model being loaded)."""
        mode = self.quantization_mode
        if mode == MODE:
            self._int8_build(kernel_shape, recurrent_shape)
            return
        if mode is not None:
            raise self._quantization_mode_error(mode)
        self._kernel = self.add_weight(
            shape=kernel_shape,
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self._recurrent_kernel = self.add_weight(
            shape=recurrent_shape,
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )

    def _int8_build(self, kernel_shape, recurrent_shape):
        # The order (both matrices, then both scales, all non-trainable) is the save order.
        self._kernel = self.add_weight(
            name="kernel", shape=kernel_shape, initializer="zeros", dtype="int8", trainable=False
        )
        self._recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=recurrent_shape, initializer="zeros", dtype="int8", trainable=False
        )
        self.kernel_scale = self.add_weight(
            name="kernel_scale", shape=kernel_shape[-1:], initializer="ones", trainable=False
        )
        self.recurrent_kernel_scale = self.add_weight(
            name="recurrent_kernel_scale", shape=recurrent_shape[-1:], initializer="ones", trainable=False
        )
        self._is_quantized = True

    def _float_matrix(self, name):
        stored = getattr(self, "_" + name)
        if self.quantization_mode != MODE:
            return stored
        value = keras.ops.divide(keras.ops.cast(stored, self.variable_dtype), getattr(self, name + "_scale"))
        return keras.ops.cast(value, self.compute_dtype)  # what a layer call reads of a float variable (autocast)

    @property
    def kernel(self):
        """`[features, gates * units]`: the input weights (a variable; for an int8 cell the tensor
        `int8 / kernel_scale` in the compute dtype)."""
        return self._float_matrix("kernel")

    @property
    def recurrent_kernel(self):
        """`[units, gates * units]`: the recurrent weights (a variable; for an int8 cell the tensor
        `int8 / recurrent_kernel_scale` in the compute dtype)."""
        return self._float_matrix("recurrent_kernel")

    def quantize(self, mode=None, type_check=True, config=None):
        """Quantize the kernel and recurrent kernel to int8, per output column (weight-only).

        Args:
            mode: "int8" (Keras fills it in from `config`).
            type_check: accepted for Keras's signature (`Model.quantize` passes it).
            config: a `keras.quantizers.Int8QuantizationConfig`; its weight quantizer is used
                (default `AbsMaxQuantizer(axis=0)`), its activation quantizer is not (see above).

        Raises:
            NotImplementedError: a mode other than int8.
            ValueError: (from Keras) the cell is not built, or already quantized.
        """
        del type_check
        if mode != MODE:
            raise NotImplementedError(
                f"{type(self).__name__} can be quantized to int8 only (weight-only); received mode={mode!r}"
            )
        from keras.quantizers import AbsMaxQuantizer, QuantizationConfig

        quantizer = QuantizationConfig.weight_quantizer_or_default(config, AbsMaxQuantizer(axis=0))
        values = {}
        for name in MATRICES:
            matrix = getattr(self, "_" + name)
            quantized, scale = quantizer(matrix, to_numpy=True)
            values[name] = (tuple(matrix.shape), np.asarray(quantized), np.reshape(np.asarray(scale), [-1]))
        del self._kernel
        del self._recurrent_kernel
        self._int8_build(values["kernel"][0], values["recurrent_kernel"][0])
        for name in MATRICES:
            _, quantized, scale = values[name]
            getattr(self, "_" + name).assign(quantized)
            getattr(self, name + "_scale").assign(scale)
        if self.dtype_policy.quantization_mode is None:
            self.dtype_policy = keras.dtype_policies.get(f"{MODE}_from_{self.dtype_policy.name}")

    def _int8_call(self, *args, **kwargs):
        # Keras routes a quantized layer's __call__ here; the cell's call reads the float view.
        return self.call(*args, **kwargs)

    def int8_step_weights(self, names):
        """`{name: int8 matrix, name + "_scale": [columns] float32}` for each of `names` (from
        `MATRICES`): what a generation step reads, a quarter of the float32 bytes."""
        weights = {}
        for name in names:
            weights[name] = keras.ops.convert_to_tensor(getattr(self, "_" + name))
            weights[name + "_scale"] = keras.ops.convert_to_tensor(getattr(self, name + "_scale"))
        return weights

    def step_product(self, x, weights, name):
        """`x @ weights[name]`: a tensor for a float matrix, an `int8_product` pair for an int8 one
        (`weights` from `step_weights`; `split_sum` adds either)."""
        if name + "_scale" in weights:
            return self.int8_product(x, weights, name)
        return keras.ops.matmul(x, weights[name])

    def int8_product(self, x, weights, name):
        """`(x @ int8, scale)`: the product with the int8 matrix cast to the compute dtype, and the
        scale it must be divided by, for `split_sum` to divide after splitting."""
        matrix, scale = self.in_compute_dtype(weights[name], weights[name + "_scale"])
        return keras.ops.matmul(x, matrix), scale


def embedding_matrix(embedding):
    """The `[vocabulary, dim]` weights of a `keras.layers.Embedding` as floats in its compute dtype,
    for a tied output projection: its variable, or once Keras quantized it to int8 (per row),
    `int8 / embeddings_scale[:, None]`, as its own lookup dequantizes a row. Raises
    NotImplementedError for Keras's other modes (int4, float8, ...), which textlstm does not load."""
    mode = embedding.quantization_mode
    if mode is None:
        return keras.ops.cast(embedding.embeddings, embedding.compute_dtype)
    if mode != MODE:
        raise NotImplementedError(f"a tied output projection reads float or int8 embeddings, not {mode}")
    rows = keras.ops.cast(embedding._embeddings, embedding.compute_dtype)
    return keras.ops.divide(rows, keras.ops.cast(embedding.embeddings_scale, embedding.compute_dtype)[:, None])
