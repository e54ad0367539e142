"""Stopping a training run at a chosen optimizer step, as Ctrl-C or a crash would."""

from textlstm import training


def stop_at(monkeypatch, step, exception):
    """Raise `exception` once, after optimizer step `step` (KeyboardInterrupt = Ctrl-C)."""
    fired = []

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == step and not fired:
            fired.append(step)
            raise exception

    monkeypatch.setattr(training._Checkpointer, "on_train_batch_end", on_train_batch_end, raising=False)
