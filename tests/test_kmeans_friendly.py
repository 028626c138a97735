"""K-means-friendly methods: KMeansLayer, DKM's annealing, DKM and AlternatingKMeans."""

import keras
import numpy as np
import pytest
from conftest import reproduce_on_one_thread
from sklearn.utils._param_validation import InvalidParameterError

from deepcluster_keras import DEC, autoencoder, kmeans_friendly, metrics
from deepcluster_keras.estimator import DKM, AlternatingKMeans
from deepcluster_keras.layers import KMeansLayer

# Small settings: the blobs are separated after a few epochs.
FAST = dict(pretrain_epochs=15, pretrain_optimizer="adam", batch_size=32, n_init=3, random_state=0)


def reference_cost(z, mu, alpha):
    """sum_k softmax_k(-alpha d_k) d_k, written directly in NumPy (float64)."""
    d = ((z[:, None, :].astype(float) - mu[None, :, :]) ** 2).sum(-1)
    w = np.exp(-alpha * (d - d.min(1, keepdims=True)))
    return (w / w.sum(1, keepdims=True) * d).sum(1)


@pytest.mark.parametrize("alpha", [0.1, 1.0, 28.0])
def test_layer_matches_numpy_reference(alpha):
    rng = np.random.default_rng(2)
    z, mu = rng.normal(size=(30, 4)).astype("float32"), rng.normal(size=(5, 4)).astype("float32")
    layer = KMeansLayer(5, weights=[mu], alpha=alpha)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(z)), reference_cost(z, mu, alpha),
                               rtol=1e-4, atol=1e-6)
    s = keras.ops.convert_to_numpy(layer.soft_assignments(z))
    np.testing.assert_allclose(s.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(s.argmax(1), ((z[:, None] - mu[None]) ** 2).sum(-1).argmin(1))


def test_layer_tends_to_the_kmeans_cost_without_overflow():
    rng = np.random.default_rng(3)
    z, mu = (10 * rng.normal(size=(50, 3))).astype("float32"), rng.normal(size=(4, 3)).astype("float32")
    nearest = ((z[:, None] - mu[None]) ** 2).sum(-1).min(1)
    hard = keras.ops.convert_to_numpy(KMeansLayer(4, weights=[mu], alpha=None)(z))
    sharp = keras.ops.convert_to_numpy(KMeansLayer(4, weights=[mu], alpha=1e6)(z))
    assert np.all(np.isfinite(sharp))  # exp(-1e6 * d) without the shift would be 0 / 0
    np.testing.assert_allclose(hard, nearest, rtol=1e-5)
    np.testing.assert_allclose(sharp, nearest, rtol=1e-4)


def test_layer_alpha_is_an_assignable_saved_weight_and_centres_can_be_frozen(tmp_path):
    inputs = keras.Input((3,))
    layer = KMeansLayer(2, alpha=0.5, trainable_centres=False, name="kmeans")
    model = keras.Model(inputs, layer(inputs))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    layer.alpha.assign(7.0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert float(keras.ops.convert_to_numpy(loaded.get_layer("kmeans").alpha)) == 7.0
    z = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(z, verbose=0), model.predict(z, verbose=0))
    config = KMeansLayer(4, alpha=None, name="k").get_config()
    assert KMeansLayer.from_config(config).hard and config["n_clusters"] == 4


def test_layer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="expected a positive number.*alpha=0"):
        KMeansLayer(3, alpha=0)
    with pytest.raises(ValueError, match="hold one array.*Received: 2 arrays"):
        KMeansLayer(3, weights=[np.zeros((3, 2)), np.zeros(3)])
    with pytest.raises(ValueError, match=r"wrong shape.*\(3, 4\).*\(3, 2\)"):
        KMeansLayer(3, weights=[np.zeros((3, 2))])(keras.Input((4,)))
    with pytest.raises(ValueError, match="n_clusters"):
        KMeansLayer(1)


def test_dkm_alphas_follow_the_authors_schedule():
    alphas = kmeans_friendly.dkm_alphas()
    assert len(alphas) == 40 and alphas[0] == 0.1
    # alpha_i = 2 ** (1 / ln(i + 1) ** 2) * alpha_{i-1}, by hand for i = 1, 2:
    assert alphas[1] == pytest.approx(0.1 * 2 ** (1 / np.log(2) ** 2))
    assert alphas[2] == pytest.approx(alphas[1] * 2 ** (1 / np.log(3) ** 2))
    assert alphas[1] == pytest.approx(0.4232, abs=1e-4)
    assert alphas[-1] == pytest.approx(28.13, abs=0.01) and np.all(np.diff(alphas) > 0)


@pytest.fixture(scope="module")
def ae_weights(tmp_path_factory, scaled_blobs):
    """One pretrained autoencoder on the scaled blobs, shared by the fits below."""
    x, _ = scaled_blobs
    path = tmp_path_factory.mktemp("ae") / "ae.weights.h5"
    DEC(3, maxiter=0, **FAST).fit(x).save_autoencoder_weights(path)
    return str(path)


def test_annealing_ends_in_hard_assignments(scaled_blobs, tmp_path):
    x, y = scaled_blobs
    # An autoencoder pretrained 100 epochs: from the 15-epoch one a point on a
    # boundary between centres stayed just above 1e-3 from one-hot on JAX.
    settings = {**FAST, "pretrain_epochs": 100}
    DEC(3, maxiter=0, **settings).fit(x).save_autoencoder_weights(tmp_path / "ae.weights.h5")
    dkm = DKM(3, ae_weights=str(tmp_path / "ae.weights.h5"), alpha="annealed", epochs_per_alpha=1,
              kmeans_weight=0.1, **settings).fit(x, y)
    assert dkm.history_["alpha"][1] == 0.1 and dkm.history_["alpha"][-1] == pytest.approx(28.13, 1e-3)
    s = dkm.predict_proba(x)
    # The soft assignments are softmax(-alpha d) at the last alpha...
    z, alpha = dkm.transform(x).astype("float64"), dkm.history_["alpha"][-1]
    d = ((z[:, None] - dkm.cluster_centers_[None]) ** 2).sum(-1)
    expected = np.exp(-alpha * (d - d.min(1, keepdims=True)))
    np.testing.assert_allclose(s, expected / expected.sum(1, keepdims=True), atol=1e-4)
    # ...so one-hot within 1e-3 wherever the second-nearest centre is far
    # enough (alpha * gap > log(1e4)); measured 0.992 of the points on the
    # 2-core AMD EPYC VM (2026-12-07). A point on a boundary may stay soft:
    # one at 0.9982 on another AMD EPYC machine failed the earlier
    # every-point assertion.
    gap = np.diff(np.sort(d, axis=1)[:, :2], axis=1)[:, 0]
    far = alpha * gap > np.log(1e4)
    np.testing.assert_allclose(s[far], np.eye(3)[s.argmax(1)][far], atol=1e-3)
    assert far.mean() >= 0.9 and s.max(1).mean() >= 0.99, (far.mean(), s.max(1).mean())
    assert dkm.epochs_ == 40
    # Not asserted: that the three blobs stay apart. From the 15-epoch autoencoder
    # Adam fine-tuning merged two on TensorFlow, from this one once on JAX.


def test_dkm_trains_the_centres_and_labels_by_the_nearest(scaled_blobs, ae_weights):
    x, y = scaled_blobs
    dkm = DKM(3, ae_weights=ae_weights, n_alphas=3, epochs_per_alpha=2, **FAST).fit(x, y)
    start = DEC(3, ae_weights=ae_weights, maxiter=0, **FAST).fit(x)
    assert not np.allclose(dkm.cluster_centers_, start.cluster_centers_, atol=1e-4)
    z = dkm.transform(x)
    nearest = ((z[:, None] - dkm.cluster_centers_[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(dkm.labels_, nearest)
    np.testing.assert_array_equal(dkm.predict(x), dkm.labels_)
    assert dkm.history_["stage"] == [0, 1, 2, 3] and dkm.history_["epoch"] == [0, 2, 4, 6]
    # The start is the K-means of DEC's recipe on the same autoencoder.
    np.testing.assert_array_equal(dkm.kmeans_labels_, start.kmeans_labels_)
    assert dkm.history_["acc"][0] == metrics.acc(y, start.kmeans_labels_)
    assert dkm.history_["loss"][0] is None and all(v > 0 for v in dkm.history_["loss"][1:])


def test_alternating_centres_are_the_kmeans_means_of_the_final_embedding(scaled_blobs,
                                                                          ae_weights):
    x, y = scaled_blobs
    alt = AlternatingKMeans(3, ae_weights=ae_weights, epochs=4, **FAST).fit(x, y)
    z = alt.transform(x)
    # A K-means fixed point: each centre is the mean of its samples, each label the nearest centre.
    for k in range(3):
        np.testing.assert_allclose(alt.cluster_centers_[k], z[alt.labels_ == k].mean(0),
                                   rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(alt.predict(x), alt.labels_)
    assert alt.epochs_ == 4 and len(alt.history_["acc"]) == 5


def test_kmeans_weight_zero_is_reconstruction_alone(scaled_blobs, ae_weights):
    """With no K-means term the centres get no gradient: DKM's stay where K-means put them."""
    x, _ = scaled_blobs
    dkm = DKM(3, ae_weights=ae_weights, kmeans_weight=0.0, n_alphas=1, epochs_per_alpha=1,
              **FAST).fit(x)
    start = DEC(3, ae_weights=ae_weights, maxiter=0, **FAST).fit(x)
    np.testing.assert_allclose(dkm.cluster_centers_, start.cluster_centers_, rtol=1e-6)
    assert dkm.history_["kmeans_cost"][-1] > 0  # reported, though not trained on


@pytest.mark.parametrize("cls", [DKM, AlternatingKMeans])
def test_save_and_load_round_trip(cls, scaled_blobs, ae_weights, tmp_path):
    x, _ = scaled_blobs
    settings = dict(n_alphas=2, epochs_per_alpha=1) if cls is DKM else dict(epochs=2)
    fitted = cls(3, ae_weights=ae_weights, **settings, **FAST).fit(x)
    loaded = cls.load(fitted.save(tmp_path / "saved"))
    np.testing.assert_array_equal(loaded.predict(x), fitted.predict(x))
    np.testing.assert_allclose(loaded.predict_proba(x), fitted.predict_proba(x), atol=1e-6)
    np.testing.assert_array_equal(loaded.labels_, fitted.labels_)
    assert loaded.history_ == fitted.history_ and loaded.epochs_ == fitted.epochs_
    assert loaded.get_params() == fitted.get_params()
    with pytest.raises(TypeError, match="not a DEC"):
        DEC.load(tmp_path / "saved")


def test_an_interrupted_fit_continues_to_the_same_result(scaled_blobs, ae_weights, tmp_path,
                                                         epochs):
    x, y = scaled_blobs
    settings = dict(ae_weights=ae_weights, n_alphas=4, epochs_per_alpha=1, **FAST)
    whole = DKM(3, **settings).fit(x, y)
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C after stage 2
        DKM(3, checkpoint_dir=tmp_path / "progress", **settings).fit(
            x, y, callbacks=epochs.reset(interrupt_at=2))
    resumed = DKM(3, checkpoint_dir=tmp_path / "progress", **settings).fit(
        x, y, callbacks=epochs.reset())
    assert epochs.calls == 2, "stages 3 and 4 only"
    np.testing.assert_array_equal(resumed.labels_, whole.labels_)
    np.testing.assert_allclose(resumed.history_["loss"][1:], whole.history_["loss"][1:], rtol=1e-5)
    assert not (tmp_path / "progress").exists()  # emptied once done


@pytest.mark.parametrize("cls, params, message", [
    (DKM, dict(alpha=0), "alpha"),
    (DKM, dict(alpha="hot"), "alpha"),
    (DKM, dict(kmeans_weight=-1.0), "kmeans_weight"),
    (DKM, dict(epochs_per_alpha=0), "epochs_per_alpha"),
    (AlternatingKMeans, dict(assignment="fuzzy"), "assignment"),
    (AlternatingKMeans, dict(kmeans_weight=-0.5), "kmeans_weight"),
    (AlternatingKMeans, dict(epochs=0), "epochs"),
])
def test_bad_parameters_are_named(cls, params, message, scaled_blobs):
    x, _ = scaled_blobs
    with pytest.raises(InvalidParameterError, match=f"'{message}' parameter of {cls.__name__}"):
        cls(3, **params).fit(x)


def test_more_clusters_than_samples_is_refused():
    x = np.random.default_rng(0).uniform(size=(4, 5)).astype("float32")
    with pytest.raises(ValueError, match="n_samples=4 should be >= n_clusters=5"):
        DKM(5).fit(x)


@pytest.mark.slow(seconds=121)
def test_measured_accuracy_on_digits(tmp_path):
    """DKM and the alternating scheme with their defaults on scikit-learn's
    digits, from one autoencoder pretrained 30 epochs, one thread. Floors: the
    lowest of two machines less 0.03 (131 s on two cores)."""
    seed = reproduce_on_one_thread(tmp_path, "--dataset", "digits", "--pretrain-epochs", "30",
                                   "--methods", "ae_kmeans", "dkm", "alternating_kmeans")
    acc = {m: seed["metrics"][m]["acc"] for m in ("ae_kmeans", "dkm", "alternating_kmeans")}
    # Measured, one thread: AE + K-means 0.691, DKM 0.715, alternating 0.746 on the
    # project's 2-core AMD EPYC VM (2026-12-02, and the same to 3 decimals on
    # 2026-12-07); DKM 0.684 on another 2-core AMD EPYC machine (issue 45; its
    # alternating scheme passed 0.72). The CPU's floating point moves these by
    # a few hundredths.
    assert acc["dkm"] >= 0.65 and acc["alternating_kmeans"] >= 0.70, acc
    assert seed["training"]["dkm"]["epochs"] == 100 and seed["training"]["alternating_kmeans"]["epochs"] == 50
    assert len(seed["training"]["dkm"]["history"]["acc"]) == 21



def test_a_diverged_stage_is_reported_before_its_centres_are_reset(scaled_blobs):
    # The alternating scheme resets the centres by K-means after its last
    # stage: on a NaN embedding that would be scikit-learn's "Input contains
    # NaN"; the loop says the training diverged first, and what to try.
    x, _ = scaled_blobs
    keras.utils.set_random_seed(0)
    ae, encoder = autoencoder((x.shape[1], 8, 2))
    centres = encoder.predict(x[:3], verbose=0)
    model = kmeans_friendly.build_kmeans_model(ae, encoder, 3, centres=centres)
    with pytest.raises(FloatingPointError, match=r"diverged in stage 1 \(loss=(nan|inf)\).*"
                                                 r"lower kmeans_weight"):
        kmeans_friendly.train(model, x * 1e30, schedule=[None], epochs_per_stage=1,
                              reset_centres=True, optimizer=keras.optimizers.SGD(1e10),
                              verbose=0)
