"""Sequence tagging (POS, NER): corpus readers and writers, tag schemes, vocabularies,
pretrained word vectors, a linear-chain CRF and evaluation metrics.

Submodules are imported directly (`from textlstm.tagger.crf import CRF`) so that reading a
corpus does not load Keras.
"""
