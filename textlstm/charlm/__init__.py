"""Character-level language model: train on text, generate from a prompt, evaluate."""
