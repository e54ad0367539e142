"""Attaches every command module to the `textlstm` and `textlstm train` groups."""


def register(main, train):
    """Add each model family's commands; their modules import TensorFlow only when run."""
    from textlstm.cli import charlm, evaluate, seq2seq

    train.add_command(charlm.train_charlm_command)
    main.add_command(charlm.generate_command)
    main.add_command(evaluate.evaluate_command)
    train.add_command(seq2seq.train_seq2seq_command)
    main.add_command(seq2seq.translate_command)
