"""`textlstm generate`: sample text from a trained char LM, streaming as it comes.

The prompt primes the recurrent state one character at a time; sampling then continues
from that state in compiled chunks (never re-running the prefix), each chunk's
characters written out as soon as it is done. Options not given come from the run's
recipe (`[decode]`); the unknown entry of the vocabulary is never sampled.

A backward LM (`data.direction = "backward"`) reads the prompt as the END of the text and
generates leftwards: it is primed with the prompt reversed, and what it samples is turned
the right way round once all of it is there (the text before the prompt is only known
then), so a backward run yields its text in one piece at the end instead of streaming.
"""

import numpy as np
import tensorflow as tf

from textlstm.charlm.corpus import is_backward, load_vocabulary, reading_order
from textlstm.charlm.model import DEFAULTS, CharStepper
from textlstm.decoding.samplers import choose_sampler, compiled, fresh_seed, sample_sequence
from textlstm.families import CHARLM
from textlstm.models import load_best_or_last
from textlstm.rundir import RunDir
from textlstm.schema import check_value

CHUNK = 64  # characters per compiled call when streaming: small enough to look live


def load_char_lm(run_path, checkpoint=None):
    """`(model, vocab)` of a char LM run directory: its best checkpoint (else the last; or the one
    `checkpoint` names, see `textlstm.checkpoints`), and its characters or, for subword units, its
    pieces (`corpus.load_vocabulary`)."""
    run = RunDir.open(run_path, CHARLM)
    vocab = load_vocabulary(run, run.read_recipe(DEFAULTS)["data"])
    return load_best_or_last(run, checkpoint=checkpoint), vocab


def load_generator(run_path):
    """`(stepper, vocab)` from a run directory."""
    model, vocab = load_char_lm(run_path)
    return CharStepper(model), vocab


def _prime(stepper, prompt_ids, batch_size):
    """Run the prompt through the model; return (last prompt token, state after the rest)."""
    state = stepper.initial_state(batch_size)
    prompt = tf.constant(prompt_ids, dtype=tf.int32)
    for_each_sample = tf.tile(prompt[None, :], [batch_size, 1])
    state = _feed(stepper, for_each_sample[:, :-1], state) if len(prompt_ids) > 1 else state
    return for_each_sample[:, -1], state


def _feed(stepper, tokens, state):
    """State after feeding `tokens [B, T]`; compiled once per stepper (shapes may vary)."""

    def make():
        @tf.function(reduce_retracing=True)
        def run(tokens, state):
            for t in tf.range(tf.shape(tokens)[1]):
                _, state = stepper(tokens[:, t], state)
            return state

        return run

    return compiled(("feed", stepper), make)(tokens, state)


def decoding_options(
    decode, length=None, sampler=None, temperature=None, top_k=None, top_p=None, seed=None, num_samples=1
):
    """`(length, num_samples, chooser, seed, drawn)` from the given options over a recipe's `[decode]`.

    Every value is checked against `textlstm.schema`; see `choose_sampler` for how the options
    pick the sampler. Without `seed` a fresh one is drawn (`drawn` is then True, except for the
    greedy sampler, which ignores the seed).
    """
    length = check_value(CHARLM, "decode.length", decode["length"] if length is None else length)
    num_samples = check_value(CHARLM, "generate.num_samples", num_samples)
    name, chooser = choose_sampler(decode, sampler, temperature, top_k, top_p)
    drawn = seed is None and name != "greedy"  # greedy ignores the seed: none to report
    seed = check_value(CHARLM, "generate.seed", fresh_seed() if seed is None else seed)
    return length, num_samples, chooser, seed, drawn


def sample_chunks(stepper, vocab, prompt, length, chooser, seed, num_samples=1, chunk=None, backward=False):
    """Token id arrays `[num_samples, n]` of the text after `prompt`, chunk by chunk (ids in
    the LM's reading order: for a `backward` LM the prompt's ids are fed reversed and the ids
    come leftwards).

    The prompt primes the state; each chunk of `chunk` ids (all `length` at once when
    None) is one compiled sampling call that carries the state on. The seed of each
    id depends only on its position, so chunking never changes the text. The
    vocabulary's unknown entry (for pieces: every control piece) is never sampled.
    """
    prompt_ids = vocab.encode(prompt)
    token, state = _prime(stepper, reading_order(prompt_ids, backward), num_samples)
    done = 0
    while done < length:
        size = min(chunk or length, length - done)
        tokens, token, state = sample_sequence(
            stepper,
            token,
            state,
            chooser,
            size,
            seed,
            offset=done,
            jit_compile=True,
            banned_ids=tuple(vocab.banned_ids),
        )
        done += size
        yield np.asarray(tokens)


def text_chunks(stepper, vocab, prompt, length, chooser, seed, num_samples=1, chunk=None, backward=False):
    """Lists of `num_samples` generated strings, the right way round, chunk by chunk
    (`sample_chunks`); a backward LM is primed with `prompt` reversed and yields one list at
    the end: the text that comes before the prompt."""
    chunks = sample_chunks(
        stepper, vocab, prompt, length, chooser, seed, num_samples, None if backward else chunk, backward
    )
    decoders = [vocab.stream_decoder() for _ in range(num_samples)]  # pieces: a character may span two chunks
    for tokens in chunks:
        yield [decode(reading_order(row, backward)) for decode, row in zip(decoders, np.asarray(tokens))]


def with_prompt(prompt, text, backward=False):
    """The whole text the right way round: the prompt then the text, or for a backward LM the
    text then the prompt (the prompt is the end)."""
    return text + prompt if backward else prompt + text


def generate(
    run_path,
    prompt="\n",
    length=None,
    sampler=None,
    temperature=None,
    top_k=None,
    top_p=None,
    seed=None,
    num_samples=1,
    stream=None,
    warn=None,
):
    """Generate `num_samples` texts of `length` characters (pieces for a subword LM) after `prompt`.

    Every option left as None comes from the run's recipe (`decode.length`, `decode.sampler`,
    `decode.temperature`, `decode.top_k`, `decode.top_p`); see
    `textlstm.decoding.samplers.choose_sampler` for how given options pick the sampler and
    which combinations are refused. Without `seed` a fresh one is drawn and reported through
    `warn` as "seed: N", so the text can be made again. The vocabulary's unknown entry is never
    sampled. With `stream` (a text file object) and one sample, the prompt and then the
    characters are written as they come. (`textlstm.api.CharLM` does the same from a model
    loaded once.)

    Returns the list of generated texts (without the prompt).
    Raises `UserError` for an option out of its range (`textlstm.schema`) or a conflicting one.
    """
    recipe = RunDir.open(run_path, CHARLM).read_recipe(DEFAULTS)
    decode, backward = recipe["decode"], is_backward(recipe)
    length, num_samples, chooser, seed, drawn = decoding_options(
        decode, length, sampler, temperature, top_k, top_p, seed, num_samples
    )
    stepper, vocab = load_generator(run_path)
    if drawn and warn:  # once the model is loaded: a failed call prints only its error
        warn(f"seed: {seed}")
    prompt = prompt or "\n"
    unknown = vocab.unknown_chars(prompt)
    if unknown and warn:
        warn(f"warning: prompt characters not in the vocabulary, read as unknown: {''.join(unknown)!r}")
    streaming = stream is not None and num_samples == 1
    if streaming and not backward:
        stream.write(prompt)
    pieces = []
    for texts in text_chunks(
        stepper, vocab, prompt, length, chooser, seed, num_samples, CHUNK if stream else None, backward
    ):
        pieces.append(texts)
        if streaming:
            stream.write(texts[0])
            stream.flush()
    if streaming:
        stream.write((prompt if backward else "") + "\n")
    return ["".join(parts) for parts in zip(*pieces)]
