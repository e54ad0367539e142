"""`textlstm generate`: sample text from a trained char LM, streaming as it comes.

The prompt primes the recurrent state one character at a time; sampling then continues
from that state in compiled chunks (never re-running the prefix), each chunk's
characters written out as soon as it is done.
"""

import numpy as np
import tensorflow as tf

from textlstm.charlm.corpus import CharVocabulary
from textlstm.charlm.model import CharStepper
from textlstm.charlm.train import KIND, VOCAB_FILE
from textlstm.decoding.samplers import compiled, get_sampler, sample_sequence
from textlstm.errors import UserError
from textlstm.rundir import RunDir
from textlstm.training import load_best_or_last

CHUNK = 64  # characters per compiled call when streaming: small enough to look live


def load_char_lm(run_path):
    """`(model, vocab)` of a char LM run directory: its best checkpoint (else the last)."""
    run = RunDir.open(run_path, KIND)
    return load_best_or_last(run), CharVocabulary.load(run.file(VOCAB_FILE))


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


def sample_chunks(stepper, vocab, prompt, length, chooser, seed, num_samples=1, chunk=None):
    """Token id arrays `[num_samples, n]` of the text after `prompt`, chunk by chunk.

    The prompt primes the state; each chunk of `chunk` characters (all `length` at once when
    None) is one compiled sampling call that carries the state on. The seed of each
    character depends only on its position, so chunking never changes the text.
    """
    token, state = _prime(stepper, vocab.encode(prompt), num_samples)
    done = 0
    while done < length:
        size = min(chunk or length, length - done)
        tokens, token, state = sample_sequence(stepper, token, state, chooser, size, seed, offset=done,
                                               jit_compile=True)
        done += size
        yield np.asarray(tokens)


def make_chooser(sampler="temperature", temperature=1.0, top_k=40, top_p=0.95):
    """The sampler object for a sampler name and the options it uses (the others are ignored)."""
    options = {"temperature": {"temperature": temperature}, "top_k": {"k": top_k, "temperature": temperature},
               "top_p": {"p": top_p, "temperature": temperature}, "greedy": {}}
    if sampler not in options:
        raise UserError(f"unknown sampler {sampler!r}; choose one of {', '.join(options)}")
    return get_sampler(sampler, **options[sampler])


def generate(run_path, prompt="\n", length=500, sampler="temperature", temperature=1.0, top_k=40, top_p=0.95,
             seed=0, num_samples=1, stream=None, warn=None, loaded=None):
    """Generate `num_samples` texts of `length` characters after `prompt`.

    With `stream` (a text file object) and one sample, the prompt and then the characters
    are written as they come.
    Returns the list of generated texts (without the prompt). `loaded` is a `(stepper, vocab)`
    pair already loaded from `run_path` (the Python API keeps one, with its compiled loops).
    """
    if length <= 0:
        raise UserError(f"--length must be a positive number of characters, got {length}")
    if num_samples <= 0:
        raise UserError(f"--num-samples must be positive, got {num_samples}")
    chooser = make_chooser(sampler, temperature, top_k, top_p)
    stepper, vocab = loaded or load_generator(run_path)
    prompt = prompt or "\n"
    unknown = vocab.unknown_chars(prompt)
    if unknown and warn:
        warn(f"warning: prompt characters not in the vocabulary, read as unknown: {''.join(unknown)!r}")
    if stream is not None and num_samples == 1:
        stream.write(prompt)
    pieces = []
    for tokens in sample_chunks(stepper, vocab, prompt, length, chooser, seed, num_samples,
                                CHUNK if stream else None):
        pieces.append(tokens)
        if stream is not None and num_samples == 1:
            stream.write(vocab.decode(tokens[0]))
            stream.flush()
    if stream is not None and num_samples == 1:
        stream.write("\n")
    tokens = np.concatenate(pieces, axis=1)
    return [vocab.decode(row) for row in tokens]
