"""Step arithmetic arranged so that XLA on a CPU keeps each matrix-vector product on its fast path.

XLA fuses an elementwise operation that directly consumes a matrix product (adding a bias or a
second product, scaling) into that product, and on a CPU the fused product leaves the fast
matrix-vector code. Adding after a split (`split_sum`), or to halves of the product
(`dense_logits`), keeps it there. It matters at batch 1; batches of 8 rows and more are not
affected (benchmarks/profile_generation.py; docs/results.md, "Character LM generation speed").

Without XLA every operation is a separate kernel launch, and there the fewest operations win:
adding first and splitting once. The decoding loops (`decoding.samplers.sample_sequence`,
`decoding.beam_search.beam_search`) trace their steps under `arranged_for_xla(jit_compile)`;
everywhere else the arithmetic is arranged for XLA, which costs nothing measurable in larger
batches.
"""

import contextlib
import contextvars

import keras

_FOR_XLA = contextvars.ContextVar("textlstm_arranged_for_xla", default=True)


@contextlib.contextmanager
def arranged_for_xla(xla):
    """While tracing under this context, `split_sum` and `dense_logits` arrange their arithmetic
    for XLA (`xla=True`: split first, the default outside it) or for TensorFlow's graph executor
    (`xla=False`: one addition, one split; one `Dense` call)."""
    token = _FOR_XLA.set(bool(xla))
    try:
        yield
    finally:
        _FOR_XLA.reset(token)


def split_sum(terms, parts):
    """`parts` tensors `[batch, columns / parts]`: the sum of `terms` split along the last axis, each
    term split before the sum. A term is a `[batch, columns]` tensor (or `[columns]`), a pair
    `(product, scale)` standing for `product / scale` (`Int8CellMixin.int8_product`), or None
    (skipped); terms are added left to right.

    Splitting first keeps each product on its fast path under XLA; without it (`arranged_for_xla`)
    the terms are added whole and split once (see above)."""
    if not _FOR_XLA.get():
        total = None
        for term in terms:
            if term is None:
                continue
            if isinstance(term, tuple):
                term = term[0] / term[1]
            total = term if total is None else total + term
        return keras.ops.split(total, parts, axis=-1)
    sums = None
    for term in terms:
        if term is None:
            continue
        if isinstance(term, tuple):
            product, scale = term
            pieces = [
                p / s for p, s in zip(keras.ops.split(product, parts, axis=-1), keras.ops.split(scale, parts, axis=-1))
            ]
        else:
            pieces = keras.ops.split(term, parts, axis=-1)
        sums = pieces if sums is None else [a + b for a, b in zip(sums, pieces)]
    return sums


def dense_logits(dense, x):
    """`dense(x)` for a float `keras.layers.Dense` without activation: `[batch, features] ->
    [batch, units]` in its compute dtype, with the bias added to the two halves of the product
    (see above); any other Dense (quantized, with an activation, without bias), or any Dense outside
    XLA (`arranged_for_xla`), is called as it is."""
    if (
        not _FOR_XLA.get()
        or dense.quantization_mode is not None
        or dense.bias is None
        or dense.activation is not keras.activations.linear
    ):
        return dense(x)
    x, kernel, bias = (keras.ops.cast(t, dense.compute_dtype) for t in (x, dense.kernel, dense.bias))
    product, half = keras.ops.matmul(x, kernel), dense.units // 2
    return keras.ops.concatenate([product[:, :half] + bias[:half], product[:, half:] + bias[half:]], axis=-1)
