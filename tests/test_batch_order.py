"""Pretraining takes the batches in a fresh order every epoch, as Keras 2's
``fit(shuffle=True)`` did for the tutorial (Keras 3's TensorFlow ``fit``
repeats one order once a global seed is set)."""

import keras
import numpy as np
import pytest

from deepcluster_keras.training import ShuffledBatches, pretrain

N_SAMPLES, BATCH_SIZE, EPOCHS = 10, 4, 3


#: The batches the recorder saw, as lists of sample ids.
SEEN = []


@keras.saving.register_keras_serializable(package="test_batch_order")
class _Recorder(keras.layers.Layer):
    """Passes its input on and records the sample ids (column 0) it trained on
    (not those of pretraining's look at its outputs, ``training.CollapseCheck``)."""

    def compute_output_shape(self, shape):
        return shape

    def call(self, x, training=None):
        if training:
            SEEN.append(keras.ops.convert_to_numpy(x[:, 0]).round().astype(int).tolist())
        return x


@keras.saving.register_keras_serializable(package="test_batch_order")
class _EagerModel(keras.Model):
    """A model that runs eagerly whatever ``compile`` says, so the recorder sees values."""

    @property
    def run_eagerly(self):
        return True

    @run_eagerly.setter
    def run_eagerly(self, value):
        pass


def _recording_model():
    SEEN.clear()
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(3)(_Recorder()(inputs))
    return _EagerModel(inputs, outputs), SEEN


def _ids():
    x = np.zeros((N_SAMPLES, 3), "float32")
    x[:, 0] = np.arange(N_SAMPLES)
    return x


def _epochs(seen):
    flat = [i for batch in seen for i in batch]
    assert len(flat) == EPOCHS * N_SAMPLES
    return [flat[e * N_SAMPLES:(e + 1) * N_SAMPLES] for e in range(EPOCHS)]


def _orders(global_seed, **kwargs):
    model, seen = _recording_model()
    keras.utils.set_random_seed(global_seed)
    info = pretrain(model, _ids(), epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0,
                    optimizer="sgd", **kwargs)
    return _epochs(list(seen)), info


def test_every_epoch_is_a_new_permutation_of_all_samples():
    epochs, _ = _orders(0)
    for order in epochs:
        assert sorted(order) == list(range(N_SAMPLES))
    assert len({tuple(order) for order in epochs}) == EPOCHS


def test_the_same_seed_gives_the_same_orders():
    first, info = _orders(0)
    again, _ = _orders(0)
    other, _ = _orders(1)
    assert first == again
    assert first != other
    # The orders are ShuffledBatches' permutations of the recorded seed.
    batches = ShuffledBatches(_ids(), BATCH_SIZE, seed=info["seed"])
    assert first == [batches.permutation(e).tolist() for e in range(EPOCHS)]


def test_a_resumed_run_takes_the_batches_of_an_uninterrupted_one(tmp_path):
    whole, _ = _orders(0, seed=7)

    class StopAfterTwoEpochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    model, seen = _recording_model()
    with pytest.raises(KeyboardInterrupt):
        pretrain(model, _ids(), epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0, optimizer="sgd",
                 seed=7, checkpoint_dir=tmp_path, checkpoint_every=1,
                 callbacks=[StopAfterTwoEpochs()])
    model, resumed = _recording_model()
    # Another global seed: the resumed run must take the checkpoint's seed.
    keras.utils.set_random_seed(123)
    info = pretrain(model, _ids(), epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0,
                    optimizer="sgd", checkpoint_dir=tmp_path, checkpoint_every=1)
    assert info["resumed_from_epoch"] == 2
    assert [i for batch in resumed for i in batch] == whole[2]


def test_the_last_batch_holds_the_remainder():
    batches = ShuffledBatches(_ids(), BATCH_SIZE, seed=0)
    assert len(batches) == 3
    assert [len(batches[i][0]) for i in range(3)] == [4, 4, 2]
    x, target = batches[0]
    np.testing.assert_array_equal(x, target)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.data: TensorFlow's")
def test_the_tf_data_stream_gives_each_epochs_batches_in_turn():
    """``pretrain`` feeds ``dataset(first, epochs)`` on TensorFlow: epoch after
    epoch, the batches ``__getitem__`` gives, the last one short."""
    x = np.arange(23 * 3, dtype="float32").reshape(23, 3)
    batches = ShuffledBatches(x, 5, seed=7)
    streamed = [(a.numpy(), b.numpy()) for a, b in batches.dataset(2, 5)]
    expected = []
    for epoch in range(2, 5):
        batches.set_epoch(epoch)
        expected += [batches[i] for i in range(len(batches))]
    assert len(streamed) == 3 * len(batches) == 15
    for (a, b), (c, d) in zip(streamed, expected):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert streamed[4][0].shape == (3, 3)  # 23 = 4 x 5 + 3


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.data: TensorFlow's")
def test_one_call_an_epoch_trains_the_same_bits_as_a_step_a_call(monkeypatch):
    """The tf.data stream with an epoch per call of the training function
    (TensorFlow) against the PyDataset with a step per call (the other
    backends' path): the same losses and weights, bit for bit. Measured the
    same on MNIST-70k's pinned seed 4 (docs/speed.md)."""
    from deepcluster_keras import autoencoder, training

    x = np.random.default_rng(0).random((700, 16), dtype=np.float32)
    results = []
    for backend in ("tensorflow", "another"):
        keras.utils.set_random_seed(0)
        ae, _ = autoencoder((16, 32, 8))
        with monkeypatch.context() as patch:
            patch.setattr(training.keras.backend, "backend", lambda: backend)
            info = pretrain(ae, x, epochs=4, batch_size=64, seed=3, verbose=0,
                            optimizer=keras.optimizers.Adam(1e-3))
        results.append((info["loss"], ae.get_weights()))
    (losses, weights), (other_losses, other_weights) = results
    assert losses == other_losses and losses[-1] < losses[0]
    for a, b in zip(weights, other_weights):
        np.testing.assert_array_equal(a, b)
