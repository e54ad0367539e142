"""Seeing inside a trained char LM: gate activations on real text, saturation,
interpretable units, memory span, and the reports that show them (`textlstm inspect`)."""
