"""Tiny generated corpora for the tagger tests: CoNLL-U with UPOS, and CoNLL columns with entities."""

import random

NOUNS = ["dog", "river", "stone", "garden", "window", "road"]
VERBS = ["runs", "sleeps", "finds", "sees"]
ADJECTIVES = ["green", "old", "small", "bright"]
NAMES = [("Anna", "PER"), ("Paris", "LOC"), ("Acme", "ORG"), ("Bob", "PER"), ("Oslo", "LOC")]

TINY_RECIPE = [
    "--set",
    "model.units=8",
    "--set",
    "model.word_dim=8",
    "--set",
    "model.char_dim=4",
    "--set",
    "model.char_units=6",
    "--set",
    "train.batch_size=4",
    "--epochs",
    "2",
]


def pos_sentence(rng):
    words = [("the", "DET")]
    if rng.random() < 0.5:
        words.append((rng.choice(ADJECTIVES), "ADJ"))
    words += [(rng.choice(NOUNS), "NOUN"), (rng.choice(VERBS), "VERB"), (".", "PUNCT")]
    return words


def conllu_text(seed, sentences=12):
    """CoNLL-U with comments, a multiword token range and an empty node in the first sentence."""
    rng = random.Random(seed)
    blocks = []
    for number in range(1, sentences + 1):
        words = pos_sentence(rng)
        lines = [f"# sent_id = s{seed}-{number}", "# text = " + " ".join(word for word, _ in words)]
        if number == 1:
            lines.append("1-2\tthedog\t_\t_\t_\t_\t_\t_\t_\t_")
        for index, (word, tag) in enumerate(words, 1):
            lines.append(f"{index}\t{word}\t{word.lower()}\t{tag}\tXX\tNumber=Sing\t0\tdep\t_\tSpaceAfter=No")
            if number == 1 and index == 2:
                lines.append("2.1\tghost\tghost\t_\t_\t_\t_\t_\t0:dep\t_")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def ner_sentence(rng):
    name, kind = rng.choice(NAMES)
    tokens = [(name, f"B-{kind}")]
    if rng.random() < 0.3:
        tokens.append(("Jr", f"I-{kind}"))
    tokens += [(rng.choice(VERBS), "O"), ("the", "O"), (rng.choice(NOUNS), "O")]
    return tokens


def conll_text(seed, sentences=12, docstart=True):
    """TOKEN<TAB>TAG lines, IOB2; a -DOCSTART- line and a TAB-only separator line (WNUT-17 style)."""
    rng = random.Random(seed)
    blocks = ["-DOCSTART-\tO\n"] if docstart else []
    for number in range(sentences):
        lines = [f"{token}\t{tag}" for token, tag in ner_sentence(rng)]
        blocks.append("\n".join(lines) + ("\n\t\n" if number % 3 == 1 else "\n\n"))
    return "".join(blocks)
