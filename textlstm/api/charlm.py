"""`CharLM`: a trained character-level language model, loaded once, ready to sample and score."""

from textlstm.api.checks import check_declared, check_path, check_str
from textlstm.api.run_model import RunModel
from textlstm.families import CHARLM


class CharLM(RunModel):
    """A char LM run directory loaded for use from Python (what `textlstm.load` returns for it).

    Loading reads the best checkpoint (else the last), the vocabulary and the recipe; the
    object then keeps its compiled prompt-feeding and sampling loops and its evaluation
    function, so calling again with the same `num_samples` does not trace anything again.

    Args:
        run_dir: path of a run directory of kind "charlm".
        checkpoint: which model to load: None or "best" (default), "last", an epoch number
            or a path to a .keras file (`textlstm.checkpoints`).
        quantize: None (default: the weights as trained) or "int8": every recurrent, Dense and
            Embedding layer's weights quantized to int8 once loaded (`textlstm.layers.int8`).

    Raises:
        TextlstmError: missing, damaged or other-kind run directory, or one whose files do
            not fit together (`textlstm.runcheck`).

    Example:
        >>> lm = textlstm.load("runs/shakespeare")
        >>> texts = lm.generate("ROMEO:", length=50, seed=1, num_samples=2)
        >>> len(texts), len(texts[0])
        (2, 50)

    Reference: Karpathy, "The Unreasonable Effectiveness of Recurrent Neural Networks" (2015);
    Graves, "Generating Sequences With Recurrent Neural Networks" (2013).
    """

    kind = CHARLM
    endpoint = "generate"
    evaluate_inputs = ("path",)
    highlights = ("data.unit", "data.direction", "data.seq_len", "model.cell", "model.layers", "model.units")
    dev_metric = "val_loss"  # nats per token on the validation text

    def __init__(self, run_dir, checkpoint=None, quantize=None):
        from textlstm.charlm.corpus import is_backward, load_vocabulary
        from textlstm.charlm.model import CharStepper, char_loss

        run = self._open(run_dir)
        self.vocab = load_vocabulary(run, self.recipe["data"])
        self.model = self._load_model(checkpoint, quantize)
        self.backward = is_backward(self.recipe)  # data.direction = "backward": reads text from its end
        self.model.compile(loss=char_loss())
        self.stepper = CharStepper(self.model)
        self.last_seed = None  # the seed of the last generate/stream call

    def __repr__(self):
        return f"CharLM({str(self.run_dir)!r}, vocabulary={len(self.vocab)} {self.vocab.unit_name})"

    def unknown_chars(self, text):
        """The distinct characters of `text` that are not in the vocabulary (read as unknown)."""
        return self.vocab.unknown_chars(check_str("text", text))

    @staticmethod
    def check_options(
        run_dir, length=None, sampler=None, temperature=None, top_k=None, top_p=None, seed=None, num_samples=1
    ):
        """Check decoding options against a run's recipe without loading its model.

        Returns `(length, num_samples, sampler, seed, drawn)` as `generate` would use them
        (`drawn`: no seed was given and the sampler draws, so the fresh seed is worth reporting;
        False for greedy). Raises TextlstmError.
        """
        from textlstm.rundir import RunDir
        from textlstm.schema import defaults

        decode = RunDir.open(check_path("run_dir", run_dir), CHARLM).read_recipe(defaults(CHARLM))["decode"]
        return _decoding(decode, length, sampler, temperature, top_k, top_p, seed, num_samples)

    def decoding_options(
        self, length=None, *, sampler=None, temperature=None, top_k=None, top_p=None, seed=None, num_samples=1
    ):
        """Check the options of a `generate` or `stream` call against this model's recipe, as
        those calls do, without sampling (a server refuses a bad streamed request before it
        starts answering). Returns `(length, num_samples, sampler, seed, drawn)` as
        `check_options` does. Raises TextlstmError."""
        return _decoding(self.recipe["decode"], length, sampler, temperature, top_k, top_p, seed, num_samples)

    def generate(
        self,
        prompt="",
        length=None,
        *,
        sampler=None,
        temperature=None,
        top_k=None,
        top_p=None,
        seed=None,
        num_samples=1,
    ):
        """Sample `num_samples` texts of `length` characters (pieces for a subword LM) that continue `prompt`.

        A backward LM (`self.backward`, recipe `data.direction = "backward"`) takes `prompt`
        as the END of the text and generates what comes before it, returned the right way
        round (`with_prompt` puts the two together).

        Args:
            prompt: text that primes the recurrent state ("" means a newline).
            length: characters to generate per sample (default: the recipe's `decode.length`, 500);
                pieces for a subword LM (`data.unit = "subword"`; the prompt is encoded into
                pieces and the pieces generated are decoded into text).
            sampler: "greedy", "temperature", "top_k", "top_p" or "top_k_top_p"; default:
                the one the options given imply ("top_k_top_p" for both `top_k` and `top_p`),
                else the recipe's `decode.sampler`. An option the sampler does not use
                (greedy with a temperature) is refused.
            temperature: softmax temperature > 0 (default: the recipe's, 0.8 unless changed).
            top_k: keep the k most likely characters (default: the recipe's).
            top_p: nucleus mass in (0, 1] (default: the recipe's).
            seed: integer; the same seed gives the same text (None: a fresh random seed,
                kept in `self.last_seed`, so the text can be made again).
            num_samples: samples generated together as one batch.

        Returns:
            list of `num_samples` strings, without the prompt (which follows them for a
            backward LM and comes before them otherwise).

        Raises:
            TextlstmError: an argument of the wrong type, out of the range `textlstm.schema`
                declares for it (the CLI's caps), or a prompt that is not valid Unicode text.

        Reference: Holtzman et al. (2020) for top-p; samplers in `textlstm.decoding.samplers`.
        """
        return [
            "".join(parts)
            for parts in zip(
                *self._pieces(prompt, length, sampler, temperature, top_k, top_p, seed, num_samples, chunk=None)
            )
        ]

    def stream(
        self, prompt="", length=None, *, sampler=None, temperature=None, top_k=None, top_p=None, seed=None, chunk=64
    ):
        """Like `generate` with one sample, as an iterator of text pieces (about `chunk`
        characters each) yielded as soon as each is sampled. Same seed, same text as `generate`.
        A backward LM yields its whole text as one piece at the end (the text before the
        prompt is known only once it is all sampled).
        Arguments are checked when the first piece is asked for (`decoding_options` checks earlier)."""
        check_declared("chunk", chunk, "generate.chunk", allow_none=False)
        for pieces in self._pieces(prompt, length, sampler, temperature, top_k, top_p, seed, 1, chunk):
            yield pieces[0]

    def with_prompt(self, prompt, text):
        """The prompt and a generated text joined the right way round: `prompt + text`, or
        `text + prompt` for a backward LM."""
        from textlstm.charlm.generate import with_prompt

        return with_prompt(check_str("prompt", prompt), check_str("text", text), self.backward)

    def _pieces(self, prompt, length, sampler, temperature, top_k, top_p, seed, num_samples, chunk):
        from textlstm.charlm.generate import text_chunks

        check_str("prompt", prompt)
        length, num_samples, chooser, seed, _ = _decoding(
            self.recipe["decode"], length, sampler, temperature, top_k, top_p, seed, num_samples
        )
        self.last_seed = seed
        yield from text_chunks(
            self.stepper, self.vocab, prompt or "\n", length, chooser, seed, num_samples, chunk, self.backward
        )

    def score(self, text):
        """How well the model predicts `text`: each character from the ones before it
        (for a backward LM, from the ones after it: the text is scored reversed).

        The text is cut into windows of the recipe's `data.eval_window` characters
        (`data.seq_len` when 0; as the validation set in training), each from a zero state;
        the remainder after the last whole window is scored as a shorter window, so every
        character after the first (which is context only) counts.

        Returns:
            dict with "bits_per_char" (bits), "perplexity" (per character), "characters"
            (how many were scored), "loss" (nats per character) and "unknown_characters"
            (distinct characters outside the vocabulary). A subword LM scores every piece
            after the first and divides the nats by the characters those pieces stand for;
            it adds "tokens" (pieces scored), "loss_per_token" (nats) and "token_perplexity".

        Raises:
            TextlstmError: `text` is not a string, not valid Unicode text (a lone surrogate)
                or has fewer than two characters.
        """
        from textlstm.charlm.evaluate import score_text

        return score_text(self.model, self.vocab, self.recipe, check_str("text", text))

    def evaluate(self, path, warn=None):
        """`score` of a UTF-8 text file, streamed (any size); a missing, empty or binary file
        raises TextlstmError. This is what `textlstm evaluate` prints for a char LM.
        `warn(message)` gets the note naming the characters outside the vocabulary (default: none)."""
        from textlstm.charlm.corpus import unknown_characters_note
        from textlstm.charlm.evaluate import evaluate_charlm

        metrics = evaluate_charlm(self.run_dir, check_path("path", path), model=self.model)
        if warn is not None and metrics["unknown_characters"]:
            warn(unknown_characters_note(metrics["unknown_chars"]))
        return metrics

    @staticmethod
    def evaluation_report(metrics):
        """The lines `textlstm evaluate` prints for `evaluate`'s metrics (per piece too for a subword LM)."""
        lines = [
            f"characters: {metrics['characters']:,}  loss: {metrics['loss']:.4f} nats/char  "
            f"bits/char: {metrics['bits_per_char']:.4f}  perplexity: {metrics['perplexity']:.3f}"
        ]
        if "tokens" in metrics:  # a subword LM: the same per piece
            lines.append(
                f"pieces: {metrics['tokens']:,}  loss: {metrics['loss_per_token']:.4f} nats/piece  "
                f"perplexity: {metrics['token_perplexity']:.3f} per piece"
            )
        return "\n".join(lines)

    def vocab_sizes(self):
        """`{"characters": n}`, or `{"pieces": n}` for a subword LM (the unknown entry included)."""
        return {self.vocab.unit_name: len(self.vocab)}

    def check_exportable(self, format):
        """The SavedModel's 'generate' signature looks characters up and reads prompts forwards:
        a subword or backward LM is refused there (ONNX exports the step of either)."""
        from textlstm.errors import TextlstmError

        if format == "saved_model" and self.vocab.unit == "subword":
            raise TextlstmError(
                f"{self.run_dir} is a subword LM (data.unit = \"subword\"); the SavedModel 'generate' "
                f"signature looks up characters: export it with --format onnx (one step)"
            )
        if format == "saved_model" and self.backward:
            raise TextlstmError(
                f'{self.run_dir} is a backward char LM (data.direction = "backward"); the SavedModel '
                f"'generate' signature reads prompts forwards: export it with --format onnx (one step)"
            )

    def inspect(
        self, text, max_chars=2000, analysis_chars=20000, top_k=5, span_distance=1000, span_windows=16, progress=None
    ):
        """What the gates do on `text` (`textlstm inspect`): an `inspection.report.Inspection`
        (see `inspection.report.inspect_model` for the arguments; `progress(message)` hears each
        stage as it starts). A backward or subword LM is
        refused in one line (TextlstmError): the recording reads characters forwards."""
        from textlstm.charlm.corpus import is_subword
        from textlstm.errors import TextlstmError
        from textlstm.inspection.report import inspect_model

        if self.backward:
            raise TextlstmError(
                f'{self.run_dir} is a backward char LM (data.direction = "backward"); textlstm inspect '
                f"reads text forwards and supports forward char LMs only"
            )
        if is_subword(self.recipe):
            raise TextlstmError(
                f'{self.run_dir} is a subword LM (data.unit = "subword"); textlstm inspect records one '
                f"step per character and supports char LMs of characters only"
            )
        return inspect_model(
            self.model,
            self.vocab,
            check_str("text", text),
            str(self.run_dir),
            max_chars=max_chars,
            analysis_chars=analysis_chars,
            top_k=top_k,
            span_distance=span_distance,
            span_windows=span_windows,
            progress=progress,
        )


def _decoding(decode, length, sampler, temperature, top_k, top_p, seed, num_samples):
    """Each argument checked against its declaration in `textlstm.schema` (the one the CLI
    option uses), named as the API names it; then `charlm.generate.decoding_options`."""
    from textlstm.charlm.generate import decoding_options

    for name, value, key in (
        ("length", length, "decode.length"),
        ("sampler", sampler, "decode.sampler"),
        ("temperature", temperature, "decode.temperature"),
        ("top_k", top_k, "decode.top_k"),
        ("top_p", top_p, "decode.top_p"),
        ("seed", seed, "generate.seed"),
    ):
        check_declared(name, value, key, CHARLM)
    check_declared("num_samples", num_samples, "generate.num_samples", allow_none=False)
    return decoding_options(decode, length, sampler, temperature, top_k, top_p, seed, num_samples)
