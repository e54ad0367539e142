"""The shared optimizer module (`textlstm.optim`): the warm-up before the cosine schedule."""

import keras
import pytest

from textlstm.errors import UserError
from textlstm.optim import check_schedule_covers, learning_rate, optimizer
from textlstm.seq2seq.model import DEFAULTS


def test_warmup_ramps_to_the_rate_then_the_cosine_ends_at_the_floor():
    train = dict(DEFAULTS["train"], learning_rate=0.003, lr_schedule="cosine", min_learning_rate=5e-5,
                 warmup_steps=20)
    schedule = learning_rate(train, total_steps=120)
    assert float(schedule(0)) == pytest.approx(0.0)
    assert float(schedule(10)) == pytest.approx(0.0015, rel=1e-4)  # half-way up the ramp
    assert float(schedule(20)) == pytest.approx(0.003, rel=1e-5)
    assert float(schedule(70)) == pytest.approx((0.003 + 5e-5) / 2, rel=1e-4)  # half-way down the cosine
    assert float(schedule(120)) == pytest.approx(5e-5, rel=1e-4) and float(schedule(500)) == pytest.approx(5e-5, rel=1e-4)


def test_a_resumed_run_past_a_warmed_up_schedule_is_told_where_it_ended(capsys):
    train = dict(DEFAULTS["train"], learning_rate=0.003, lr_schedule="cosine", min_learning_rate=5e-5,
                 warmup_steps=20)
    opt = optimizer(train, total_steps=120)
    check_schedule_covers(opt, 120)  # within the schedule: nothing said
    assert capsys.readouterr().out == ""
    check_schedule_covers(opt, 200)
    assert "ended at step 120" in capsys.readouterr().out
    with pytest.raises(UserError, match="ends at step 120 at a rate of 0"):
        check_schedule_covers(optimizer(dict(train, min_learning_rate=0.0), total_steps=120), 200)
    assert isinstance(opt, keras.optimizers.Adam)
