"""Attaches every command module to the `textlstm` and `textlstm train` groups."""


def register(main, train):
    """Add each model family's commands; their modules import TensorFlow only when run."""
    from textlstm.cli import (
        charlm,
        checkpoints_cmd,
        data_cmd,
        doctor_cmd,
        evaluate,
        export_cmd,
        inspect_cmd,
        recipes_cmd,
        seq2seq,
        serve_cmd,
        tagger,
    )

    train.add_command(charlm.train_charlm_command)
    main.add_command(charlm.generate_command)
    train.add_command(tagger.train_tagger_command)
    main.add_command(tagger.tag_command)
    train.add_command(seq2seq.train_seq2seq_command)
    main.add_command(seq2seq.translate_command)
    main.add_command(evaluate.evaluate_command)
    main.add_command(inspect_cmd.inspect_command)
    main.add_command(doctor_cmd.doctor_command)
    main.add_command(export_cmd.export_command)
    main.add_command(recipes_cmd.recipes_command)
    main.add_command(serve_cmd.serve_command)
    main.add_command(data_cmd.data_command)
    main.add_command(checkpoints_cmd.checkpoints_command)
