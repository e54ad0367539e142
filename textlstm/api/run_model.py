"""`RunModel`: what the public class of every model family shares.

Each family has one public class (`CharLM`, `Tagger`, `Translator`; `families.model_class(kind)`
names it), made with `Class(run_dir)`: it loads everything its run directory holds and owns
the family's inference, `evaluate`, `export` and `summary`. `textlstm.load`, `textlstm
evaluate`, `export`, `serve` and `inspect` find the class through `textlstm.families` and call
its methods; none of them switches on the kind. A family's class sets the class attributes
below and implements `evaluate`, `evaluation_report` and `vocab_sizes`.
"""

from textlstm.api.checks import check_path
from textlstm.rundir import STATE as STATE_FILE  # training state: epochs, steps, best dev value


class RunModel:
    """A trained model of one family, loaded from its run directory.

    Class attributes (set by each family's class):
        kind: the run.json kind it loads (`families.CHARLM`, ...).
        endpoint: its POST route in `textlstm serve` (`/models/{name}/{endpoint}`).
        evaluate_inputs: the file arguments of `evaluate` (`textlstm evaluate` requires them all).
        evaluate_options: the other `evaluate` arguments `textlstm evaluate` offers for it.
        evaluate_note: what `textlstm evaluate` adds after naming a missing input ("" or " (...)").
        export_options: the `export` arguments beyond the format that it takes (others are refused).
        highlights: the "section.key" recipe values `summary` shows.
        dev_metric: what training monitored (state.json's "best" is its best value).

    Attributes (set by loading): `run` (the `RunDir`), `run_dir` (its path), `recipe` (the
    saved recipe over the family's defaults), `model` (the Keras model).
    """

    kind = None
    endpoint = None
    evaluate_inputs = ()
    evaluate_options = ()
    evaluate_note = ""
    export_options = ()
    highlights = ()
    dev_metric = "val_loss"

    def _open(self, run_dir):
        """Open `run_dir` as a run of this family (`RunDir.open`: kind and files checked) and
        read its recipe over the family's defaults; sets `run`, `run_dir`, `recipe`. Raises TextlstmError."""
        from textlstm.rundir import RunDir
        from textlstm.schema import defaults

        check_path("run_dir", run_dir)
        self.run = RunDir.open(run_dir, self.kind)
        self.run_dir = self.run.path
        self.recipe = self.run.read_recipe(defaults(self.kind))
        return self.run

    def _load_model(self, checkpoint=None, quantize=None):
        """The Keras model of the run's checkpoint `checkpoint` (`textlstm.checkpoints`), its weights
        quantized when `quantize` is "int8" (`textlstm.models.quantize_weights`); sets `quantize` to
        how the loaded weights are stored ("int8", or None: as trained; `models.quantization`).
        Raises TextlstmError for a `quantize` other than None or "int8", before reading the model."""
        from textlstm.api.checks import check_declared
        from textlstm.models import load_best_or_last, quantization

        check_declared("quantize", quantize, "load.quantize")
        model = load_best_or_last(self.run, checkpoint=checkpoint, quantize=quantize)
        self.quantize = quantization(model)  # also "int8" for a checkpoint saved quantized
        return model

    def vocab_sizes(self) -> dict:
        """`{name: entries}` of each vocabulary the model reads or writes."""
        raise NotImplementedError

    def summary(self) -> dict:
        """What this model is, as plain JSON values.

        Returns:
            dict with "kind", "run_dir" (str), "parameters" (weights of the Keras model),
            "vocab_sizes" (`vocab_sizes()`), "recipe" ("section.key" -> value for the family's
            highlights), and from the run's state.json "epochs" (whole epochs trained), "step"
            (optimizer steps), "dev_metric" (the metric training monitored) and "best" (its best
            value); None for each where the run holds no training state; "quantize" (None, or
            "int8" for a model quantized when loaded or saved quantized).

        Raises:
            TextlstmError: a damaged state.json.
        """
        from textlstm.rundir import read_json_file

        path = self.run.file(STATE_FILE)
        state = read_json_file(path, "training state") if path.is_file() else {}
        if not isinstance(state, dict):
            state = {}
        recipe = {}
        for name in self.shown_highlights():
            section, key = name.split(".")
            recipe[name] = self.recipe[section][key]
        return {
            "kind": self.kind,
            "run_dir": str(self.run_dir),
            "parameters": int(self.model.count_params()),
            "vocab_sizes": self.vocab_sizes(),
            "recipe": recipe,
            "epochs": state.get("epoch"),
            "step": state.get("step"),
            "dev_metric": self.dev_metric,
            "best": state.get("best"),
            "quantize": self.quantize,
        }

    def shown_highlights(self):
        """The `highlights` that apply to this run (a family may leave out one its data never used)."""
        return self.highlights

    def serving_fields(self) -> dict:
        """What `textlstm serve` lists for this model besides its name, kind, run and recipe."""
        return {}

    def check_exportable(self, format):
        """Refuse (TextlstmError, one line) what this model cannot be exported as; the checks
        that need only the model (the output directory is checked by `export`)."""

    def export(self, out_dir, format="saved_model", *, overwrite=False, beam_size=None):
        """Export this model into `out_dir`, atomically (the directory appears complete or not at all).

        Args:
            out_dir: a new directory, an empty one, or (with `overwrite`) a previous export;
                never the run directory, inside it, or a directory holding a run.
            format: "saved_model" (TensorFlow, named serving signature) or "onnx" (needs the
                `[onnx]` extra).
            overwrite: replace a previous export in `out_dir` (nothing else is ever replaced).
            beam_size: a translator's exported beam search (default: the recipe's); refused
                for the other families.

        Returns:
            a short description of what was written.

        Raises:
            TextlstmError: `out_dir` refused, an unknown format, the `[onnx]` extra missing,
                what the family cannot export (`check_exportable`), an OS failure writing.
        """
        from textlstm.errors import ParameterError
        from textlstm.export import write_export
        from textlstm.families import family

        if beam_size is not None and "beam_size" not in self.export_options:
            raise ParameterError(
                "{beam_size} is for translator (seq2seq) runs; {run} is a {title} run",
                beam_size=("beam_size", None, "decode.beam_size"),
                run=str(self.run_dir),
                title=family(self.kind).long_title,
            )
        return write_export(self, out_dir, format, overwrite=overwrite, beam_size=beam_size)

    def evaluate(self, *args, **kwargs) -> dict:
        """Held-out metrics of this model (each family's arguments)."""
        raise NotImplementedError

    def evaluation_report(self, metrics) -> str:
        """What `textlstm evaluate` prints for the `metrics` of `evaluate`."""
        raise NotImplementedError
