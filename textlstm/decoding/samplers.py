"""Token choice from next-token logits, and the compiled loop that samples a sequence.

A sampler turns logits `[B, V]` into token ids `[B]`; the randomness comes from an
explicit stateless seed, so the same seed always gives the same tokens and the code runs
unchanged inside `tf.function` and XLA. `sample_sequence` drives any model through its
step contract `step(token_ids [B] int32, state) -> (logits [B, V], new_state)` and never
looks inside the model.

Example:
    >>> sampler = get_sampler("top_p", p=0.9, temperature=0.8)
    >>> tokens, last, state = sample_sequence(model.step, start, state, sampler, 64, seed=1)
    >>> tokens.shape
    TensorShape([8, 64])
"""

import collections
import dataclasses
import numbers
import secrets

import tensorflow as tf

from textlstm import schema
from textlstm.errors import ParameterError, UserError
from textlstm.layers.fusion import arranged_for_xla

_CACHE_SIZE = 16  # compiled loops kept per process; each holds one traced step function
_compiled_cache = collections.OrderedDict()


def compiled(key, make):
    """Return the `tf.function` cached under `key`, building it with `make()` once.

    `tf.function` retraces when given a new Python callable, and a bound method such as
    `model.step` is a new object on every attribute access; keying on the callable
    (bound methods compare equal by instance and function) keeps one trace per model.
    """
    function = _compiled_cache.get(key)
    if function is None:
        function = make()
        _compiled_cache[key] = function
        while len(_compiled_cache) > _CACHE_SIZE:
            _compiled_cache.popitem(last=False)
    else:
        _compiled_cache.move_to_end(key)
    return function


_DECLARED = {"temperature": schema.TEMPERATURE, "k": schema.TOP_K, "p": schema.TOP_P}  # decode.temperature, ...


def _check_number(name, value):
    """The sampler option `name` ("temperature", "k", "p") against the declaration of its
    `decode.*` key (`textlstm.settings`), with the one validator: one `UserError` line."""
    _DECLARED[name].check(f"sampler option '{name}'", value)


def _scaled(logits, temperature):
    logits = tf.cast(logits, tf.float32)
    if isinstance(temperature, float) and temperature == 1.0:
        return logits
    return logits / temperature  # a tensor temperature of 1 divides exactly too


def _draw(logits, seed):
    """One categorical draw per row, as int32 ids into the last axis of `logits`.

    The Gumbel-max trick: argmax(logits + G) with G = -log(-log(U)) is a draw from
    softmax(logits); entries of -inf are never drawn. U is built from raw Philox bits,
    which TensorFlow's kernels and XLA produce identically, so a seed gives the same
    tokens with and without `jit_compile` (`tf.random.stateless_categorical` does not:
    XLA draws its numbers differently). The logarithms may differ in the last bit
    between the two, which changes a draw only when two perturbed logits tie to ~1e-6.

    Reference: Gumbel, "Statistical Theory of Extreme Values", 1954; Maddison, Tarlow
    and Minka, "A* Sampling", NeurIPS 2014.
    """
    bits = tf.random.stateless_uniform(tf.shape(logits), seed, minval=None, maxval=None, dtype=tf.uint32, alg="philox")
    uniform = (tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) + 0.5) * (2.0**-24)  # in (0, 1)
    gumbel = -tf.math.log(-tf.math.log(uniform))
    return tf.argmax(logits + gumbel, axis=-1, output_type=tf.int32)


def _draw_among_first(ranked, k, seed):
    """`_draw` among the first `k` columns of `ranked` [B, V] (k a scalar tensor or int).

    The same ids as `_draw(ranked[:, :k], seed)`, with shapes that do not depend on `k`, so
    one compiled graph serves every k: Philox bits for shape [B, V] begin with the bits for
    [B, k] (the stream is laid out flat), so each kept entry takes its noise from where a
    [B, k] draw would have, and the columns past `k` are -inf.
    """
    shape = tf.shape(ranked)
    flat = tf.random.stateless_uniform(
        [shape[0] * shape[1]], seed, minval=None, maxval=None, dtype=tf.uint32, alg="philox"
    )
    columns = tf.range(shape[1])
    where = tf.minimum(tf.range(shape[0])[:, None] * k + columns[None, :], shape[0] * shape[1] - 1)
    uniform = (tf.cast(tf.bitwise.right_shift(tf.gather(flat, where), 8), tf.float32) + 0.5) * (2.0**-24)
    kept = tf.where(columns[None, :] < k, ranked, tf.constant(-float("inf")))
    return tf.argmax(kept - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int32)


def _top_k(logits, k):
    """(logits sorted high to low, their ids, k cut to the vocabulary) for a k that may be a tensor;
    ties keep the lower id first, as `tf.math.top_k` does."""
    order = tf.argsort(logits, axis=-1, direction="DESCENDING", stable=True)
    return tf.gather(logits, order, batch_dims=1), order, tf.minimum(tf.cast(k, tf.int32), tf.shape(logits)[-1])


class _Sampler:
    """What every sampler shares: its options as numbers, and a call that uses them.

    `draw(logits, seed, **numbers)` is the sampler's whole computation, written so that each
    number may be a Python value or a scalar tensor: the compiled sampling loop passes them as
    tensors, so one trace serves every temperature, k and p (`sample_sequence`).
    """

    def numbers(self):
        """The sampler's options by field name, e.g. `{"k": 5, "temperature": 0.8}`."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    def __call__(self, logits, seed):
        return self.draw(logits, seed, **self.numbers())


@dataclasses.dataclass(frozen=True)
class GreedySampler(_Sampler):
    """Always the most likely token (the lowest id among ties); ignores the seed."""

    @staticmethod
    def draw(logits, seed):
        del seed
        return tf.argmax(logits, axis=-1, output_type=tf.int32)


@dataclasses.dataclass(frozen=True)
class TemperatureSampler(_Sampler):
    """Sample from softmax(logits / temperature): below 1 sharpens, above 1 flattens.

    Args:
        temperature: positive float, default 1.0 (the model's own distribution).
    """

    temperature: float = 1.0

    def __post_init__(self):
        _check_number("temperature", self.temperature)

    @staticmethod
    def draw(logits, seed, temperature):
        return _draw(_scaled(logits, temperature), seed)


@dataclasses.dataclass(frozen=True)
class TopKSampler(_Sampler):
    """Sample among the `k` most likely tokens only.

    Args:
        k: integer >= 1; more than the vocabulary size means the whole vocabulary.
        temperature: positive float applied before the cut, default 1.0.
    """

    k: int = 10
    temperature: float = 1.0

    def __post_init__(self):
        _check_number("k", self.k)
        _check_number("temperature", self.temperature)

    @staticmethod
    def draw(logits, seed, k, temperature):
        ranked, order, k = _top_k(_scaled(logits, temperature), k)
        return tf.gather(order, _draw_among_first(ranked, k, seed), batch_dims=1)


@dataclasses.dataclass(frozen=True)
class TopPSampler(_Sampler):
    """Nucleus sampling: sample among the smallest set of top tokens with mass >= p.

    A token is kept when the probability of the tokens ranked above it is still below
    `p`, so the most likely token is always kept.

    Args:
        p: probability mass in (0, 1], default 0.9.
        temperature: positive float applied before the cut, default 1.0.

    Reference:
        Holtzman et al., "The Curious Case of Neural Text Degeneration", ICLR 2020.
    """

    p: float = 0.9
    temperature: float = 1.0

    def __post_init__(self):
        _check_number("p", self.p)
        _check_number("temperature", self.temperature)

    @staticmethod
    def draw(logits, seed, p, temperature):
        logits = _scaled(logits, temperature)
        order = tf.argsort(logits, axis=-1, direction="DESCENDING", stable=True)
        ranked = tf.gather(logits, order, batch_dims=1)
        mass_above = tf.math.cumsum(tf.nn.softmax(ranked), axis=-1, exclusive=True)
        kept = tf.where(mass_above < p, ranked, tf.constant(-float("inf")))
        return tf.gather(order, _draw(kept, seed), batch_dims=1)


@dataclasses.dataclass(frozen=True)
class TopKTopPSampler(_Sampler):
    """Top-k, then top-p: keep the `k` most likely tokens, then the nucleus of mass `p` among
    them (renormalised), and sample there. The order matters; this is the order of Hugging
    Face's `generate` and of keras-hub when both are set.

    Args:
        k: integer >= 1, default 40.
        p: probability mass in (0, 1], default 0.95.
        temperature: positive float applied before both cuts, default 1.0.
    """

    k: int = 40
    p: float = 0.95
    temperature: float = 1.0

    def __post_init__(self):
        TopKSampler(self.k, self.temperature)
        TopPSampler(self.p, self.temperature)

    @staticmethod
    def draw(logits, seed, k, p, temperature):
        ranked, order, k = _top_k(_scaled(logits, temperature), k)  # sorted, most likely first
        ranked = tf.where(tf.range(tf.shape(ranked)[-1])[None, :] < k, ranked, tf.constant(-float("inf")))
        mass_above = tf.math.cumsum(tf.nn.softmax(ranked), axis=-1, exclusive=True)  # within the top k
        kept = tf.where(mass_above < p, ranked, tf.constant(-float("inf")))
        return tf.gather(order, _draw_among_first(kept, k, seed), batch_dims=1)


SAMPLERS = {
    "greedy": GreedySampler,
    "temperature": TemperatureSampler,
    "top_k": TopKSampler,
    "top_p": TopPSampler,
    "top_k_top_p": TopKTopPSampler,
}

# What each sampler reads from a recipe's [decode] (and from the command line).
USES = {
    "greedy": (),
    "temperature": ("temperature",),
    "top_k": ("temperature", "top_k"),
    "top_p": ("temperature", "top_p"),
    "top_k_top_p": ("temperature", "top_k", "top_p"),
}
_FIELD = {"temperature": "temperature", "top_k": "k", "top_p": "p"}


def choose_sampler(defaults, sampler=None, temperature=None, top_k=None, top_p=None):
    """The sampler to use: what the caller gives (None = not given) over a recipe's `[decode]`.

    - No `sampler` named: both `top_k` and `top_p` give "top_k_top_p" (top-k, then top-p),
      one of them gives "top_k" or "top_p"; otherwise the recipe's `decode.sampler`, except that
      a `temperature` given to a greedy recipe means "temperature" sampling.
    - An option the sampler does not use is refused in one line (`greedy` with a temperature:
      greedy has none), never silently dropped.
    - Values not given come from `defaults` (`decode.temperature`, `decode.top_k`, `decode.top_p`);
      every value is checked against its declaration in `textlstm.schema`.

    Returns `(name, sampler)`.
    """
    given = {
        name: value
        for name, value in (("temperature", temperature), ("top_k", top_k), ("top_p", top_p))
        if value is not None
    }
    if sampler is None:
        if "top_k" in given and "top_p" in given:
            sampler = "top_k_top_p"
        elif "top_k" in given or "top_p" in given:
            sampler = "top_k" if "top_k" in given else "top_p"
        else:
            sampler = defaults.get("sampler", "temperature")
            if sampler == "greedy" and given:
                sampler = "temperature"
    sampler = schema.CHARLM["decode.sampler"].check("sampler", sampler)
    unused = [name for name in given if name not in USES[sampler]]
    if unused:
        fields = {f"unused{i}": (name, None, f"decode.{name}") for i, name in enumerate(unused)}
        raise ParameterError(
            "the {sampler} sampler uses no "
            + " and ".join("{" + field + "}" for field in fields)
            + ": give one or the other",
            sampler=sampler,
            **fields,
        )
    options = {}
    for name in USES[sampler]:
        value = given[name] if name in given else defaults.get(name)
        options[_FIELD[name]] = schema.CHARLM[f"decode.{name}"].check(name, value)
    return sampler, get_sampler(sampler, **options)


def fresh_seed():
    """A random seed for a caller who gave none (print it, so the result can be repeated)."""
    return secrets.randbelow(2**31)


def get_sampler(name, **options):
    """Build a sampler from its recipe/CLI name and options, e.g. `get_sampler("top_k", k=5)`."""
    if name not in SAMPLERS:
        raise UserError(f"unknown sampler {name!r}; expected one of: {', '.join(SAMPLERS)}")
    cls = SAMPLERS[name]
    allowed = [field.name for field in dataclasses.fields(cls)]
    for option in options:
        if option not in allowed:
            accepted = ", ".join(allowed) if allowed else "no options"
            raise UserError(f"sampler {name!r} does not take option {option!r}; it accepts: {accepted}")
    return cls(**options)


def _seed_pair(seed):
    """Split a Python integer seed into the [2] int32 seed that stateless ops take."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise UserError(f"seed must be an integer, got {seed!r}")
    seed = int(seed) % (1 << 62)
    return tf.constant([seed & 0x7FFFFFFF, seed >> 31], dtype=tf.int32)


def never(logits, banned_ids):
    """`logits` [B, V] with the columns `banned_ids` set to -inf: no sampler can pick them."""
    if not banned_ids:
        return logits
    logits = tf.cast(logits, tf.float32)
    columns = tf.range(tf.shape(logits)[-1])
    banned = tf.reduce_any(tf.equal(columns[None, :], tf.constant(banned_ids, tf.int32)[:, None]), axis=0)
    return tf.where(banned[None, :], tf.constant(-float("inf")), logits)


def capacity(length):
    """The token buffer a compiled loop of `length` steps gets: the next power of two.

    XLA compiles a loop once per buffer size (a TensorArray's size must be a compile-time
    constant there), so rounding the size up keeps the number of compilations to the ~log2 of
    the longest length, whatever lengths are asked for; the loop itself still runs `length`
    steps, and the unused end of the buffer is cut off afterwards.
    """
    return 1 << max(int(length) - 1, 0).bit_length()


def _sampling_loop(step_fn, sampler, banned_ids, start_tokens, state, length, seed, offset, size=None):
    """`length` sampled tokens after `start_tokens`; `sampler(logits, seed)` picks each one.

    `size` (default `length`) is the token buffer's size, >= `length`; positions past `length`
    hold 0. Returns `(tokens [B, size], last token, final state)`.
    """
    size = length if size is None else size
    tokens = tf.TensorArray(tf.int32, size=size, element_shape=start_tokens.shape)

    def body(i, token, state, tokens):
        logits, new_state = step_fn(token, state)
        logits = never(logits, banned_ids)
        # Keep the caller's nesting (a step may return a list for a tuple).
        new_state = tf.nest.pack_sequence_as(state, tf.nest.flatten(new_state))
        # The seed of a token depends only on its position in the whole text, so
        # generating in chunks gives the same text as one long call.
        step_seed = tf.random.experimental.stateless_fold_in(seed, offset + i)
        token = tf.cast(sampler(logits, step_seed), tf.int32)
        return i + 1, token, new_state, tokens.write(i, token)

    i, last, state, tokens = tf.while_loop(
        lambda i, *_: i < length, body, (tf.constant(0), start_tokens, state, tokens)
    )
    zeros = tf.zeros_like(start_tokens)
    _, tokens = tf.while_loop(lambda i, _: i < size, lambda i, tokens: (i + 1, tokens.write(i, zeros)), (i, tokens))
    return tf.transpose(tokens.stack()), last, state


@dataclasses.dataclass(frozen=True)
class _Plain:
    """A sampler callable given as is, with the `draw` of the samplers above (no numbers)."""

    function: object

    def draw(self, logits, seed):
        return self.function(logits, seed)


def _compiled_loop(step_fn, kind, banned_ids, jit_compile):
    """The compiled sampling loop of one step function and one kind of sampler: its numbers
    (temperature, k, p), the length and the seed are tensor arguments, so new values never
    trace again; with XLA only a new buffer size (`capacity`) or batch size compiles again."""

    def loop(start_tokens, state, length, seed, offset, size, options):
        def sampler(logits, step_seed):
            return kind.draw(logits, step_seed, **options)

        with arranged_for_xla(jit_compile):
            return _sampling_loop(step_fn, sampler, banned_ids, start_tokens, state, length, seed, offset, size)

    return compiled(
        ("sample", step_fn, kind, jit_compile, banned_ids),
        lambda: tf.function(loop, jit_compile=jit_compile, reduce_retracing=True),
    )


def _as_tensors(options):
    return {
        name: tf.constant(value, tf.int32 if isinstance(value, numbers.Integral) else tf.float32)
        for name, value in options.items()
    }


def sample_sequence(step_fn, start_tokens, state, sampler, length, seed, offset=0, jit_compile=False, banned_ids=()):
    """Generate `length` tokens by feeding each sampled token back into `step_fn`.

    The whole loop runs inside one compiled `tf.function`, cached per step function and
    kind of sampler: the sampler's numbers, the length, the seed and the offset are passed
    as tensors, so asking for other values traces nothing again (with XLA, a new length
    compiles again only when it needs a larger power-of-two buffer: `capacity`). The token
    at position `offset + i` of a text is drawn with a seed derived from `(seed, offset + i)`,
    so a caller streaming text in chunks gets the same tokens as one call of the full length
    by passing back `last_token` and `state` and adding each chunk's length to `offset`. The
    same seed gives the same text with and without `jit_compile` (see `_draw`).

    Args:
        step_fn: `step(token_ids [B] int32, state) -> (logits [B, V], new_state)`.
        start_tokens: `[B]` int token ids fed at the first step.
        state: nested structure of tensors with batch first, as `step_fn` expects.
        sampler: one of `SAMPLERS` (e.g. from `get_sampler`), or any callable
            `(logits, seed) -> token_ids` (compiled once per callable).
        length: number of tokens to generate (>= 0).
        seed: Python integer.
        offset: number of tokens of this text generated by earlier calls.
        jit_compile: compile the loop with XLA.
        banned_ids: token ids never sampled, by any sampler (their logits become -inf),
            e.g. a vocabulary's unknown entry.

    Returns:
        `(tokens [B, length] int32, last_token [B] int32, final_state)`.

    Raises:
        UserError: a negative or non-integer length or offset, a seed that is no integer,
            start tokens that are not one id per row.
    """
    for name, value in (("length", length), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise UserError(f"{name} must be an integer >= 0, got {value!r}")
    start_tokens = tf.convert_to_tensor(start_tokens, dtype=tf.int32)
    if start_tokens.shape.rank != 1:
        raise UserError(f"start_tokens must have shape [batch], got {start_tokens.shape}")
    banned_ids = tuple(int(i) for i in banned_ids)
    args = (start_tokens, state, tf.constant(length, tf.int32), _seed_pair(seed), tf.constant(offset, tf.int32))
    if tf.inside_function():
        return _sampling_loop(step_fn, sampler, banned_ids, *args)
    if isinstance(sampler, _Sampler):
        loop = _compiled_loop(step_fn, type(sampler), banned_ids, jit_compile)
        extra = (_as_tensors(sampler.numbers()),)
    else:  # a plain callable: its numbers are its own
        loop = _compiled_loop(step_fn, _Plain(sampler), banned_ids, jit_compile)
        extra = ({},)
    tokens, last, state = loop(*args, tf.constant(capacity(length), tf.int32), *extra)
    return tokens[:, :length], last, state
