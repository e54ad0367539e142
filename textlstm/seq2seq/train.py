"""`textlstm train seq2seq`, top to bottom: recipe → corpus → subwords → batches → model → fit.

Dev loss is computed every epoch; dev BLEU (greedy decoding of the first
`train.bleu_sentences` dev sentences) every `train.bleu_every` epochs and after the last,
and the best checkpoint is the one with the highest dev BLEU. On epochs without a BLEU
evaluation the previous value is reported again, which never counts as an improvement.
"""

import csv

import keras

from textlstm import distribute, memory, training
from textlstm.errors import UserError
from textlstm.interrupts import interruptible
from textlstm.optim import check_schedule_covers
from textlstm.rundir import RunDir
from textlstm.schema import check_recipe
from textlstm.seq2seq import data as data_lib
from textlstm.seq2seq.evaluate import corpus_bleu
from textlstm.seq2seq.model import build_and_compile
from textlstm.seq2seq.subwords import Subwords
from textlstm.seq2seq.translate import KIND, translate_ids


class DevBleu(keras.callbacks.Callback):
    """Adds `val_bleu` (greedy decoding, sacreBLEU on detokenized text) to the epoch logs."""

    def __init__(self, sources, references, subwords, every, last_epoch, max_length, previous=0.0):
        super().__init__()
        self.sources, self.references, self.subwords = sources, references, subwords
        self.every, self.last_epoch, self.max_length = every, last_epoch, max_length
        self.value = previous

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if (epoch + 1) % self.every == 0 or epoch + 1 == self.last_epoch:
            decoded = translate_ids(self.model, self.sources, beam_size=1, max_length=self.max_length)
            hypotheses = [self.subwords.decode_target(best[0][0]) for best in decoded]
            self.value = corpus_bleu(hypotheses, self.references).score
            after_bar = "\n" if training.progress_verbosity() == 1 else ""  # a terminal's bar has no newline yet
            print(f"{after_bar}epoch {epoch + 1}: dev BLEU {self.value:.2f} (greedy, {len(self.sources)} sentences)")
        logs["val_bleu"] = self.value


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


@interruptible(KIND)
def train_seq2seq(recipe, run_path, resume=False):
    """Train (or resume) a translator into `run_path`; returns `(run, metrics)`.

    Under a multi-worker strategy, workers other than the chief return `(run, None)`.
    `resume` on a run stopped before its first checkpoint trains it from the beginning.
    Raises `UserError` for unusable data or settings, and `Interrupted` on Ctrl-C at any
    moment (`textlstm.interrupts`: the line says how to continue).
    """
    data, train = recipe["data"], recipe["train"]
    check_recipe(recipe, KIND)  # every key in its declared range (textlstm.schema), before any work
    vocab = data["vocab_size"]  # the subword models are not trained yet: their size is at most this
    memory.check_fits(
        memory.seq2seq_bytes(recipe, vocab, vocab),
        memory.recipe_sizes(
            recipe, "model.layers", "model.units", "model.embedding_dim", "data.vocab_size", "train.batch_size"
        ),
    )
    strategy = distribute.make_strategy(
        train["strategy"], train["batch_size"]
    )  # first: multi-worker sets up TensorFlow's runtime
    training.absolute_paths(
        recipe, "data.src", "data.tgt", "data.tsv", "data.valid_src", "data.valid_tgt", "data.valid_tsv"
    )  # the saved recipe works from any directory
    resume = training.resume_or_restart(run_path, KIND, resume)  # no checkpoint yet: from the beginning
    train_src, train_tgt, description = data_lib.read_parallel(data["src"], data["tgt"], data["tsv"])
    if not (data["valid_src"] or data["valid_tsv"]):
        raise UserError("seq2seq training needs dev data: --valid-src/--valid-tgt or --valid-tsv")
    dev_src, dev_tgt, dev_description = data_lib.read_parallel(data["valid_src"], data["valid_tgt"], data["valid_tsv"])
    print(f"corpus: {description}: {len(train_src):,} pairs; dev: {dev_description}: {len(dev_src):,} pairs")
    previous = None
    if resume:
        run = RunDir.open(run_path, KIND)
        previous = training.load_state(run)
        subwords = Subwords.load(run)
    else:
        run = training.start_run(run_path, KIND, recipe)  # the data were readable: now the run may start
        print(
            f"training {data['subword_model']} subword models ({data['vocab_size']} pieces, "
            f"{'joint' if data['joint_vocab'] else 'separate'})"
        )
        subwords = Subwords.train(
            run, train_src, train_tgt, data["vocab_size"], data["subword_model"], data["joint_vocab"]
        )
    print(f"subword vocabularies: source {subwords.source_vocab_size}, target {subwords.target_vocab_size}")
    sources, targets = _encode_pairs(subwords, train_src, train_tgt, data["max_length"], "training")
    dev_sources, dev_targets = _encode_pairs(subwords, dev_src, dev_tgt, data["max_length"], "dev")

    batch_size = train["batch_size"]
    schedule = training.plan_schedule(
        data_lib.batches_per_epoch(len(sources), batch_size),
        train["epochs"],
        train["steps_per_epoch"],
        train["max_steps"],
        previous=previous,
        monitor="val_bleu",
        mode="max",
        patience=train["patience"],
    )
    with strategy.scope():
        if resume:
            model, state = training.load_checkpoint(run)
            check_schedule_covers(model.optimizer, schedule.total_steps)  # before the recipe is rewritten
            if distribute.is_chief():
                run.write_recipe(recipe)  # --epochs/--max-steps may have extended it
        else:
            model = build_and_compile(
                recipe,
                subwords.source_vocab_size,
                subwords.target_vocab_size,
                train["epochs"] * schedule.steps_per_epoch,
            )  # max_steps only stops early
            state = None
    bleu_pairs = [(s, t) for s, t in zip(dev_src, dev_tgt) if s.strip()]
    if train["bleu_sentences"]:
        bleu_pairs = bleu_pairs[: train["bleu_sentences"]]
    bleu = DevBleu(
        [ids or [1] for ids in subwords.encode_source([s for s, _ in bleu_pairs])],
        [t for _, t in bleu_pairs],
        subwords,
        max(1, train["bleu_every"]),
        schedule.epochs,
        recipe["decode"]["max_length"],
        previous=_last_logged_bleu(run) if resume else 0.0,
    )
    final = training.fit(
        model,
        run,
        lambda start: data_lib.training_batches(sources, targets, batch_size, train["seed"], start),
        schedule,
        data_lib.evaluation_batches(dev_sources, dev_targets, batch_size),
        state=state,
        callbacks=[bleu],
        seed=train["seed"],
    )
    if not distribute.is_chief():  # the chief reports; this worker's part is done
        return run, None
    metrics = {"best_val_bleu": final.best, "epochs": final.epoch, "steps": final.step}
    shown = "none" if final.best is None else f"{final.best:.2f}"
    print(f"best dev BLEU (greedy, {len(bleu_pairs)} sentences): {shown}")
    return run, metrics
