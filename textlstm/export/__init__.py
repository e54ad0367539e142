"""`textlstm export`: trained models as artefacts that need nothing of textlstm to run.

`saved_model.py` writes a TensorFlow SavedModel with named serving signatures; `onnx.py`
converts the networks to ONNX (optional extra `[onnx]`); `outdir.py` writes either into a
fresh directory atomically.
"""


def export(run_dir, out_dir, export_format="saved_model", overwrite=False, beam_size=None, checkpoint=None):
    """Load `run_dir` with `textlstm.load` and export it into `out_dir` (atomically: the
    directory appears complete or not at all). Returns a short description of what was written.

    `out_dir` is checked before anything is loaded (`outdir.check_out_dir`): it may not be,
    contain or lie inside `run_dir`, and `overwrite` replaces only a previous export.

    Raises:
        TextlstmError: bad run directory; `out_dir` refused (the run directory, its parent or
            a directory inside it, a directory holding any run, `/`, home, a non-empty
            directory that is not a previous export, a previous export without `overwrite`);
            an OS failure writing it (a full disk: names `out_dir`); unknown format, the
            `[onnx]` extra missing for ONNX, or a tagger with char-LM features (its
            signature would need the LMs' text encoding; not written yet).
    """
    import textlstm
    from textlstm.errors import TextlstmError
    from textlstm.export.outdir import check_out_dir, fresh_directory

    if export_format not in ("saved_model", "onnx"):
        raise TextlstmError(f"export format must be 'saved_model' or 'onnx', got {export_format!r}")
    check_out_dir(out_dir, run_dir, overwrite)
    if export_format == "onnx":
        from textlstm.export.onnx import _converter

        _converter()  # the [onnx] extra is there, before anything is loaded
    model = textlstm.load(run_dir, checkpoint=checkpoint)  # checkpoint: see textlstm.checkpoints
    if export_format == "saved_model" and getattr(getattr(model, "vocab", None), "unit", "char") == "subword":
        raise TextlstmError(
            f"{run_dir} is a subword LM (data.unit = \"subword\"); the SavedModel 'generate' "
            f"signature looks up characters: export it with --format onnx (one step)"
        )
    if getattr(model, "kind", None) == "tagger" and model.recipe["model"]["charlm"]:
        raise TextlstmError(
            f"{run_dir}: a tagger with char-LM features (model.charlm) cannot be exported yet; "
            "tag with textlstm tag or textlstm.load instead"
        )
    if export_format == "saved_model" and getattr(model, "backward", False):
        raise TextlstmError(
            f'{run_dir} is a backward char LM (data.direction = "backward"); the SavedModel '
            f"'generate' signature reads prompts forwards: export it with --format onnx (one step)"
        )
    with fresh_directory(out_dir, run_dir, overwrite, export_format) as temp:
        if export_format == "onnx":
            from textlstm.export.onnx import export_onnx

            return export_onnx(model, temp)
        from textlstm.export.saved_model import export_saved_model

        name = export_saved_model(model, temp, beam_size=beam_size)
        return f"signature {name!r}"
