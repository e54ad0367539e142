"""Sentences as padded id arrays: chunking, length buckets, and the deterministic training stream.

A sentence longer than `max_len` tokens is cut into chunks of at most `max_len` tokens, each
an example of its own, for training and for tagging alike (tagging joins the chunks' tags
back), so no input is ever too long. A word longer than `max_word_chars` characters shows its
first characters only to the char features.

Training batches hold sentences of similar length (little padding, so little wasted work on
2 cores) and are a pure function of (seed, epoch): epoch e sorts the examples by length with
ties broken by a random draw of that epoch, cuts batches, and shuffles the batch order. The
batch at global step s is therefore the same however often training was resumed.
"""

import dataclasses
import functools

import numpy as np
import tensorflow as tf

from textlstm.training import batches_from_step

LENGTH_MULTIPLE = 8
TEXT_MULTIPLE = 16  # LM texts are padded to multiples of 16 characters: few shapes to compile


@dataclasses.dataclass
class Example:
    """One chunk of one sentence as ids; `tag_ids` is None for untagged input."""

    sentence: int  # index of the sentence it came from
    start: int  # position of its first token in that sentence
    word_ids: np.ndarray
    char_ids: list
    tag_ids: np.ndarray | None
    lm_inputs: list | None = None  # per char LM: (char ids [T], positions [len]) (`charlm_features`)
    lm_features: np.ndarray | None = None  # frozen char LMs: their features [len, D], computed once

    def __len__(self):
        return len(self.word_ids)


def chunk_bounds(length, max_len):
    """(start, end) of the chunks of a sentence of `length` tokens; one empty chunk for length 0."""
    if length == 0:
        return [(0, 0)]
    return [(start, min(start + max_len, length)) for start in range(0, length, max_len)]


def encode_sentences(sentences, word_vocab, char_vocab, tag_vocab=None, max_len=100, max_word_chars=20):
    """Examples (chunks) of the sentences; tags are encoded when `tag_vocab` is given.

    Sentences with no tokens give no example (their tag list stays empty).
    """
    examples = []
    for index, sentence in enumerate(sentences):
        if not sentence.tokens:
            continue
        for start, end in chunk_bounds(len(sentence.tokens), max_len):
            tokens = sentence.tokens[start:end]
            tags = None
            if tag_vocab is not None:
                tags = np.asarray(tag_vocab.encode(sentence.tags[start:end]), np.int32)
            examples.append(
                Example(
                    sentence=index,
                    start=start,
                    word_ids=np.asarray(word_vocab.encode(tokens), np.int32),
                    char_ids=[char_vocab.encode(token[:max_word_chars]) or [1] for token in tokens],
                    tag_ids=tags,
                )
            )
    return examples


def encode_untagged(sentences, vocabs, data_recipe, charlm=None):
    """Examples (chunks) of untagged sentences, with their char-LM inputs when the run has LMs
    (`charlm`: the run's `charlm_features.CharLMSet`)."""
    word_vocab, char_vocab = vocabs[0], vocabs[1]
    examples = encode_sentences(
        sentences, word_vocab, char_vocab, None, data_recipe["max_len"], data_recipe["max_word_chars"]
    )
    if charlm is not None and len(charlm):
        charlm.encode(examples, sentences)
    return examples


def _round_up(value, multiple):
    return -(-value // multiple) * multiple


def pad_batch(examples, rows=None):
    """`((words [B, L], chars [B, L, C], *char LM inputs), tags [B, L] or None)`, zero-padded.

    L and C are rounded up to multiples of 8 and B to `rows` (when given) with empty rows:
    the recurrent layers' CPU kernels are XLA-compiled once per shape, so a few shapes that
    repeat are much faster than a new shape for every batch. Examples with char-LM features
    add them ([B, L, D] float32); examples with char-LM inputs add them instead (`pad_lm_inputs`).
    """
    length = _round_up(max(len(example) for example in examples), LENGTH_MULTIPLE)
    width = _round_up(max(len(chars) for example in examples for chars in example.char_ids), LENGTH_MULTIPLE)
    rows = max(rows or 0, len(examples))
    words = np.zeros((rows, length), np.int32)
    chars = np.zeros((rows, length, width), np.int32)
    tags = None if examples[0].tag_ids is None else np.zeros((rows, length), np.int32)
    for row, example in enumerate(examples):
        words[row, : len(example)] = example.word_ids
        for position, char_ids in enumerate(example.char_ids):
            chars[row, position, : len(char_ids)] = char_ids
        if tags is not None:
            tags[row, : len(example)] = example.tag_ids
    return (words, chars) + lm_part(examples, rows, length), tags


def lm_part(examples, rows, length):
    """The char-LM inputs of a batch: (features,) if computed, else the LMs' ids and positions."""
    if examples[0].lm_features is not None:
        features = np.zeros((rows, length, examples[0].lm_features.shape[1]), np.float32)
        for row, example in enumerate(examples):
            features[row, : len(example)] = example.lm_features
        return (features,)
    if examples[0].lm_inputs is not None:
        return pad_lm_inputs(examples, rows, length)
    return ()


def pad_lm_inputs(examples, rows, length):
    """`(ids_0 [B, T0], positions_0 [B, L], ids_1, ...)`: each LM's text, right-padded to a
    multiple of 16 characters (with id 0; the LMs read left to right, so padding after the
    text changes no position read), and the character index each word's feature is read at."""
    tensors = []
    for k in range(len(examples[0].lm_inputs)):
        width = _round_up(max(len(example.lm_inputs[k][0]) for example in examples), TEXT_MULTIPLE)
        ids = np.zeros((rows, width), np.int32)
        positions = np.zeros((rows, length), np.int32)
        for row, example in enumerate(examples):
            text_ids, at = example.lm_inputs[k]
            ids[row, : len(text_ids)] = text_ids
            positions[row, : len(at)] = at
        tensors += [ids, positions]
    return tuple(tensors)


def batches_per_epoch(examples, batch_size):
    return -(-len(examples) // batch_size)


def epoch_batches(examples, batch_size, seed, epoch):
    """Lists of example indexes for one epoch: similar lengths together, batch order shuffled."""
    rng = np.random.default_rng([seed, epoch])
    lengths = np.asarray([len(example) for example in examples])
    order = np.lexsort((rng.random(len(examples)), lengths))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def batch_signature(examples):
    """The tf.data signature of `pad_batch`'s batches of these examples."""
    ints = tf.TensorSpec((None, None), tf.int32)
    inputs = (ints, tf.TensorSpec((None, None, None), tf.int32))
    if examples[0].lm_features is not None:
        inputs += (tf.TensorSpec((None, None, examples[0].lm_features.shape[1]), tf.float32),)
    elif examples[0].lm_inputs is not None:
        inputs += (ints, ints) * len(examples[0].lm_inputs)
    return inputs, ints


def training_batches(examples, batch_size, seed, start_step=0):
    """The endless tf.data stream of training batches from global step `start_step` on."""
    per_epoch = batches_per_epoch(examples, batch_size)

    def generate():
        one_epoch = functools.partial(epoch_batches, examples, batch_size, seed)
        for indexes in batches_from_step(start_step, per_epoch, one_epoch):
            yield pad_batch([examples[i] for i in indexes], rows=batch_size)

    return tf.data.Dataset.from_generator(generate, output_signature=batch_signature(examples)).prefetch(2)


def sorted_batches(examples, batch_size):
    """Lists of example indexes in length order (for evaluation and tagging).

    Examples whose char-LM features are computed per batch (they carry `lm_inputs` but no
    `lm_features`) are ordered by their LM text's length in characters, then tokens: the LMs
    step once per character of the longest text in a batch and cost most of the time. The one
    short batch (the remainder) holds the shortest examples and comes first, so the rows that
    pad it up to `batch_size` are short too. Each example's values do not depend on the order.
    """
    tokens = [len(example) for example in examples]
    if examples and examples[0].lm_inputs is not None and examples[0].lm_features is None:
        characters = [len(example.lm_inputs[0][0]) for example in examples]  # every LM reads the same text
        order = np.lexsort((tokens, characters))
    else:
        order = np.argsort(tokens, kind="stable")
    first = len(order) % batch_size or batch_size  # the remainder batch, first
    starts = [0, *range(first, len(order), batch_size)] if len(order) else []
    return [order[begin : begin + (first if begin == 0 else batch_size)] for begin in starts]


def evaluation_batches(examples, batch_size):
    """A finite tf.data set of every example once, length-sorted, for the validation loss."""
    batches = [
        pad_batch([examples[i] for i in indexes], rows=batch_size) for indexes in sorted_batches(examples, batch_size)
    ]
    dataset = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=batch_signature(examples))
    return dataset.apply(tf.data.experimental.assert_cardinality(len(batches)))
