"""The optimizer and learning-rate schedule a recipe's `[train]` block asks for, shared by the families.

One factory for every family: each family's schedule is a setting of it, read from its recipe.

Keys read: `train.learning_rate`, `train.lr_schedule` ("constant" or "cosine"),
`train.min_learning_rate` (the cosine floor), `train.warmup_steps` (a linear ramp before the
cosine, optional), `train.lr_decay` (a per-epoch decay, the tagger's, optional),
`train.weight_decay` (AdamW when > 0, optional), `train.optimizer` and `train.momentum` (SGD
with momentum instead of Adam, optional), `train.clipnorm`, and `train.precision`
("mixed_float16" wraps the optimizer in Keras's loss scaling, optional).

    char LM    cosine (or constant) rate, Adam or AdamW, loss scaling for mixed_float16
    tagger     rate × lr_decay after every epoch (a staircase `ExponentialDecay`), Adam or SGD
    seq2seq    constant, or cosine with a linear warm-up, Adam

The optimizer's class and settings are saved with the model (`last.keras`), so a resumed run
continues with the very optimizer it started with.
"""

import keras

from textlstm.errors import UserError
from textlstm.precision import with_loss_scaling
from textlstm.schema import check_learning_rate_floor


def learning_rate(train_recipe, total_steps, steps_per_epoch=1):
    """The optimizer's learning rate: a number, or a schedule over the optimizer step.

    `train.lr_schedule = "cosine"` follows half a cosine from `train.learning_rate` at step 0
    (after `train.warmup_steps` steps of a linear ramp from 0, where the recipe has that key)
    down to `train.min_learning_rate` at `total_steps` (`train.epochs` × the steps per epoch
    when the run first starts; `train.max_steps` stops a run early without changing it, so
    a capped run resumed further matches an uncapped one) and stays there (SGDR without
    restarts: Loshchilov and Hutter 2017, `keras.optimizers.schedules.CosineDecay`). The
    schedule is a function of the step alone and is saved with the optimizer, so `--resume`
    continues it exactly; a run made longer with `--resume --epochs` goes on at
    `min_learning_rate` (refused at 0: `check_schedule_covers`).

    `train.lr_decay` (where the recipe has it, and not 1.0) multiplies the rate by itself after
    every `steps_per_epoch` optimizer steps (`keras.optimizers.schedules.ExponentialDecay`,
    staircase), as the taggers of Lample et al. (2016) and Ma and Hovy (2016) were trained.

    Raises:
        UserError: `min_learning_rate` above `learning_rate`.
    """
    check_learning_rate_floor(train_recipe)
    rate, floor = train_recipe["learning_rate"], train_recipe.get("min_learning_rate", 0.0)
    decay = train_recipe.get("lr_decay", 1.0)
    if decay != 1.0:
        return keras.optimizers.schedules.ExponentialDecay(
            rate, decay_steps=steps_per_epoch, decay_rate=decay, staircase=True
        )
    if train_recipe.get("lr_schedule", "constant") == "constant":
        return rate
    warmup = int(train_recipe.get("warmup_steps", 0))
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, total_steps), alpha=floor / rate)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(1, total_steps - warmup), alpha=floor / rate, warmup_target=rate, warmup_steps=warmup
    )


def optimizer(train_recipe, total_steps=1, steps_per_epoch=1, rate=None):
    """Adam (Kingma and Ba 2015) with gradient-norm clipping and the recipe's learning-rate schedule;
    AdamW (Loshchilov and Hutter 2019, `keras.optimizers.AdamW`) when `train.weight_decay` > 0;
    SGD with `train.momentum` (heavy ball, as Lample et al. 2016 and Ma and Hovy 2016 trained
    their taggers) when `train.optimizer = "sgd"`; wrapped in `keras.optimizers.LossScaleOptimizer`
    when `train.precision = "mixed_float16"`. `total_steps` and `steps_per_epoch` are the run's
    plan (`learning_rate`); `rate` (a number or a Keras schedule) replaces the schedule
    `learning_rate` would build.

    AdamW shrinks every weight (kernels, biases, the embedding) by `learning_rate × weight_decay`
    of itself each step, apart from the gradient, so the decay follows the schedule. The class and
    its settings are saved with the model, so `--resume` continues with the same optimizer.
    """
    rate = learning_rate(train_recipe, total_steps, steps_per_epoch) if rate is None else rate
    clipnorm, decay = train_recipe["clipnorm"], train_recipe.get("weight_decay", 0.0)
    if train_recipe.get("optimizer", "adam") == "sgd":
        if decay > 0:
            raise UserError('train.weight_decay is AdamW\'s; with train.optimizer = "sgd" set it to 0')
        chosen = keras.optimizers.SGD(rate, momentum=train_recipe.get("momentum", 0.9), clipnorm=clipnorm)
    elif decay > 0:
        chosen = keras.optimizers.AdamW(rate, weight_decay=decay, clipnorm=clipnorm)
    else:
        chosen = keras.optimizers.Adam(rate, clipnorm=clipnorm)
    return with_loss_scaling(chosen, train_recipe.get("precision", "float32"))


def check_schedule_covers(opt, total_steps):
    """Before a resumed run trains up to `total_steps`: where its cosine schedule (saved with the
    optimizer) ended before that, say so, and refuse if the floor is 0, where the steps after
    the schedule's end would not change the weights. Nothing for a constant rate.

    Raises:
        UserError: a cosine schedule ending before `total_steps` at a learning rate of 0.
    """
    rate = opt.get_config()["learning_rate"]
    if not isinstance(rate, dict) or rate.get("class_name") != "CosineDecay":
        return
    config = rate["config"]
    warmup = int(config.get("warmup_steps") or 0)
    peak = float(config.get("warmup_target") or config["initial_learning_rate"])
    end, floor = int(config["decay_steps"]) + warmup, peak * float(config["alpha"])
    if total_steps <= end:
        return
    if floor == 0:
        raise UserError(
            f"this run's cosine learning-rate schedule ends at step {end} at a rate of 0 "
            f"(train.min_learning_rate), so training on to step {total_steps} would not change the "
            f"weights; start a new run with more train.epochs, or a train.min_learning_rate above 0"
        )
    print(
        f"note: the cosine learning-rate schedule ended at step {end}; steps after it train at "
        f"train.min_learning_rate={floor:g}"
    )
