"""The translator's training contract (`textlstm.driver`): corpus → subwords → batches → model → BLEU.

Dev loss is computed every epoch; dev BLEU (greedy decoding of the first
`train.bleu_sentences` dev sentences) every `train.bleu_every` epochs and after the last,
and the best checkpoint is the one with the highest dev BLEU. On epochs without a BLEU
evaluation the previous value is reported again, which never counts as an improvement.
"""

import csv

from textlstm import memory
from textlstm.driver import FamilyTraining, train_family
from textlstm.errors import UserError
from textlstm.seq2seq import data as data_lib
from textlstm.seq2seq.evaluate import corpus_bleu
from textlstm.seq2seq.model import build_model, compile_settings
from textlstm.seq2seq.subwords import Subwords
from textlstm.seq2seq.translate import KIND, translate_ids


def _last_logged_bleu(run):
    """The most recent val_bleu in metrics.csv (0 when there is none), for resuming."""
    path = run.file("metrics.csv")
    if not path.is_file():
        return 0.0
    with path.open(encoding="utf-8", newline="") as handle:
        values = [row.get("val_bleu") for row in csv.DictReader(handle)]
    values = [float(v) for v in values if v not in (None, "")]
    return values[-1] if values else 0.0


def _encode_pairs(subwords, sources, targets, max_length, name):
    source_ids, target_ids = subwords.encode_source(sources), subwords.encode_target(targets)
    kept_source, kept_target, dropped = data_lib.filter_pairs(source_ids, target_ids, max_length)
    print(
        f"{name}: {len(kept_source):,} pairs kept, {dropped['empty']:,} with an empty side and "
        f"{dropped['too_long']:,} longer than {max_length} subwords dropped"
    )
    if not kept_source:
        raise UserError(f"no {name} pairs left after filtering (data.max_length={max_length})")
    return kept_source, kept_target


class Seq2SeqTraining(FamilyTraining):
    """The translator's part of a training (`textlstm.driver`): parallel text read, subword models
    trained into a new run, pairs encoded and filtered, dev BLEU (greedy) the monitored metric."""

    kind = KIND
    path_keys = ("data.src", "data.tgt", "data.tsv", "data.valid_src", "data.valid_tgt", "data.valid_tsv")
    monitor, mode = "val_bleu", "max"

    def read(self, run):
        data = self.recipe["data"]
        self.train_src, self.train_tgt, description = data_lib.read_parallel(data["src"], data["tgt"], data["tsv"])
        if not (data["valid_src"] or data["valid_tsv"]):
            raise UserError("seq2seq training needs dev data: --valid-src/--valid-tgt or --valid-tsv")
        self.dev_src, self.dev_tgt, dev_description = data_lib.read_parallel(
            data["valid_src"], data["valid_tgt"], data["valid_tsv"]
        )
        print(
            f"corpus: {description}: {len(self.train_src):,} pairs; dev: {dev_description}: {len(self.dev_src):,} pairs"
        )

    def memory_estimate(self):
        vocab = self.recipe["data"]["vocab_size"]  # the subword models are not trained yet: at most this many
        return (
            memory.seq2seq_bytes(self.recipe, vocab, vocab),
            memory.recipe_sizes(
                self.recipe, "model.layers", "model.units", "model.embedding_dim", "data.vocab_size", "train.batch_size"
            ),
        )

    def prepare(self, run):
        data, train = self.recipe["data"], self.recipe["train"]
        if self.resume:
            subwords = Subwords.load(run)
        else:
            print(
                f"training {data['subword_model']} subword models ({data['vocab_size']} pieces, "
                f"{'joint' if data['joint_vocab'] else 'separate'})"
            )
            subwords = Subwords.train(
                run, self.train_src, self.train_tgt, data["vocab_size"], data["subword_model"], data["joint_vocab"]
            )
        self.subwords = subwords
        print(f"subword vocabularies: source {subwords.source_vocab_size}, target {subwords.target_vocab_size}")
        self.sources, self.targets = _encode_pairs(
            subwords, self.train_src, self.train_tgt, data["max_length"], "training"
        )
        self.dev_sources, self.dev_targets = _encode_pairs(
            subwords, self.dev_src, self.dev_tgt, data["max_length"], "dev"
        )
        bleu_pairs = [(s, t) for s, t in zip(self.dev_src, self.dev_tgt) if s.strip()]
        if train["bleu_sentences"]:
            bleu_pairs = bleu_pairs[: train["bleu_sentences"]]
        self.bleu_sources = [ids or [1] for ids in subwords.encode_source([s for s, _ in bleu_pairs])]
        self.bleu_references = [t for _, t in bleu_pairs]

    def batches_per_epoch(self):
        return data_lib.batches_per_epoch(len(self.sources), self.recipe["train"]["batch_size"])

    def build(self):
        return build_model(self.recipe, self.subwords.source_vocab_size, self.subwords.target_vocab_size)

    def compile_settings(self):
        return compile_settings(self.recipe["train"])

    def training_batches(self, start_step):
        train = self.recipe["train"]
        return data_lib.training_batches(self.sources, self.targets, train["batch_size"], train["seed"], start_step)

    def evaluation_batches(self):
        return data_lib.evaluation_batches(self.dev_sources, self.dev_targets, self.recipe["train"]["batch_size"])

    def dev_metric(self, model, epoch):
        """Dev BLEU every `train.bleu_every` epochs and after the last; None (the last value again) between."""
        every = max(1, self.recipe["train"]["bleu_every"])
        if (epoch + 1) % every and epoch + 1 != self.schedule.epochs:
            return None
        max_length = self.recipe["decode"]["max_length"]
        decoded = translate_ids(model, self.bleu_sources, beam_size=1, max_length=max_length)
        hypotheses = [self.subwords.decode_target(best[0][0]) for best in decoded]
        return {"bleu": corpus_bleu(hypotheses, self.bleu_references).score}

    def dev_line(self, scores):
        return f"dev BLEU {scores['bleu']:.2f} (greedy, {len(self.bleu_sources)} sentences)"

    def previous_dev_scores(self, run):
        return {"bleu": _last_logged_bleu(run) if self.resume else 0.0}

    def report(self, run, state):
        metrics = {"best_val_bleu": state.best, "epochs": state.epoch, "steps": state.step}
        shown = "none" if state.best is None else f"{state.best:.2f}"
        print(f"best dev BLEU (greedy, {len(self.bleu_sources)} sentences): {shown}")
        return metrics


def train_seq2seq(recipe, run_path, resume=False):
    """`textlstm.driver.train_family("seq2seq", ...)`: `(run, metrics)`, without the run's lock."""
    return train_family(KIND, recipe, run_path, resume)
