"""`textlstm export`: trained models as artefacts that need nothing of textlstm to run.

`saved_model.py` writes a TensorFlow SavedModel with named serving signatures; `onnx.py`
converts the networks to ONNX (optional extra `[onnx]`); `outdir.py` writes either into a
fresh directory atomically. What a family cannot export is refused by its class
(`check_exportable` of `textlstm.api.CharLM`, `Tagger`, `Translator`).
"""

FORMATS = ("saved_model", "onnx")


def _check_before_loading(run_dir, out_dir, export_format, overwrite):
    """The checks that need no model: the format, `out_dir`, the `[onnx]` extra."""
    from textlstm.errors import TextlstmError
    from textlstm.export.outdir import check_out_dir

    if export_format not in FORMATS:
        raise TextlstmError(f"export format must be 'saved_model' or 'onnx', got {export_format!r}")
    check_out_dir(out_dir, run_dir, overwrite)
    if export_format == "onnx":
        from textlstm.export.onnx import _converter

        _converter()  # the [onnx] extra is there, before anything is loaded


def export(run_dir, out_dir, export_format="saved_model", overwrite=False, beam_size=None, loading=None):
    """Load `run_dir` with `textlstm.load` and export it into `out_dir` (atomically: the
    directory appears complete or not at all) with the model's own `export`. Returns a short
    description of what was written. `loading` holds `textlstm.load`'s keyword arguments
    (checkpoint, quantize).

    `out_dir` is checked before anything is loaded (`outdir.check_out_dir`): it may not be,
    contain or lie inside `run_dir`, and `overwrite` replaces only a previous export.

    Raises:
        TextlstmError: bad run directory; `out_dir` refused (the run directory, its parent or
            a directory inside it, a directory holding any run, `/`, home, a non-empty
            directory that is not a previous export, a previous export without `overwrite`);
            an OS failure writing it (a full disk: names `out_dir`); unknown format, the
            `[onnx]` extra missing for ONNX, or what the family cannot export (a tagger with
            char-LM features, a subword or backward LM as a SavedModel).
    """
    import textlstm

    _check_before_loading(run_dir, out_dir, export_format, overwrite)
    model = textlstm.load(run_dir, **(loading or {}))
    return model.export(out_dir, export_format, overwrite=overwrite, beam_size=beam_size)


def write_export(model, out_dir, export_format="saved_model", overwrite=False, beam_size=None):
    """Export a loaded model (a `textlstm.api` object) into `out_dir`; what its `export` method
    does. Returns a short description of what was written. Raises TextlstmError as `export`."""
    from textlstm.export.outdir import fresh_directory

    _check_before_loading(model.run_dir, out_dir, export_format, overwrite)
    model.check_exportable(export_format)
    with fresh_directory(out_dir, model.run_dir, overwrite, export_format) as temp:
        if export_format == "onnx":
            from textlstm.export.onnx import export_onnx

            return export_onnx(model, temp)
        from textlstm.export.saved_model import export_saved_model

        name = export_saved_model(model, temp, beam_size=beam_size)
        return f"signature {name!r}"
