"""TensorFlow SavedModels with named serving signatures that need only TensorFlow to run.

Each kind gets a `tf.Module` holding the Keras model (its variables) and the vocabularies as
`tf.lookup` tables, and one signature:

- char LM, `generate`: `prompt` string[B], `length` int32, `temperature` float32, `seed`
  int32 -> `text` string[B]. The prompt primes the state (rows of different lengths are
  masked), then the temperature-sampling loop runs inside the graph, XLA-compiled as in
  textlstm, with the seed of character i derived from `(seed, i)` by the same stateless
  ops and the unknown entry never sampled: the same prompt, length, temperature and seed
  give textlstm's text (`sampler="temperature"`). `length` and `temperature` outside the
  ranges textlstm's own options take (`decode.length`, `decode.temperature` in
  `textlstm.schema`; NaN included) raise InvalidArgumentError naming the input and range.
- tagger, `tag`: `sentences` string[B] (whitespace tokens) -> `tags` string[B] (one tag per
  token, space-separated). Word and character lookup (with the lowercase fallback of a
  vocabulary extended from a vectors file), the `data.max_len` chunks, Viterbi and the
  conversion to the training file's entity scheme all run in the graph.
- translator, `translate`: `source_ids` int32[B, L] (SentencePiece ids of the source model,
  0-padded, no BOS/EOS) -> `target_ids` int32[B, T] (0 after the end), `lengths` int32[B],
  `scores` float32[B]: the encoder and the batched beam search (beam size fixed at export)
  in the graph; an empty batch gives empty outputs. The SentencePiece models are in the
  SavedModel's assets/ (client code in the README), because subword encoding inside a graph needs tensorflow-text.

Reference: the SavedModel format and `tf.saved_model.save` (TensorFlow guide "Using the
SavedModel format"); OpenNMT-tf's exporter does the same for its models.
"""

import json
import pathlib
import shutil

import numpy as np
import tensorflow as tf

from textlstm.decoding.samplers import TemperatureSampler, _sampling_loop
from textlstm.errors import TextlstmError
from textlstm.schema import CHARLM


def _string_table(keys, default):
    keys = tf.constant(list(keys), tf.string)
    values = tf.range(len(keys), dtype=tf.int32)
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), default_value=default)


def seed_pair(seed):
    """The [2] int32 stateless seed textlstm derives from a Python integer, for an int32 tensor."""
    seed = tf.cast(seed, tf.int32)
    low = tf.bitwise.bitwise_and(seed, 0x7FFFFFFF)
    high = tf.where(seed < 0, tf.constant(0x7FFFFFFF, tf.int32), tf.constant(0, tf.int32))
    return tf.stack([low, high])


def _refuse_outside(name, value, spec):
    """An op that raises InvalidArgumentError "NAME must be RANGE, got VALUE" unless `value`
    (a scalar tensor) lies in the closed range of the `textlstm.schema` declaration `spec`;
    NaN is outside every range."""
    inside = (value >= spec.low) & (value <= spec.high)
    return tf.debugging.Assert(inside, [f"{name} must be {spec.describe()}, got", value], name=f"check_{name}")


def _buffer_size(length):
    """`samplers.capacity` in the graph: the power of two >= length (>= 1), so the XLA sampling
    loop compiles once per power of two, not once per length."""
    bits = tf.math.ceil(tf.math.log(tf.cast(tf.maximum(length, 1), tf.float64)) / np.log(2.0))
    return tf.maximum(tf.cast(tf.pow(tf.constant(2.0, tf.float64), bits), tf.int32), length)


class CharLMModule(tf.Module):
    def __init__(self, lm):
        super().__init__()
        self.model = lm.model
        self.stepper = lm.stepper
        self.char_table = _string_table(lm.vocab.chars, lm.vocab.unknown_id)
        self.chars = tf.constant(lm.vocab.chars)
        unknown_id = int(lm.vocab.unknown_id)

        @tf.function(jit_compile=True)
        def sample(start, state, length, seed, temperature, size):
            def sampler(logits, step_seed):
                # textlstm's own sampler (Gumbel-max on Philox bits), so a seed gives the same
                # text here as in `generate`
                return TemperatureSampler.draw(logits, step_seed, temperature)

            banned = (unknown_id,)  # as textlstm: the unknown entry is never sampled
            tokens, _, _ = _sampling_loop(
                self.stepper, sampler, banned, start, state, length, seed, tf.constant(0), size
            )
            return tokens

        self._sample = sample

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="prompt"),
            tf.TensorSpec([], tf.int32, name="length"),
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="seed"),
        ]
    )
    def generate(self, prompt, length, temperature, seed):
        checks = [
            _refuse_outside("length", length, CHARLM["decode.length"]),
            _refuse_outside("temperature", temperature, CHARLM["decode.temperature"]),
        ]
        with tf.control_dependencies(checks):
            return self._generate(prompt, tf.identity(length), tf.identity(temperature), seed)

    def _generate(self, prompt, length, temperature, seed):
        prompt = tf.where(tf.equal(prompt, ""), tf.constant("\n"), prompt)
        ids = self.char_table.lookup(tf.strings.unicode_split(prompt, "UTF-8", errors="replace"))
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        ids = ids.to_tensor()
        batch = tf.shape(ids)[0]
        state = self.stepper.initial_state(batch)
        for t in tf.range(tf.shape(ids)[1] - 1):  # feed all but each row's last prompt character
            tf.autograph.experimental.set_loop_options(
                shape_invariants=[(state, tf.nest.map_structure(lambda s: tf.TensorShape([None, s.shape[1]]), state))]
            )
            _, new_state = self.stepper(ids[:, t], state)
            keep = (t < lengths - 1)[:, None]
            state = tf.nest.map_structure(lambda new, old, keep=keep: tf.where(keep, new, old), new_state, state)
        last = tf.gather(ids, lengths - 1, batch_dims=1)
        tokens = self._sample(last, state, length, seed_pair(seed), temperature, _buffer_size(length))[:, :length]
        return {"text": tf.strings.reduce_join(tf.gather(self.chars, tokens), axis=1)}


def _round_up(x, multiple):
    return (x + multiple - 1) // multiple * multiple


def scheme_table(tag_items, tagset):
    """Output tag string for each (previous, current, next) predicted tag id, flattened.

    Converting entity tags between schemes (`tagger.schemes.convert`) reads spans the
    conlleval way, and whether a token starts or ends a span depends only on its neighbours,
    so the converted tag at a position is a function of the three tags around it. Index T
    (one past the tag ids) stands for the sentence boundary, read as "O".
    """
    from textlstm.tagger.tag import to_file_scheme

    size = len(tag_items)
    outside = size  # the boundary
    table = np.empty((size + 1, size + 1, size + 1), dtype=object)
    names = ["O"] + list(tag_items)[1:] + ["O"]  # padding (never predicted) and the boundary read as O
    for prev in range(size + 1):
        for cur in range(size):
            for nxt in range(size + 1):
                window = [names[i] for i in (prev, cur, nxt) if i != outside or i == cur]
                middle = 0 if prev == outside else 1
                table[prev, cur, nxt] = to_file_scheme(window, tagset)[middle]
        table[prev, size, :] = "O"
    return table.reshape(-1).tolist()


class TaggerModule(tf.Module):
    def __init__(self, tagger):
        super().__init__()
        from textlstm.tagger.model import decode_tags

        run = tagger  # a textlstm.api.Tagger: vocabs, recipe, model, tagset
        words, chars, tags = run.vocabs
        data = run.recipe["data"]
        self.model = run.model
        self._decode_tags = decode_tags
        self.max_len, self.max_word_chars = int(data["max_len"]), int(data["max_word_chars"])
        self.lowercase, self.lowercase_fallback = bool(words.lowercase), bool(words.lowercase_fallback)
        self.word_unknown = words.unk_id if words.unknown else 0
        self.word_table = _string_table(words.items, -1)  # -1: not found (then lowercased, then unknown)
        self.char_table = _string_table(chars.items, chars.unk_id if chars.unknown else 0)
        self.num_tags = len(tags)
        entities = bool(run.tagset.get("entities")) and run.tagset["model_scheme"] != run.tagset["file_scheme"]
        self.output_tags = tf.constant(scheme_table(tags.items, run.tagset) if entities else tags.items)
        self.convert = entities

    def lookup_words(self, words):
        """Word ids as `Vocabulary.index` gives them: the normal form's, else (with the
        lowercase fallback of vectors-file words) the lowercase form's, else unknown."""
        ids = self.word_table.lookup(tf.strings.lower(words, encoding="utf-8") if self.lowercase else words)
        if self.lowercase_fallback:
            ids = tf.where(ids < 0, self.word_table.lookup(tf.strings.lower(words, encoding="utf-8")), ids)
        return tf.where(ids < 0, tf.constant(self.word_unknown, tf.int32), ids)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")])
    def tag(self, sentences):
        tokens = tf.strings.split(sentences)  # [B, (n)] whitespace tokens
        counts = tf.cast(tokens.row_lengths(), tf.int32)
        flat = tokens.flat_values
        word_ids = self.lookup_words(flat)
        letters = tf.strings.unicode_split(flat, "UTF-8", errors="replace")[:, : self.max_word_chars]
        char_ids = self.char_table.lookup(letters).to_tensor()
        # chunks of at most max_len tokens, in order; chunk c holds tokens of one sentence
        chunks_per_row = (counts + self.max_len - 1) // self.max_len
        first_chunk = tf.cumsum(chunks_per_row, exclusive=True)
        position = tokens.with_flat_values(tf.ones_like(word_ids))
        position = tf.cast(tf.math.cumsum(position, axis=1).flat_values - 1, tf.int32)
        row = tf.cast(tokens.value_rowids(), tf.int32)
        chunk = tf.gather(first_chunk, row) + position // self.max_len
        total = tf.reduce_sum(chunks_per_row)
        length = _round_up(tf.maximum(tf.reduce_max(tf.concat([counts, [1]], 0)), 1), 8)
        length = tf.minimum(length, _round_up(self.max_len, 8))
        width = _round_up(tf.maximum(tf.shape(char_ids)[1], 1), 8)
        words = tf.RaggedTensor.from_value_rowids(word_ids, chunk, nrows=total).to_tensor()
        words = tf.pad(words, [[0, 0], [0, length - tf.shape(words)[1]]])
        chars_padded = tf.pad(char_ids, [[0, 0], [0, width - tf.shape(char_ids)[1]]])
        chars = tf.RaggedTensor.from_value_rowids(chars_padded, chunk, nrows=total).to_tensor()
        chars = tf.pad(chars, [[0, 0], [0, length - tf.shape(chars)[1]], [0, 0]])
        emissions = self.model([words, chars], training=False)
        tag_ids = self._decode_tags(self.model, emissions, tf.not_equal(words, 0))
        flat_tags = tf.boolean_mask(tag_ids, tf.not_equal(words, 0))  # chunk order = token order
        per_sentence = tf.RaggedTensor.from_row_lengths(flat_tags, tf.cast(counts, tf.int64))
        if self.convert:
            boundary = tf.fill([tf.shape(sentences)[0], 1], self.num_tags)
            padded = tf.concat([boundary, per_sentence, boundary], axis=1)
            prev, nxt = padded[:, :-2], padded[:, 2:]
            size = self.num_tags + 1
            index = (prev * size + per_sentence) * size + nxt
        else:
            index = per_sentence
        strings = tf.ragged.map_flat_values(tf.gather, self.output_tags, index)
        return {"tags": tf.strings.reduce_join(strings, axis=1, separator=" ")}


class TranslatorModule(tf.Module):
    def __init__(self, translator, beam_size, length_penalty, max_length):
        super().__init__()
        from textlstm.decoding import beam_search
        from textlstm.seq2seq.subwords import BOS_ID, EOS_ID, UNK_ID

        self.model = translator.model
        self._beam_search = beam_search
        self.unknown_id = UNK_ID
        self.options = dict(
            start_id=BOS_ID, end_id=EOS_ID, beam_size=beam_size, max_length=max_length, length_penalty=length_penalty
        )

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="source_ids")])
    def translate(self, source_ids):
        from textlstm.seq2seq.translate import LENGTH_STEP

        rows = tf.shape(source_ids)[0]
        # as textlstm: lengths padded to a multiple of 8, a lone row decoded beside a copy of itself;
        # an empty batch decodes two rows of one unknown subword, and none of them is returned
        width = _round_up(tf.maximum(tf.shape(source_ids)[1], 1), LENGTH_STEP)
        source = tf.pad(source_ids, [[0, 0], [0, width - tf.shape(source_ids)[1]]])
        filler = tf.pad(tf.fill([2, 1], self.unknown_id), [[0, 0], [0, width - 1]])
        source = tf.concat([source, source[:1], filler], 0)[: tf.maximum(rows, 2)]
        state, memory = self.model.encode(source)
        o = self.options
        tokens, scores, lengths = self._beam_search(
            self.model.decode_step,
            state,
            tf.shape(source)[0],
            o["start_id"],
            o["end_id"],
            o["beam_size"],
            o["max_length"],
            o["length_penalty"],
            1,
            constants=memory,
        )[:3]
        lengths = tf.cast(lengths[:rows, 0], tf.int32)
        ids = tf.cast(tokens[:rows, 0], tf.int32)
        ids = tf.where(tf.range(tf.shape(ids)[1])[None, :] < lengths[:, None], ids, 0)
        return {"target_ids": ids, "lengths": lengths, "scores": scores[:rows, 0]}


def export_saved_model(model, out_dir, beam_size=None, length_penalty=None, max_length=None):
    """Write `model` (a `textlstm.api` object) as a SavedModel into the directory `out_dir`
    (which must be new or empty; the caller makes it atomic). Returns the signature name: the
    model's `endpoint` ("generate", "tag", "translate"), which also picks the module to build,
    so this module needs no import of the API classes."""
    out_dir = pathlib.Path(out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()):  # never mixed into a run or another export
        raise TextlstmError(
            f"{out_dir} is not empty; export_saved_model writes into a new or empty directory "
            "(textlstm.export.export replaces a previous export)"
        )
    name = model.endpoint
    if name == "generate":
        module = CharLMModule(model)
        signature = module.generate
    elif name == "tag":
        module = TaggerModule(model)
        signature = module.tag
    elif name == "translate":
        decode = model.recipe["decode"]
        module = TranslatorModule(
            model,
            beam_size or decode["beam_size"],
            decode["length_penalty"] if length_penalty is None else length_penalty,
            max_length or decode["max_length"],
        )
        signature = module.translate
    else:
        raise TextlstmError(f"cannot export a {type(model).__name__}; expected a textlstm.load() object")
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel("ERROR")  # TensorFlow warns that lookup-table initializers have no CollectionDef form
    try:
        tf.saved_model.save(module, str(out_dir), signatures={name: signature})
    finally:
        logger.setLevel(level)
    if name == "translate":
        for path in sorted(model.run_dir.glob("*.model")):  # SentencePiece models, for client code
            shutil.copy2(path, out_dir / "assets" / path.name)
    info = {"kind": model.kind, "signature": name, "source_run": str(model.run_dir), "quantize": model.quantize}
    if name == "translate":
        info.update({k: v for k, v in module.options.items()})
    (out_dir / "assets").mkdir(exist_ok=True)
    (out_dir / "assets" / "textlstm_export.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return name
