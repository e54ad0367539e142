"""Keras-style `fit` and `evaluate` over `strategy.run`, for the strategy Keras 3 cannot drive.

Keras 3's own `fit` fails under `MultiWorkerMirroredStrategy` (see `distribute.trainer_for`).
This loop runs the compiled model's own `train_step` and `test_step` in every replica, so
the loss, its scaling by the number of replicas, gradient clipping, the all-reduce of the
gradients and the optimizer update are exactly Keras's; metrics are read across all
replicas of all workers with the model's own `get_metrics_result`. Callbacks are called at
the points `fit` calls them (train begin/end, epoch begin/end, batch begin/end), so the
checkpointing, CSV and TensorBoard callbacks of `textlstm.training` work unchanged.

Every worker must run the same steps in the same order: reading a metric is a collective
operation. Only the callbacks may differ between workers, as long as they read no metric.
"""

import keras
import tensorflow as tf


class StrategyLoop:
    """`fit(...)` and `evaluate(...)` for a model built and compiled under `strategy.scope()`."""

    def __init__(self, model, strategy):
        self.model, self.strategy = model, strategy
        self._train_function = self._test_function = None

    def fit(
        self,
        x,
        steps_per_epoch,
        epochs,
        initial_epoch=0,
        validation_data=None,
        callbacks=(),
        verbose="auto",
        shuffle=False,
    ):
        """Train for `epochs - initial_epoch` epochs of `steps_per_epoch` batches drawn from the stream `x`."""
        del shuffle  # batch streams arrive in their final order
        model = self.model
        self._build_optimizer()
        verbose = 1 if verbose == "auto" else verbose
        callback_list = keras.callbacks.CallbackList(
            list(callbacks),
            add_history=True,
            add_progbar=verbose != 0,
            verbose=verbose,
            epochs=epochs,
            steps=steps_per_epoch,
            model=model,
        )
        iterator = iter(self.strategy.experimental_distribute_dataset(x))
        train_function = self._make_train_function()
        model.stop_training = False
        callback_list.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            callback_list.on_epoch_begin(epoch)
            for step in range(steps_per_epoch):
                callback_list.on_train_batch_begin(step)
                train_function(iterator)
                logs = self._metrics()
                callback_list.on_train_batch_end(step, logs)
                if model.stop_training:
                    break
            logs = dict(logs)
            if validation_data is not None:
                logs.update({f"val_{name}": value for name, value in self.evaluate(validation_data).items()})
            callback_list.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        callback_list.on_train_end(logs)
        return model.history

    def evaluate(self, x, return_dict=True, verbose=0):
        """Metrics over every batch of the finite dataset `x`, as a dict of floats."""
        del return_dict, verbose  # always a dict, always quiet
        self._build_optimizer()
        test_function = self._make_test_function()
        self.model.reset_metrics()
        for batch in self.strategy.experimental_distribute_dataset(x):
            test_function(batch)
        return self._metrics()

    def _metrics(self):
        return {name: float(value) for name, value in self.model.get_metrics_result().items()}

    def _build_optimizer(self):
        """Optimizer slots are made here, under the strategy, not lazily inside a replica."""
        optimizer = self.model.optimizer
        if not optimizer.built:
            with self.strategy.scope():
                optimizer.build(self.model.trainable_variables)

    def _make_train_function(self):
        if self._train_function is None:
            step = _compiled(self.model.train_step, self.model.jit_compile)

            @tf.function
            def train_function(iterator):
                self.strategy.run(step, args=(next(iterator),))

            self._train_function = train_function
        return self._train_function

    def _make_test_function(self):
        if self._test_function is None:
            step = _compiled(self.model.test_step, self.model.jit_compile)

            @tf.function(reduce_retracing=True)
            def test_function(batch):
                self.strategy.run(step, args=(batch,))

            self._test_function = test_function
        return self._test_function


def _compiled(step, jit_compile):
    """The per-replica step compiled as Keras compiles it (XLA when the model allows it)."""
    return tf.function(tf.autograph.experimental.do_not_convert(step), reduce_retracing=True, jit_compile=jit_compile)
