"""The shared optimizer module (`textlstm.optim`): the warm-up before the cosine schedule."""

import keras
import pytest

from textlstm.errors import UserError
from textlstm.optim import check_schedule_covers, learning_rate, optimizer
from textlstm.seq2seq.model import DEFAULTS


def test_warmup_ramps_to_the_rate_then_the_cosine_ends_at_the_floor():
    train = dict(DEFAULTS["train"], learning_rate=0.003, lr_schedule="cosine", min_learning_rate=5e-5, warmup_steps=20)
    schedule = learning_rate(train, total_steps=120)
    assert float(schedule(0)) == pytest.approx(0.0)
    assert float(schedule(10)) == pytest.approx(0.0015, rel=1e-4)  # half-way up the ramp
    assert float(schedule(20)) == pytest.approx(0.003, rel=1e-5)
    assert float(schedule(70)) == pytest.approx((0.003 + 5e-5) / 2, rel=1e-4)  # half-way down the cosine
    assert float(schedule(120)) == pytest.approx(5e-5, rel=1e-4) and float(schedule(500)) == pytest.approx(
        5e-5, rel=1e-4
    )


def test_a_resumed_run_past_a_warmed_up_schedule_is_told_where_it_ended(capsys):
    train = dict(DEFAULTS["train"], learning_rate=0.003, lr_schedule="cosine", min_learning_rate=5e-5, warmup_steps=20)
    opt = optimizer(train, total_steps=120)
    check_schedule_covers(opt, 120)  # within the schedule: nothing said
    assert capsys.readouterr().out == ""
    check_schedule_covers(opt, 200)
    assert "ended at step 120" in capsys.readouterr().out
    with pytest.raises(UserError, match="ends at step 120 at a rate of 0"):
        check_schedule_covers(optimizer(dict(train, min_learning_rate=0.0), total_steps=120), 200)
    assert isinstance(opt, keras.optimizers.Adam)


def test_sgd_with_momentum_for_the_tagger_keeps_its_per_epoch_decay():
    from textlstm.tagger.model import DEFAULTS as TAGGER

    train = dict(TAGGER["train"], optimizer="sgd", momentum=0.9, learning_rate=0.015)
    rate = keras.optimizers.schedules.ExponentialDecay(0.015, decay_steps=10, decay_rate=0.95, staircase=True)
    opt = optimizer(train, rate=rate)
    assert isinstance(opt, keras.optimizers.SGD) and opt.momentum == pytest.approx(0.9)
    assert opt.clipnorm == train["clipnorm"]
    assert float(opt.learning_rate) == pytest.approx(0.015)
    opt.iterations.assign(25)
    assert float(opt.learning_rate) == pytest.approx(0.015 * 0.95**2)
    assert isinstance(optimizer(TAGGER["train"]), keras.optimizers.Adam)  # the default stays Adam
    with pytest.raises(UserError, match="weight_decay"):
        optimizer(dict(train, weight_decay=0.01))
