"""Batched beam search over a step function, compiled into one `tf.function`.

The model is seen only through its step contract
`step(token_ids [N] int32, state) -> (logits [N, V], new_state)` (or
`step(token_ids, state, constants)` when constants are given), where every tensor of
`state` has the batch first. Each batch row keeps `beam_size` hypotheses in one set:
a hypothesis that emitted `end_id` stays in the set with its score and can only be
"extended" by `end_id` at no cost, so it competes with the growing ones until the end.
With `beam_size=1` this is exactly greedy decoding.

Hypotheses are ranked by log-probability divided by the GNMT length penalty
`((5 + length) / 6) ** length_penalty`, where length counts generated tokens including
the end token; `length_penalty=0` ranks by the plain log-probability sum.

Batch invariance: every decision (log-softmax, top-k with the lower index winning a
tie, stopping) is taken per row, and a row stops changing as soon as its `n_best`
leading hypotheses are finished and no growing one can still beat them; so a
sentence's result never depends on the other rows or on the batch size, provided the
step function itself treats rows independently.

Reference:
    Wu et al., "Google's Neural Machine Translation System", 2016 (length penalty).
"""

import collections
import numbers

import numpy as np
import tensorflow as tf

from textlstm.decoding.samplers import compiled
from textlstm.errors import UserError
from textlstm.layers.fusion import arranged_for_xla

_NEG_INF = -float("inf")
_LANES = 16  # widest CPU vector (AVX-512 floats); see _log_softmax

# What shapes the compiled graph (one trace each); the numbers that do not (max_length, the
# length penalty, n_best) are tensor arguments, so new values of them never trace again.
_Config = collections.namedtuple("_Config", "start_id end_id beam_size with_extras has_constants")
_Numbers = collections.namedtuple("_Numbers", "max_length penalties n_best")


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise UserError(f"beam search option '{name}' must be an integer >= {minimum}, got {value!r}")


def _penalties(max_length, alpha):
    """GNMT penalty for every length 0..max_length, as a tensor to look up (all 1 for alpha 0,
    which divides exactly: the plain log-probability sum).

    A table rather than `pow` on a tensor: vectorized `pow` can round a value
    differently depending on its position in the tensor, which would break batch
    invariance.
    """
    lengths = np.arange(max_length + 1, dtype=np.float64)
    return tf.constant(((5.0 + lengths) / 6.0) ** alpha, tf.float32)


def _normalize(log_probs, lengths, penalties):
    return log_probs / tf.gather(penalties, lengths)


def _log_softmax(logits):
    """Row-wise log-softmax whose bits for a row never depend on the other rows.

    TensorFlow's CPU kernels run element-wise `exp`/`log` in SIMD packets and finish a
    tensor's tail with scalar code that rounds differently, so `tf.nn.log_softmax`
    gives a row different last bits at different batch positions. Padding the
    vocabulary to a multiple of the vector width (with -inf, which adds nothing) and
    taking the log of each row's total replicated across a full vector keeps every
    element on the packet path.
    """
    vocab = tf.shape(logits)[-1]
    logits = tf.pad(logits, [[0, 0], [0, (-vocab) % _LANES]], constant_values=_NEG_INF)
    shifted = logits - tf.reduce_max(logits, axis=-1, keepdims=True)
    total = tf.reduce_sum(tf.exp(shifted), axis=-1, keepdims=True)
    log_total = tf.math.log(tf.tile(total, [1, _LANES]))[:, :1]
    return (shifted - log_total)[:, :vocab]


def _call_step(step_fn, cfg, tokens, state, constants):
    if cfg.has_constants:
        out = step_fn(tokens, state, constants)
    else:
        out = step_fn(tokens, state)
    if cfg.with_extras:
        logits, new_state, extras = out
        extras = tf.cast(extras, tf.float32)
    else:
        logits, new_state = out
        extras = None
    # Keep the caller's nesting (a step may return a list for a tuple).
    new_state = tf.nest.pack_sequence_as(state, tf.nest.flatten(new_state))
    return logits, new_state, extras


def _search(step_fn, cfg, numbers, state, constants, batch_size):
    """Forward pass: expand, rank and prune beams; record tokens and backpointers."""
    k = cfg.beam_size

    def tile(x):
        return tf.repeat(x, k, axis=0)  # row b's beams sit at b * k ... b * k + k - 1

    state = tf.nest.map_structure(tile, state)
    if constants is not None:
        constants = tf.nest.map_structure(tile, constants)
    beam_ids = tf.range(k)
    # All beams start identical; only the first may expand, or the set fills with copies.
    log_probs = tf.tile(tf.where(beam_ids == 0, 0.0, _NEG_INF)[None], [batch_size, 1])
    beams = {
        "log_probs": log_probs,  # sum of token log-probabilities
        "scores": log_probs,  # log_probs / length penalty: the ranking key
        "finished": tf.zeros([batch_size, k], tf.bool),
        "lengths": tf.zeros([batch_size, k], tf.int32),  # tokens so far, end token included
    }
    history = {
        "tokens": tf.TensorArray(tf.int32, size=numbers.max_length),
        "parents": tf.TensorArray(tf.int32, size=numbers.max_length),
    }
    if cfg.with_extras:
        history["extras"] = tf.TensorArray(tf.float32, size=numbers.max_length, infer_shape=True)
    penalties = numbers.penalties

    def body(t, tokens, state, beams, done, history):
        logits, state, extras = _call_step(step_fn, cfg, tokens, state, constants)
        vocab = tf.shape(logits)[-1]
        step_lp = tf.reshape(_log_softmax(tf.cast(logits, tf.float32)), [batch_size, k, vocab])
        only_end = tf.where(tf.range(vocab) == cfg.end_id, 0.0, _NEG_INF)
        finished = beams["finished"]
        step_lp = tf.where(finished[:, :, None], only_end, step_lp)
        cand_lp = beams["log_probs"][:, :, None] + step_lp
        cand_len = beams["lengths"] + tf.cast(~finished, tf.int32)
        cand_scores = _normalize(cand_lp, cand_len[:, :, None], penalties)
        # top_k puts the lower flat index first on ties: a fixed, per-row order.
        scores, flat = tf.math.top_k(tf.reshape(cand_scores, [batch_size, k * vocab]), k=k)
        parents, new_tokens = flat // vocab, flat % vocab
        new = {
            "log_probs": tf.gather(tf.reshape(cand_lp, [batch_size, -1]), flat, batch_dims=1),
            "scores": scores,
            "finished": tf.gather(finished, parents, batch_dims=1) | (new_tokens == cfg.end_id),
            "lengths": tf.gather(cand_len, parents, batch_dims=1),
        }
        # A finished row keeps its beams as they are.
        frozen = done[:, None]
        parents = tf.where(frozen, beam_ids[None], parents)
        new_tokens = tf.where(frozen, cfg.end_id, new_tokens)
        beams = {key: tf.where(frozen, beams[key], new[key]) for key in beams}
        done = done | _row_done(beams, numbers.n_best, penalties[numbers.max_length])

        flat_parents = tf.reshape(parents + k * tf.range(batch_size)[:, None], [-1])
        state = tf.nest.map_structure(lambda s: tf.ensure_shape(tf.gather(s, flat_parents), s.shape), state)
        history = dict(history)
        history["tokens"] = history["tokens"].write(t, new_tokens)
        history["parents"] = history["parents"].write(t, parents)
        if extras is not None:
            extras = tf.reshape(extras, tf.concat([[batch_size, k], tf.shape(extras)[1:]], 0))
            history["extras"] = history["extras"].write(t, extras)
        return t + 1, tf.reshape(new_tokens, [-1]), state, beams, done, history

    start = tf.fill([batch_size * k], tf.constant(cfg.start_id, tf.int32))
    done = tf.zeros([batch_size], tf.bool)
    steps, _, _, beams, _, history = tf.while_loop(
        lambda t, _tokens, _state, _beams, done, _history: (t < numbers.max_length) & ~tf.reduce_all(done),
        body,
        (tf.constant(0), start, state, beams, done, history),
    )
    return steps, beams, history


def _row_done(beams, n_best, best_possible_penalty):
    """True where the `n_best` leading beams are finished and nothing growing can pass them.

    A growing hypothesis only loses log-probability, and (for length_penalty >= 0) its
    penalty is at most the one at max_length, so log_probs / that penalty bounds every
    score it can reach.
    """
    leaders_finished = tf.reduce_all(beams["finished"][:, :n_best], axis=1)
    bound = beams["log_probs"] / best_possible_penalty
    best_growing = tf.reduce_max(tf.where(beams["finished"], _NEG_INF, bound), axis=1)
    return leaders_finished & (beams["scores"][:, n_best - 1] >= best_growing)


def _backtrack(steps, history, cfg, numbers, batch_size):
    """Follow backpointers from the n_best final beams to their first token."""
    outputs = {"tokens": tf.TensorArray(tf.int32, size=numbers.max_length)}
    if cfg.with_extras:
        outputs["extras"] = tf.TensorArray(tf.float32, size=numbers.max_length, infer_shape=True)

    def body(t, index, outputs):
        ran = t < steps  # positions after an early stop are padding
        read = tf.minimum(t, steps - 1)
        outputs = dict(outputs)
        token = tf.gather(history["tokens"].read(read), index, batch_dims=1)
        outputs["tokens"] = outputs["tokens"].write(t, tf.where(ran, token, cfg.end_id))
        parent = tf.gather(history["parents"].read(read), index, batch_dims=1)
        if cfg.with_extras:
            # The step's extras were made by the beams before this step's selection.
            extras = tf.gather(history["extras"].read(read), parent, batch_dims=1)
            outputs["extras"] = outputs["extras"].write(t, extras)
        return t - 1, tf.where(ran, parent, index), outputs

    index = tf.tile(tf.range(numbers.n_best)[None], [batch_size, 1])
    _, _, outputs = tf.while_loop(lambda t, *_: t >= 0, body, (numbers.max_length - 1, index, outputs))
    return outputs


def _time_second(stacked):
    """[T, B, n, ...] -> [B, n, T, ...]."""
    rest = tf.range(3, tf.rank(stacked))
    return tf.transpose(stacked, tf.concat([[1, 2, 0], rest], 0))


def _decode(step_fn, cfg, numbers, state, constants, batch_size):
    steps, beams, history = _search(step_fn, cfg, numbers, state, constants, batch_size)
    outputs = _backtrack(steps, history, cfg, numbers, batch_size)
    n = numbers.n_best
    finished = beams["finished"][:, :n]
    lengths = beams["lengths"][:, :n]
    result = (
        _time_second(outputs["tokens"].stack()),
        beams["scores"][:, :n],
        lengths - tf.cast(finished, tf.int32),  # tokens before the end token
    )
    if not cfg.with_extras:
        return result
    extras = _time_second(outputs["extras"].stack())
    # Zero the steps after a hypothesis ended: they belong to no token.
    mask = tf.sequence_mask(lengths, numbers.max_length)
    trailing = tf.ones([tf.rank(extras) - 3], tf.int32)
    mask = tf.reshape(mask, tf.concat([tf.shape(mask), trailing], 0))
    return result + (tf.where(mask, extras, tf.zeros_like(extras)),)


def beam_search(
    step_fn,
    initial_state,
    batch_size,
    start_id,
    end_id,
    beam_size,
    max_length,
    length_penalty=0.0,
    n_best=1,
    constants=None,
    with_extras=False,
    jit_compile=False,
):
    """Decode a batch with beam search; the whole loop runs in one compiled `tf.function`,
    traced once per step function, beam size and output kind: `max_length`, `length_penalty`
    and `n_best` reach it as tensors, so other values of them trace nothing again.

    Args:
        step_fn: `step(token_ids [B*beam], state) -> (logits [B*beam, V], new_state)`;
            with `constants`, `step(token_ids, state, constants)`; with `with_extras`,
            it returns `(logits, new_state, extras)`.
        initial_state: nested tensors with batch first `[B, ...]`; tiled to beams and
            reordered along the beams at every step.
        batch_size: number of rows B (int or scalar tensor).
        start_id: token fed at the first step.
        end_id: token that ends a hypothesis; also pads the returned tokens.
        beam_size: hypotheses kept per row; 1 is greedy decoding.
        max_length: most tokens generated; hypotheses still growing then are returned too.
        length_penalty: GNMT alpha >= 0, default 0.0 (plain log-probability sum).
        n_best: hypotheses returned per row, 1 <= n_best <= beam_size, default 1.
        constants: optional nested tensors `[B, ...]` (e.g. encoder outputs), tiled once
            and passed to every step unchanged, never reordered.
        with_extras: record the step's extras `[B*beam, ...]` (e.g. attention weights),
            cast to float32, along each returned hypothesis.
        jit_compile: compile the search with XLA.

    Returns:
        `tokens [B, n_best, max_length]` int32 padded with end_id, `scores [B, n_best]`
        (best first), `lengths [B, n_best]` (tokens before the end token), and with
        `with_extras` also `extras [B, n_best, max_length, ...]` (zero after the end).
    """
    _check_int("start_id", start_id, 0)
    _check_int("end_id", end_id, 0)
    _check_int("beam_size", beam_size, 1)
    _check_int("max_length", max_length, 1)
    _check_int("n_best", n_best, 1)
    if n_best > beam_size:
        raise UserError(f"beam search option 'n_best' must be <= beam_size ({beam_size}), got {n_best}")
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, numbers.Real) or length_penalty < 0:
        raise UserError(f"beam search option 'length_penalty' must be a number >= 0, got {length_penalty!r}")
    if isinstance(batch_size, numbers.Integral):
        _check_int("batch_size", batch_size, 1)
    cfg = _Config(int(start_id), int(end_id), int(beam_size), bool(with_extras), constants is not None)
    tensors = _Numbers(
        tf.constant(int(max_length), tf.int32),
        _penalties(int(max_length), float(length_penalty)),
        tf.constant(int(n_best), tf.int32),
    )
    batch_size = tf.convert_to_tensor(batch_size, dtype=tf.int32)
    if tf.inside_function():
        return _decode(step_fn, cfg, tensors, initial_state, constants, batch_size)

    def search_loop(numbers, state, constants, size):
        with arranged_for_xla(jit_compile):  # the step's arithmetic for the executor that runs it
            return _decode(step_fn, cfg, numbers, state, constants, size)

    search = compiled(
        ("beam_search", step_fn, cfg, jit_compile),
        lambda: tf.function(search_loop, jit_compile=jit_compile, reduce_retracing=True),
    )
    return search(tensors, initial_state, constants, batch_size)
