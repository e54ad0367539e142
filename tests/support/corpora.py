"""Tiny corpora of every family in one folder, for the tests that train all three."""

import numpy as np

from support.tagger_data import conllu_text

LM_WORDS = "north wind sun cloud rain field barn lamp the a of and".split()
GREEK = "alpha beta gamma delta eps zeta eta theta".split()


def write_tiny_corpora(root, seed, lm_lines, train_sentences, dev_sentences, pairs, dev_pairs, max_words, target):
    """Write into `root`: corpus.txt (`lm_lines` lines of 9 words, for the char LM), train.conllu and
    dev.conllu (UPOS, `train_sentences` and `dev_sentences`), and `pairs` source-target pairs of 1 to
    `max_words` - 1 Greek letter names with `target(source)` as the translation: train.tsv, and the
    first `dev_pairs` as dev.tsv, dev.src and dev.tgt. Deterministic by `seed`; returns `root`."""
    rng = np.random.default_rng(seed)
    (root / "corpus.txt").write_text("\n".join(" ".join(rng.choice(LM_WORDS, 9)) for _ in range(lm_lines)) + "\n")
    (root / "train.conllu").write_text(conllu_text(1, train_sentences), encoding="utf-8")
    (root / "dev.conllu").write_text(conllu_text(2, dev_sentences), encoding="utf-8")
    sources = [" ".join(rng.choice(GREEK, rng.integers(1, max_words))) for _ in range(pairs)]
    lines = [f"{s}\t{target(s)}\n" for s in sources]
    (root / "train.tsv").write_text("".join(lines))
    (root / "dev.tsv").write_text("".join(lines[:dev_pairs]))
    (root / "dev.src").write_text("".join(f"{s}\n" for s in sources[:dev_pairs]))
    (root / "dev.tgt").write_text("".join(f"{target(s)}\n" for s in sources[:dev_pairs]))
    return root
