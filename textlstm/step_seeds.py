"""Random draws that depend only on (seed, place in the model, global step).

Keras 3 saves neither a `SeedGenerator`'s draw counter nor the seed of a layer built with
`seed=None` in a `.keras` file, so a resumed training would draw other dropout masks than
the uninterrupted one. `StepSeeds` sets every generator's state before each optimizer
step from values a checkpoint does hold, which makes resume exact with dropout on.
"""

import zlib

import keras


class StepSeeds(keras.callbacks.Callback):
    """Before every optimizer step, sets each `SeedGenerator` of the model from (seed, place, step).

    A generator's state becomes `[h, 0]`: `h` is drawn by TensorFlow's stateless Philox
    generator from (`seed`, the optimizer's step counter), one value per generator, offset
    by a hash of the generator's place in the layer tree (and of a seed its layer was given);
    the draws inside the step then count up from 0 as usual. Places (paths of positions,
    not layer names, which Keras numbers per process) are the same in a model built from
    scratch and in one loaded from a checkpoint, so an interrupted and resumed run draws
    the masks of the uninterrupted one. Under `tf.distribute` the states are set in
    cross-replica context, so every replica starts the step from the same state.
    One small compiled function per step (about 0.2 ms on a CPU).
    """

    MODULUS = 2**31 - 2  # Keras folds seeds into int32 range with this modulus; stay inside it

    def __init__(self, seed):
        super().__init__()
        self.seed = int(seed or 0)
        self._reseed = self._for_model = None

    def on_train_batch_begin(self, batch, logs=None):
        if self._for_model is not self.model:
            self._reseed, self._for_model = self._make_reseed(self.model), self.model
        if self._reseed is not None:
            self._reseed()

    def _make_reseed(self, model):
        import tensorflow as tf

        places = seed_generators(model)
        if not places:
            return None
        generators = [generator for _, generator in places]
        offsets = tf.constant(
            [zlib.crc32(f"{place}:{generator._initial_seed}".encode()) % self.MODULUS for place, generator in places],
            tf.int64,
        )
        run_key = tf.constant(zlib.crc32(f"textlstm:{self.seed}".encode()), tf.int64)
        iterations = model.optimizer.iterations

        @tf.function(autograph=False)
        def reseed():
            step = tf.cast(tf.convert_to_tensor(iterations), tf.int64)
            drawn = tf.random.stateless_uniform(
                [len(generators)], seed=tf.stack([run_key, step]), minval=0, maxval=self.MODULUS, dtype=tf.int64
            )
            states = tf.stack([(drawn + offsets) % self.MODULUS, tf.zeros_like(drawn)], axis=1)
            for i, generator in enumerate(generators):
                generator.state.assign(tf.cast(states[i], generator.state.dtype))

        return reseed


def seed_generators(model):
    """`[(place, SeedGenerator)]` for every random generator in `model`; place is a path of positions."""
    found, seen = [], set()

    def walk(layer, place):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        found.extend((f"{place}#{i}", generator) for i, generator in enumerate(layer._seed_generators))
        for position, child in enumerate(layer._layers):
            walk(child, f"{place}/{position}")

    walk(model, "")
    return found
