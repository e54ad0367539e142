"""Attention encoder-decoder translation: subwords, data, model, training, translation, BLEU."""
