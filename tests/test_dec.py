import json
import os

import keras
import numpy as np
import pytest

from deepcluster_keras import (
    PretrainingCollapsed, autoencoder, build_clustering_model, init_centres, metrics, pretrain,
    self_train, target_distribution,
)


def test_target_distribution_formula_and_properties():
    rng = np.random.default_rng(0)
    q = rng.random((50, 4)) + 0.05
    q /= q.sum(1, keepdims=True)
    p = target_distribution(q)
    # The tutorial's formula, element by element.
    f = q.sum(0)
    expected = np.array([[q[i, j] ** 2 / f[j] for j in range(4)] for i in range(50)])
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(p, expected)
    np.testing.assert_allclose(p.sum(1), 1.0)
    # Sharper: lower entropy per row, and each row's mode is reinforced when
    # clusters are balanced.
    entropy = lambda d: -(d * np.log(d)).sum(1)
    assert np.all(entropy(p) <= entropy(q) + 1e-12)
    balanced = np.full((4, 4), 0.1) + np.eye(4) * 0.6
    pb = target_distribution(balanced)
    assert np.all(np.diag(pb) > np.diag(balanced))


def test_dec_separates_blobs(blobs):
    x, y = blobs
    keras.utils.set_random_seed(0)
    ae, encoder = autoencoder((5, 16, 2))
    info = pretrain(ae, x, epochs=20, batch_size=32, optimizer="adam", verbose=0)
    assert len(info["loss"]) == 20 and info["loss"][-1] < info["loss"][0]
    centres, y_km = init_centres(encoder, x, 3, n_init=5, random_state=0)
    assert centres.shape == (3, 2)
    model = build_clustering_model(encoder, 3, centres=centres)
    result = self_train(model, x, y, y_pred_init=y_km, maxiter=200, update_interval=20,
                        batch_size=32, verbose=0)
    assert metrics.acc(y, result.labels) == 1.0
    h = result.history
    assert h["iteration"][0] == 0 and all(b - a == 20 for a, b in zip(h["iteration"], h["iteration"][1:]))
    assert h["loss"][0] is None and all(np.isfinite(h["loss"][1:]))
    assert result.converged and result.n_iter == h["iteration"][-1]


def test_self_train_warns_at_maxiter_and_wraps_batches():
    # 64 samples, batch 32: the tutorial's index rule would train on an empty
    # batch at the third step; ours wraps around.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    inputs = keras.Input(shape=(3,))
    model = build_clustering_model(keras.Model(inputs, keras.layers.Dense(2)(inputs)), 4)
    with pytest.warns(RuntimeWarning, match="maxiter=5"):
        result = self_train(model, x, maxiter=5, update_interval=100, tol=0.0,
                            batch_size=32, verbose=0)
    assert result.n_iter == 5 and not result.converged
    assert set(result.history) == {"iteration", "loss", "delta_label"}


def test_pretrain_resumes_from_checkpoint(tmp_path, blobs, epochs):
    x, _ = blobs
    keras.utils.set_random_seed(0)
    ae, _ = autoencoder((5, 8, 2))
    with pytest.raises(KeyboardInterrupt):
        pretrain(ae, x, epochs=4, verbose=0, optimizer="adam", checkpoint_dir=tmp_path,
                 checkpoint_every=2, callbacks=epochs.reset(interrupt_at=3))
    assert os.path.isfile(tmp_path / "pretrain_checkpoint.keras")
    fresh, _ = autoencoder((5, 8, 2))
    info = pretrain(fresh, x, epochs=4, verbose=0, optimizer="adam", checkpoint_dir=tmp_path,
                    checkpoint_every=2)
    assert info["resumed_from_epoch"] == 2
    # The losses and seconds of the two epochs before the checkpoint are kept.
    assert len(info["loss"]) == 4 and np.all(np.isfinite(info["loss"]))
    assert info["seconds"] > info["seconds_this_run"] > 0
    assert not os.path.exists(tmp_path / "pretrain_checkpoint.keras"), "removed when done"

    # A checkpoint of an older version (without the seed of its batch orders) is refused.
    with pytest.raises(KeyboardInterrupt):
        pretrain(autoencoder((5, 8, 2))[0], x, epochs=4, verbose=0, optimizer="adam",
                 checkpoint_dir=tmp_path, checkpoint_every=2,
                 callbacks=epochs.reset(interrupt_at=3))
    (tmp_path / "pretrain_checkpoint.json").write_text('{"epoch": 2, "loss": [], "seconds": 0}')
    with pytest.raises(ValueError, match="older version.*Delete .*pretrain_checkpoint.json"):
        pretrain(autoencoder((5, 8, 2))[0], x, epochs=4, verbose=0, optimizer="adam",
                 checkpoint_dir=tmp_path, checkpoint_every=2)


def test_pretraining_stops_and_says_so_when_the_autoencoder_collapses(blobs):
    """A layer whose ReLUs are all dead leaves the output the same for every
    input (as SGD(1.0, momentum 0.9) did on Fashion-MNIST seed 1): pretraining
    stops three epochs later instead of running on."""
    x, _ = blobs
    keras.utils.set_random_seed(0)
    ae, _ = autoencoder((5, 8, 2))
    dead = ae.get_layer("decoder_1")
    dead.set_weights([np.zeros_like(w) for w in dead.get_weights()[:1]] + [-np.ones(8)])
    with pytest.raises(PretrainingCollapsed, match="collapsed at epoch 3.*same output.*"
                                                   "another seed") as caught:
        pretrain(ae, x, epochs=20, verbose=0, optimizer=keras.optimizers.SGD(0.01))
    assert caught.value.epoch == 3
    np.testing.assert_allclose(caught.value.data_variance,
                               x[:: len(x) // 512 or 1][:512].var(0).mean())
    assert caught.value.loss >= caught.value.data_variance * 0.99  # no better than the mean
    # The same network alive trains on through all its epochs.
    keras.utils.set_random_seed(0)
    info = pretrain(autoencoder((5, 8, 2))[0], x, epochs=5, verbose=0,
                    optimizer=keras.optimizers.SGD(0.01))
    assert len(info["loss"]) == 5


def _blobs_model(x, y):
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(x.shape[1],))
    encoder = keras.Model(inputs, keras.layers.Dense(2, name="embedding")(inputs))
    centres = np.stack([encoder.predict(x[y == k], verbose=0).mean(0) for k in range(3)])
    return build_clustering_model(encoder, 3, centres=centres)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # stops at maxiter
def test_self_train_resumes_from_checkpoint_as_if_never_stopped(tmp_path, blobs, batches):
    x, y = blobs
    tmp_path = tmp_path / "checkpoint"
    settings = dict(maxiter=30, update_interval=4, tol=0.0, batch_size=32, verbose=0,
                    optimizer="adam")
    whole = self_train(_blobs_model(x, y), x, y, **settings)

    # Ctrl-C at the 20th batch: the checkpoints are at every second update, 8 and 16.
    interrupt = batches.reset(interrupt_at=20)
    with pytest.raises(KeyboardInterrupt):
        self_train(_blobs_model(x, y), x, y, checkpoint_dir=tmp_path, checkpoint_every=2,
                   callbacks=interrupt, **settings)
    state = json.loads((tmp_path / "self_training_checkpoint.json").read_text())
    assert state["iteration"] == 16 and sorted(os.listdir(tmp_path)) == [
        "self_training_16.keras", "self_training_16.npz", "self_training_checkpoint.json"]

    resumed = self_train(_blobs_model(x, y), x, y, checkpoint_dir=tmp_path, checkpoint_every=2,
                         callbacks=batches.reset(), **settings)
    assert batches.calls == 30 - 16, "trains only the batches after the checkpoint"
    assert resumed.n_iter == whole.n_iter == 30
    assert resumed.history["iteration"] == whole.history["iteration"]
    for key in ("loss", "delta_label", "acc"):
        np.testing.assert_allclose(np.array(resumed.history[key], dtype=float),
                                   np.array(whole.history[key], dtype=float), rtol=1e-5)
    np.testing.assert_array_equal(resumed.labels, whole.labels)
    assert not tmp_path.exists(), "removed when done"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # stops at maxiter
def test_self_train_refuses_a_checkpoint_of_other_data_or_settings(tmp_path, blobs, batches):
    x, y = blobs
    with pytest.raises(KeyboardInterrupt):
        self_train(_blobs_model(x, y), x, maxiter=20, update_interval=4, tol=0.0, verbose=0,
                   checkpoint_dir=tmp_path, checkpoint_every=1,
                   callbacks=batches.reset(interrupt_at=10))
    with pytest.raises(ValueError, match=r"checkpoint in .* other data, model or settings "
                                         r"\(update_interval differ\).*delete that folder"):
        self_train(_blobs_model(x, y), x, maxiter=20, update_interval=5, tol=0.0, verbose=0,
                   checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=r"\(data differ\)"):
        self_train(_blobs_model(x, y), x * 2, maxiter=20, update_interval=4, tol=0.0, verbose=0,
                   checkpoint_dir=tmp_path)
    # Another pretrained encoder (the command line's --ae-weights of another run).
    other = _blobs_model(x, y)
    kernel = other.get_layer("embedding")
    kernel.set_weights([w + 0.01 for w in kernel.get_weights()])
    with pytest.raises(ValueError, match=r"\(pretrained_weights differ\)"):
        self_train(other, x, maxiter=20, update_interval=4, tol=0.0, verbose=0,
                   checkpoint_dir=tmp_path)
    # Other centres from the same encoder resume: K-means need not repeat to the last bit.
    moved = _blobs_model(x, y)
    layer = moved.get_layer("clustering")
    layer.set_weights([w + 0.01 for w in layer.get_weights()])
    resumed = self_train(moved, x, maxiter=20, update_interval=4, tol=0.0, verbose=0,
                         checkpoint_dir=tmp_path)
    assert resumed.n_iter == 20 and not os.path.exists(tmp_path / "self_training_checkpoint.json")


def test_joint_loss_keeps_the_decoder_and_changes_the_encoders_training(blobs):
    x, y = blobs

    def trained_encoder(joint):
        keras.utils.set_random_seed(0)
        ae, encoder = autoencoder((5, 16, 2))
        pretrain(ae, x, epochs=5, batch_size=32, optimizer="adam", verbose=0)
        centres, y_km = init_centres(encoder, x, 3, n_init=2, random_state=0)
        model = build_clustering_model(encoder, 3, centres=centres,
                                       autoencoder=ae if joint else None)
        result = self_train(model, x, y, y_pred_init=y_km, maxiter=30, update_interval=10,
                            tol=0.0, batch_size=32, verbose=0)
        assert all(np.isfinite(result.history["loss"][1:]))
        return model, encoder.get_layer("encoder_0").get_weights()[0]

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        joint_model, joint_kernel = trained_encoder(True)
        _, dec_kernel = trained_encoder(False)
    assert [tuple(o.shape) for o in joint_model.outputs] == [(None, 3), (None, 5)]
    assert not np.allclose(joint_kernel, dec_kernel, atol=1e-6)


def test_joint_loss_is_gamma_kl_plus_mse_computed_by_hand():
    """The joint model's first training loss, against NumPy: the same on every backend."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 5)).astype("float32")
    keras.utils.set_random_seed(0)
    ae, encoder = autoencoder((5, 8, 3))
    centres = np.array([[0.1, 0.2, 0.3], [0.5, -0.2, 0.1]], "float32")
    model = build_clustering_model(encoder, 2, centres=centres, autoencoder=ae)
    gamma = 0.1
    model.compile(optimizer=keras.optimizers.SGD(0.01, 0.9), loss=["kld", "mse"],
                  loss_weights=[gamma, 1.0])
    q, reconstruction = (np.asarray(v, "float64") for v in model.predict(x, verbose=0))
    p = target_distribution(q)
    kl = np.mean(np.sum(p * np.log(p / q), axis=1))
    mse = np.mean((reconstruction - x) ** 2)
    total, kl_out, mse_out = np.asarray(model.train_on_batch(x, [p, x]), "float64")
    assert kl_out == pytest.approx(kl, rel=1e-3)
    assert mse_out == pytest.approx(mse, rel=1e-4)
    assert total == pytest.approx(gamma * kl + mse, rel=1e-4)


def test_divergence_is_reported_not_hidden(blobs):
    x, _ = blobs
    ae, encoder = autoencoder((5, 4, 2))
    model = build_clustering_model(encoder, 3, autoencoder=ae)
    # Reconstruction errors of 1e40 overflow float32: the loss is inf from the start.
    with pytest.raises(FloatingPointError, match="Self-training diverged.*Scale the data"):
        self_train(model, x * 1e20, maxiter=50, update_interval=10, batch_size=32, verbose=0)


def test_self_train_tells_callbacks_of_batches_and_updates_and_stops_when_asked(blobs):
    x, y = blobs
    seen = {"batches": [], "updates": [], "began": 0, "ended": 0}

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["began"] += 1

        def on_train_batch_end(self, batch, logs=None):
            seen["batches"].append((batch, logs["loss"]))

        def on_epoch_end(self, epoch, logs=None):
            seen["updates"].append((epoch, logs))
            if epoch == 2:
                self.model.stop_training = True  # as EarlyStopping would

        def on_train_end(self, logs=None):
            seen["ended"] += 1

    result = self_train(_blobs_model(x, y), x, y, maxiter=100, update_interval=4, tol=0.0,
                        batch_size=32, verbose=0, callbacks=[Record()])
    # Updates at iterations 0, 4 and 8; the third stops the loop before its batches.
    assert [e for e, _ in seen["updates"]] == [0, 1, 2] and result.n_iter == 8
    assert [b for b, _ in seen["batches"]] == list(range(8)) and seen["began"] == seen["ended"] == 1
    assert [row["iteration"] for _, row in seen["updates"]] == result.history["iteration"]
    assert [row["acc"] for _, row in seen["updates"]] == result.history["acc"]
    # Each update's loss is the mean of the batch losses since the one before.
    losses = [loss for _, loss in seen["batches"]]
    np.testing.assert_allclose(result.history["loss"][1:], [np.mean(losses[:4]), np.mean(losses[4:])])
    assert not result.converged
