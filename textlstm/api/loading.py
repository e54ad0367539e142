"""`textlstm.load(run_dir)`: the model object for whatever kind of run a directory holds."""

from textlstm.api.checks import check_path
from textlstm.errors import TextlstmError


def load(run_dir, checkpoint=None, quantize=None):
    """Load the trained model of a run directory as a ready-to-use object.

    The class comes from the registry of model families (`textlstm.families.model_class` of
    the kind in run.json) and loads itself: `Class(run_dir)`.

    Args:
        run_dir: path (str or os.PathLike) of a run directory written by `textlstm train`.
        checkpoint: which model to load: None or "best" (best.keras, else last.keras), "last",
            an epoch number N (int or "N") kept in checkpoints/, or a path to a .keras file
            (`textlstm.checkpoints`; `textlstm checkpoints RUN_DIR` lists them).
        quantize: None (default: the weights as trained) or "int8": the weights quantized to int8
            once loaded, through Keras's `model.quantize` (`textlstm.layers.int8`).

    Returns:
        `textlstm.api.CharLM` for a char LM run, `textlstm.api.Tagger` for a tagger run,
        `textlstm.api.Translator` for a seq2seq run.

    Raises:
        TextlstmError: the path is not a path, does not exist, is not a run directory, holds
            an unknown kind of model, or is damaged (unreadable run.json, recipe, vocabulary
            or model file), or `checkpoint` names no checkpoint it holds (an epoch not kept), or
            `quantize` is neither None nor "int8".

    Example:
        >>> lm = textlstm.load("runs/shakespeare")
        >>> type(lm).__name__
        'CharLM'
    """
    from textlstm import families
    from textlstm.rundir import RunDir

    check_path("run_dir", run_dir)
    kind = RunDir.read_kind(run_dir)
    if kind not in families.KINDS:
        raise TextlstmError(
            f"{run_dir} holds a {kind!r} model, which textlstm cannot load "
            f"(known kinds: {', '.join(sorted(families.KINDS))})"
        )
    return families.model_class(kind)(run_dir, checkpoint=checkpoint, quantize=quantize)
