"""Linear-chain CRF in three parts: transition weights, log-likelihood, and Viterbi decoding.

Scores of a tag path y over a sequence of length n with emissions e:

    score(y) = start[y_0] + sum_t e[t, y_t] + sum_{t>0} transitions[y_{t-1}, y_t] + end[y_{n-1}]

Batches are right-padded and described by a boolean mask; nothing is sorted by length and no
pseudo START/STOP tags are added (the explicit start/end vectors do that job). Padded steps
leave the forward variables unchanged, so every sequence in a batch ends where its mask ends.
All functions except `nbest_viterbi_decode` use keras.ops with fixed-shape loops over time
(a bounded while loop for the likelihood, so that it can be differentiated under XLA, and a
scan for Viterbi) and run inside tf.function and XLA-compiled train steps. Sequences of
length 0 get likelihood 0.

Reference: Lafferty, McCallum, Pereira (2001), "Conditional Random Fields: Probabilistic
Models for Segmenting and Labeling Sequence Data"; Lample et al. (2016), "Neural Architectures
for Named Entity Recognition".
"""

import keras
import numpy as np
from keras import ops


def _prepare(emissions, mask, transitions, start, end):
    """Tensors in one float dtype, a boolean mask [B, L] (None: all steps) and lengths [B]."""
    transitions = ops.convert_to_tensor(transitions)
    dtype = "float32" if "float" not in str(transitions.dtype) else transitions.dtype
    transitions, start, end, emissions = (
        ops.cast(ops.convert_to_tensor(x), dtype) for x in (transitions, start, end, emissions)
    )
    if mask is None:
        mask = ops.ones(ops.shape(emissions)[:2], dtype="bool")
    mask = ops.cast(mask, "bool")
    lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
    return emissions, mask, lengths, transitions, start, end


def _time_major_rest(emissions, mask):
    """Steps 1..L, time first, as one tensor [L, B, T + 1] whose last channel is the mask.

    One packed tensor because keras.ops.scan on TensorFlow fails for several inputs of unknown
    length. An extra padded step (mask 0, a no-op) is appended so the scan never has length 0.
    """
    steps = ops.concatenate([emissions, ops.cast(mask, emissions.dtype)[:, :, None]], axis=2)
    steps = ops.transpose(steps, (1, 0, 2))
    return ops.concatenate([steps[1:], ops.zeros_like(steps[:1])], axis=0)


def _unpack(step):
    return step[:, :-1], step[:, -1:] > 0.5


def crf_log_partition(emissions, mask, transitions, start, end):
    """log Z [B]: log-sum-exp of the scores of all tag paths (forward algorithm)."""
    emissions, mask, lengths, transitions, start, end = _prepare(emissions, mask, transitions, start, end)
    steps = ops.transpose(emissions, (1, 0, 2))
    step_masks = ops.transpose(mask, (1, 0))[:, :, None]
    length = ops.shape(steps)[0]

    def step(t, alpha):
        scores = ops.logsumexp(alpha[:, :, None] + transitions[None], axis=1) + steps[t]
        return t + 1, ops.where(step_masks[t], scores, alpha)

    # A while loop with maximum_iterations (not ops.scan or ops.fori_loop): TensorFlow can
    # only differentiate a loop inside an XLA-compiled step when its trip count is bounded.
    _, alpha = ops.while_loop(
        lambda t, alpha: t < length,
        step,
        (1, start[None, :] + steps[0]),
        maximum_iterations=length,
    )
    log_z = ops.logsumexp(alpha + end[None, :], axis=1)
    return ops.where(lengths > 0, log_z, ops.zeros_like(log_z))


def crf_sequence_score(emissions, tags, mask, transitions, start, end):
    """score(y) [B] of the given tag paths; tags at padded steps are ignored."""
    emissions, mask, lengths, transitions, start, end = _prepare(emissions, mask, transitions, start, end)
    num_tags = ops.shape(transitions)[0]
    weights = ops.cast(mask, emissions.dtype)
    tags = ops.where(mask, ops.cast(tags, "int32"), 0)
    emitted = ops.take_along_axis(emissions, tags[:, :, None], axis=2)[:, :, 0]
    score = ops.sum(emitted * weights, axis=1)
    pair_index = tags[:, :-1] * num_tags + tags[:, 1:]
    moved = ops.take(ops.reshape(transitions, (-1,)), pair_index)
    score = score + ops.sum(moved * weights[:, 1:], axis=1)
    last = ops.maximum(lengths - 1, 0)
    last_tags = ops.take_along_axis(tags, last[:, None], axis=1)[:, 0]
    boundary = ops.take(start, tags[:, 0]) + ops.take(end, last_tags)
    return score + ops.where(lengths > 0, boundary, ops.zeros_like(boundary))


def crf_log_likelihood(emissions, tags, mask, transitions, start, end):
    """log p(tags | emissions) [B] = score(tags) - log Z.

    Args:
        emissions: float [B, L, T] scores of each tag at each step.
        tags: int [B, L] gold tag ids (any value at padded steps).
        mask: bool [B, L], True on real steps, right-padded (None: no padding).
        transitions: [T, T], transitions[i, j] scores tag i followed by tag j.
        start, end: [T] scores of the first and the last tag.
    """
    score = crf_sequence_score(emissions, tags, mask, transitions, start, end)
    return score - crf_log_partition(emissions, mask, transitions, start, end)


def crf_nll_loss(emissions, tags, mask, transitions, start, end):
    """Mean negative log-likelihood over the batch (a scalar to minimise)."""
    return -ops.mean(crf_log_likelihood(emissions, tags, mask, transitions, start, end))


def viterbi_decode(emissions, mask, transitions, start, end):
    """The best tag path per sequence: (tags int32 [B, L], scores [B]); padded steps get 0."""
    emissions, mask, lengths, transitions, start, end = _prepare(emissions, mask, transitions, start, end)
    num_tags = ops.shape(transitions)[0]
    alpha = start[None, :] + emissions[:, 0]
    rest = _time_major_rest(emissions, mask)
    identity = ops.broadcast_to(ops.arange(num_tags, dtype="int32")[None, :], ops.shape(alpha))

    def forward(carry, inputs):
        emission, step_mask = _unpack(inputs)
        best, _ = carry
        candidates = best[:, :, None] + transitions[None]
        scores = ops.max(candidates, axis=1) + emission
        pointers = ops.cast(ops.argmax(candidates, axis=1), "int32")
        best = ops.where(step_mask, scores, best)
        pointers = ops.where(step_mask, pointers, identity)  # padding keeps the tag
        return (best, pointers), (best, pointers)

    (alpha, _), (_, pointers) = ops.scan(forward, (alpha, identity), rest)
    final = alpha + end[None, :]
    best_scores = ops.max(final, axis=1)
    last_tag = ops.cast(ops.argmax(final, axis=1), "int32")

    def backward(tag, step_pointers):
        previous = ops.take_along_axis(step_pointers, tag[:, None], axis=1)[:, 0]
        return previous, tag

    first_tag, later_tags = ops.scan(backward, last_tag, pointers, reverse=True)
    tags = ops.concatenate([first_tag[None], later_tags[:-1]], axis=0)
    tags = ops.where(mask, ops.transpose(tags, (1, 0)), 0)
    best_scores = ops.where(lengths > 0, best_scores, ops.zeros_like(best_scores))
    return tags, best_scores


def nbest_viterbi_decode(emissions, mask, transitions, start, end, k):
    """The k best tag paths per sequence, best first: (tags int32 [B, k, L], scores float32 [B, k]).

    Runs in numpy (decode time only): a k-best Viterbi that keeps, for every step and tag, the
    k best partial paths ending there. When a sequence has fewer than k paths, the missing
    ones get score -inf and tags 0; padded steps get tag 0 (an empty sequence has one path,
    of score 0).
    """
    if int(k) < 1:
        raise ValueError(f"k must be a positive integer, received k={k}")
    emissions = np.asarray(ops.convert_to_numpy(emissions), dtype=np.float64)
    batch, length, num_tags = emissions.shape
    mask = np.ones((batch, length), bool) if mask is None else np.asarray(ops.convert_to_numpy(mask)).astype(bool)
    transitions, start, end = (np.asarray(ops.convert_to_numpy(w), dtype=np.float64) for w in (transitions, start, end))
    all_tags = np.zeros((batch, k, length), np.int32)
    all_scores = np.full((batch, k), -np.inf, np.float32)
    for b in range(batch):
        n = int(mask[b].sum())
        if n == 0:
            all_scores[b, 0] = 0.0
            continue
        paths = _kbest_one(emissions[b, :n], transitions, start, end, k)
        for rank, (score, path) in enumerate(paths):
            all_scores[b, rank] = score
            all_tags[b, rank, :n] = path
    return all_tags, all_scores


def _kbest_one(emissions, transitions, start, end, k):
    """[(score, path)] of the k best paths of one unpadded sequence [n, T], best first."""
    n, num_tags = emissions.shape
    # scores[j, r]: the r-th best partial path ending in tag j; -inf where there is none
    scores = np.full((num_tags, k), -np.inf)
    scores[:, 0] = start + emissions[0]
    pointers = np.zeros((n, num_tags, k), np.int64)  # previous (tag * k + rank)
    for t in range(1, n):
        candidates = (scores[:, :, None] + transitions[:, None, :]).reshape(num_tags * k, num_tags)
        order = np.argsort(-candidates, axis=0, kind="stable")[:k]
        scores = np.take_along_axis(candidates, order, axis=0).T + emissions[t][:, None]
        pointers[t] = order.T
    final = (scores + end[:, None]).reshape(-1)
    paths = []
    for flat in np.argsort(-final, kind="stable")[:k]:
        if np.isneginf(final[flat]):
            break
        tag, rank = divmod(int(flat), k)
        path = [tag]
        for t in range(n - 1, 0, -1):
            tag, rank = divmod(int(pointers[t, tag, rank]), k)
            path.append(tag)
        paths.append((float(final[flat]), path[::-1]))
    return paths


@keras.saving.register_keras_serializable(package="textlstm")
class CRF(keras.layers.Layer):
    """Transition scores of a linear-chain CRF; calling it Viterbi-decodes emissions into tags.

    The layer owns `transitions [T, T]` (from tag i to tag j), `start_transitions [T]` and
    `end_transitions [T]`. Training uses `layer.loss(emissions, tags, mask)` (mean negative
    log-likelihood); the call returns the best tag ids so `model.predict` yields tags. It
    computes in float32 unless given another `dtype`, because log-sum-exp in float16 overflows.

    Args:
        num_tags: number of tags T (the tag vocabulary size, padding id 0 included).

    Call arguments:
        emissions: float tensor [B, L, T] of per-step tag scores.
        mask: optional bool tensor [B, L] (Keras passes it from `mask_zero` embeddings).

    Example:
        >>> tags = CRF(num_tags=5)(keras.random.normal((2, 7, 5)))
        >>> keras.ops.shape(tags)
        (2, 7)

    Reference: Lample et al. (2016), "Neural Architectures for Named Entity Recognition".
    """

    def __init__(self, num_tags, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if int(num_tags) < 1:
            raise ValueError(f"num_tags must be a positive integer, received num_tags={num_tags}")
        self.num_tags = int(num_tags)
        self.supports_masking = True

    def build(self, input_shape=None):
        initializer = keras.initializers.RandomUniform(-0.1, 0.1)
        self.transitions = self.add_weight(
            shape=(self.num_tags, self.num_tags), initializer=initializer, name="transitions"
        )
        self.start_transitions = self.add_weight(
            shape=(self.num_tags,), initializer=initializer, name="start_transitions"
        )
        self.end_transitions = self.add_weight(shape=(self.num_tags,), initializer=initializer, name="end_transitions")

    def _crf_weights(self):
        return self.transitions, self.start_transitions, self.end_transitions

    def call(self, emissions, mask=None):
        tags, _ = viterbi_decode(emissions, mask, *self._crf_weights())
        return tags

    def compute_output_spec(self, emissions, mask=None):
        return keras.KerasTensor(emissions.shape[:-1], dtype="int32")

    def compute_mask(self, emissions, mask=None):
        return mask

    def log_likelihood(self, emissions, tags, mask=None):
        """log p(tags | emissions) per sequence [B]."""
        return crf_log_likelihood(emissions, tags, mask, *self._crf_weights())

    def loss(self, emissions, tags, mask=None):
        """Mean negative log-likelihood over the batch."""
        return crf_nll_loss(emissions, tags, mask, *self._crf_weights())

    def decode(self, emissions, mask=None):
        """(best tags [B, L], their scores [B])."""
        return viterbi_decode(emissions, mask, *self._crf_weights())

    def nbest(self, emissions, mask=None, k=3):
        """k best (tags [B, k, L], scores [B, k]), computed in numpy."""
        return nbest_viterbi_decode(emissions, mask, *self._crf_weights(), k=k)

    def get_config(self):
        config = super().get_config()
        config.update({"num_tags": self.num_tags})
        return config
