import json
import warnings

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from deepcluster_keras import DEC, IDEC, autoencoders, metrics

FAST = dict(pretrain_epochs=15, pretrain_optimizer="adam", batch_size=32, n_init=3, maxiter=60,
            update_interval=20, random_state=0)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0] * 5, [4.0] * 5, [-4.0, 4.0, -4.0, 4.0, -4.0]])
    y = np.repeat(np.arange(3), 40)
    x = (centres[y] + rng.normal(scale=0.5, size=(len(y), 5)))
    x = MinMaxScaler().fit_transform(x).astype("float32")  # [0, 1], as the tutorial's data
    with _no_warning_check():  # may stop at maxiter
        estimator = DEC(3, **FAST).fit(x, y)
    return estimator, x, y


class _no_warning_check:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def test_init_only_stores_and_clone_works():
    estimator = IDEC(4, gamma=0.5, maxiter=7)
    params = estimator.get_params()
    assert params["n_clusters"] == 4 and params["gamma"] == 0.5 and params["maxiter"] == 7
    copy = clone(estimator)
    assert copy.get_params() == params and copy is not estimator
    assert DEC(n_clusters="nonsense").n_clusters == "nonsense", "checked in fit, not __init__"
    estimator.set_params(maxiter=9)
    assert estimator.maxiter == 9


def test_fit_sets_attributes_and_predicts(fitted):
    estimator, x, y = fitted
    assert metrics.acc(y, estimator.labels_) == 1.0
    assert estimator.cluster_centers_.shape == (3, 10)
    assert np.all(np.isfinite(estimator.history_["loss"][1:]))
    assert estimator.n_iter_ > 0 and estimator.history_["acc"][-1] == 1.0
    np.testing.assert_array_equal(estimator.predict(x), estimator.labels_)
    q = estimator.predict_proba(x)
    assert q.shape == (len(x), 3)
    np.testing.assert_allclose(q.sum(1), 1.0, rtol=1e-5)
    assert estimator.transform(x).shape == (len(x), 10)


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError):
        DEC().predict(np.zeros((3, 4)))
    with pytest.raises(NotFittedError):
        DEC().transform(np.zeros((3, 4)))


def test_save_and_load_round_trip(fitted, tmp_path):
    estimator, x, _ = fitted
    estimator.save(tmp_path / "dec")
    loaded = DEC.load(tmp_path / "dec")
    assert loaded.get_params() == estimator.get_params()
    np.testing.assert_allclose(loaded.predict_proba(x), estimator.predict_proba(x), rtol=1e-6)
    np.testing.assert_allclose(loaded.transform(x), estimator.transform(x), rtol=1e-6)
    np.testing.assert_array_equal(loaded.labels_, estimator.labels_)
    np.testing.assert_array_equal(loaded.cluster_centers_, estimator.cluster_centers_)
    assert loaded.history_ == estimator.history_
    assert not list((tmp_path / "dec").glob("*.pkl")), "no pickle"
    with pytest.raises(FileNotFoundError, match="No saved estimator"):
        DEC.load(tmp_path / "nothing")


def test_pipeline_with_a_scaler_and_fit_predict(fitted):
    _, x, y = fitted
    pipe = make_pipeline(MinMaxScaler(), DEC(3, **FAST))
    with _no_warning_check():
        labels = pipe.fit_predict(x * 100 + 7)
    assert metrics.acc(y, labels) == 1.0
    np.testing.assert_array_equal(pipe.predict(x * 100 + 7), labels)


def test_idec_keeps_the_decoder_and_round_trips(fitted, tmp_path):
    _, x, y = fitted
    with _no_warning_check():
        idec = IDEC(3, gamma=0.1, **FAST).fit(x)
    assert len(idec.model_.outputs) == 2
    assert metrics.acc(y, idec.labels_) == 1.0
    idec.save(tmp_path / "idec")
    loaded = IDEC.load(tmp_path / "idec")
    assert isinstance(loaded, IDEC) and loaded.gamma == 0.1
    np.testing.assert_allclose(loaded.predict_proba(x), idec.predict_proba(x), rtol=1e-6)


@pytest.mark.parametrize("estimator,message", [
    (DEC(n_clusters=0), r"'n_clusters' parameter of DEC must be an int in the range \[2, inf\)"),
    (DEC(3, autoencoder="rnn"), r"'autoencoder' parameter of DEC .*Got 'rnn'"),
    (IDEC(3, gamma=-1), r"'gamma' parameter of IDEC .*Got -1"),
    (DEC(200), r"n_samples=120 should be >= n_clusters=200"),
    (DEC(3, optimizer="rmsprop"), r"'optimizer' parameter of DEC .*Got 'rmsprop'"),
    (DEC(3, alpha=0), r"'alpha' parameter of DEC must be a float in the range \(0.0, inf\)"),
])
def test_bad_parameters_fail_in_fit(fitted, estimator, message):
    _, x, _ = fitted
    with pytest.raises(ValueError, match=message):
        estimator.fit(x)


def test_self_training_optimizer_is_the_one_asked_for(fitted):
    import keras

    estimator, x, y = fitted
    assert isinstance(estimator.model_.optimizer, keras.optimizers.SGD)
    assert float(estimator.model_.optimizer.learning_rate) == pytest.approx(0.01)
    with _no_warning_check():
        adam = DEC(3, **{**FAST, "optimizer": "adam"}).fit(x, y)
    assert isinstance(adam.model_.optimizer, keras.optimizers.Adam)
    assert metrics.acc(y, adam.labels_) >= 0.9  # three well-separated blobs


def test_a_fit_that_saved_nothing_does_not_bind_its_folder(fitted, tmp_path, monkeypatch):
    """A fit that failed before its first checkpoint leaves only its stamp;
    a fit with other parameters may then use the folder."""
    from deepcluster_keras import training as training_module

    _, x, y = fitted
    folder = tmp_path / "progress"

    def failing_pretraining(*args, **kwargs):
        raise FloatingPointError("diverged")

    with monkeypatch.context() as patch:
        patch.setattr(training_module, "pretrain", failing_pretraining)
        with pytest.raises(FloatingPointError):
            DEC(3, checkpoint_dir=str(folder), **{**FAST, "maxiter": 0}).fit(x)
    assert sorted(p.name for p in folder.iterdir()) == ["fit.json"]
    with _no_warning_check():
        DEC(3, checkpoint_dir=str(folder), **{**FAST, "maxiter": 0, "alpha": 2.0}).fit(x)
    assert not folder.exists()  # finished, emptied


def test_interrupted_fit_continues_from_checkpoint_dir(fitted, tmp_path, batches, monkeypatch):
    from deepcluster_keras import training as training_module

    _, x, y = fitted
    folder = tmp_path / "progress"
    params = {**FAST, "maxiter": 30, "update_interval": 2, "tol": 0.0}  # checkpoints at 10, 20
    with _no_warning_check():
        whole = DEC(3, **params).fit(x, y)
    with pytest.raises(KeyboardInterrupt), _no_warning_check():
        DEC(3, checkpoint_dir=str(folder), **params).fit(
            x, y, callbacks=batches.reset(interrupt_at=24))
    assert (folder / "ae_weights.weights.h5").is_file() and (folder / "self_training").is_dir()

    with pytest.raises(ValueError, match=r"holds the progress of another fit \(params differ\)"):
        DEC(3, checkpoint_dir=str(folder), **{**params, "alpha": 2.0}).fit(x, y)
    with pytest.raises(ValueError, match=r"\(class, params differ\)"):
        IDEC(3, checkpoint_dir=str(folder), **params).fit(x, y)
    # A stamp written before learning_rate existed names the same fit: the
    # parameter counts at its default (None); another value is another fit.
    stamp = json.loads((folder / "fit.json").read_text())
    del stamp["params"]["learning_rate"]
    (folder / "fit.json").write_text(json.dumps(stamp))
    with pytest.raises(ValueError, match=r"holds the progress of another fit \(params differ\)"):
        DEC(3, checkpoint_dir=str(folder), **{**params, "learning_rate": 0.5}).fit(x, y)

    def no_pretraining(*args, **kwargs):
        raise AssertionError("pretrained again")

    monkeypatch.setattr(training_module, "pretrain", no_pretraining)
    with _no_warning_check():
        resumed = DEC(3, checkpoint_dir=str(folder), **params).fit(x, y, callbacks=batches.reset())
    assert batches.calls == 30 - 20, "only the batches after the last checkpoint"
    assert resumed.n_iter_ == whole.n_iter_ == 30
    np.testing.assert_array_equal(resumed.labels_, whole.labels_)
    np.testing.assert_allclose(resumed.history_["delta_label"], whole.history_["delta_label"])
    assert not folder.exists(), "emptied when fit finishes"


def test_learning_rate_sets_self_trainings_rate(fitted, tmp_path):
    """FcIDEC-DA's SGD(1.0) and any other rate; None keeps each optimizer's."""
    estimator, x, _ = fitted
    path = estimator.save_autoencoder_weights(tmp_path / "ae.weights.h5")
    settings = {**FAST, "maxiter": 2, "ae_weights": str(path)}
    for params, name, rate in [({}, "SGD", 0.01), ({"learning_rate": 1.0}, "SGD", 1.0),
                               ({"optimizer": "adam"}, "Adam", 0.001),
                               ({"optimizer": "adam", "learning_rate": 0.02}, "Adam", 0.02)]:
        optimizer = IDEC(3, **settings, **params).fit(x).model_.optimizer
        assert type(optimizer).__name__ == name
        assert float(optimizer.learning_rate) == pytest.approx(rate), params
    with pytest.raises(InvalidParameterError, match="'learning_rate' parameter of DEC"):
        DEC(3, learning_rate=0.0).fit(x)


def test_given_pretrained_weights_are_shared_and_not_trained_again(fitted, tmp_path, monkeypatch):
    from deepcluster_keras import training as training_module

    estimator, x, y = fitted
    path = estimator.save_autoencoder_weights(tmp_path / "ae.weights.h5")
    monkeypatch.setattr(training_module, "pretrain", None)  # would fail if called
    start = DEC(3, **{**FAST, "maxiter": 0}, ae_weights=str(path)).fit(x)
    assert start.n_iter_ == 0 and start.pretrain_["loaded_from"] == str(path)
    np.testing.assert_array_equal(start.kmeans_labels_, estimator.kmeans_labels_)
    # With no self-training the labels are the nearest centres: AE + K-means.
    np.testing.assert_array_equal(start.labels_, start.kmeans_labels_)
    np.testing.assert_array_equal(start.cluster_centers_, KMeans_centres(start, x))


def test_the_saved_autoencoder_is_the_pretrained_one_not_the_self_trained(fitted, tmp_path):
    """Self-training trains the encoder; the weights saved for another
    estimator are those it started from, as a fit stopped after pretraining
    has them (the same seed, so the same pretraining)."""
    estimator, x, _ = fitted
    assert estimator.n_iter_ > 0
    saved, _ = autoencoders.autoencoder((5, 500, 500, 2000, 10))
    saved.load_weights(estimator.save_autoencoder_weights(tmp_path / "ae.weights.h5"))
    # Marked with the output it was pretrained for, which the loader checks.
    sigmoid, _ = autoencoders.autoencoder((5, 500, 500, 2000, 10), output_activation="sigmoid")
    with pytest.raises(ValueError, match="pretrained for a linear output"):
        autoencoders.load_autoencoder_weights(sigmoid, tmp_path / "ae.weights.h5")
    pretrained = DEC(3, **{**FAST, "maxiter": 0}).fit(x).autoencoder_
    for a, b in zip(saved.get_weights(), pretrained.get_weights()):
        np.testing.assert_array_equal(a, b)
    trained = estimator.autoencoder_.get_layer("encoder_0").get_weights()[0]
    assert not np.allclose(saved.get_layer("encoder_0").get_weights()[0], trained)
    # save() keeps the trained model only: a loaded estimator says so.
    loaded = DEC.load(estimator.save(tmp_path / "saved"))
    with pytest.raises(ValueError, match="call save_autoencoder_weights after fit, before save"):
        loaded.save_autoencoder_weights(tmp_path / "again.weights.h5")


def test_loaded_weights_that_give_one_output_are_named_in_a_warning(fitted, tmp_path):
    """Pretraining stops when the autoencoder collapses; weights written
    elsewhere (an older run, another tool) are checked when loaded."""
    estimator, x, y = fitted
    good = estimator.save_autoencoder_weights(tmp_path / "good.weights.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the working autoencoder loads without a warning
        DEC(3, **{**FAST, "maxiter": 0}, ae_weights=str(good)).fit(x)
    ae = keras.models.clone_model(estimator.autoencoder_)
    ae.set_weights(estimator.autoencoder_.get_weights())
    kernel, bias = ae.layers[-2].get_weights()  # the last hidden layer, every ReLU off:
    ae.layers[-2].set_weights([np.zeros_like(kernel), -np.ones_like(bias)])
    path = tmp_path / "dead.weights.h5"
    ae.save_weights(path)
    with pytest.warns(UserWarning, match=r"loaded from ae_weights='.*dead.weights.h5' gives the "
                                         "same output for every input.*another seed"):
        DEC(3, **{**FAST, "maxiter": 0}, ae_weights=str(path)).fit(x)


def KMeans_centres(estimator, x):
    """The K-means centres of ``estimator``'s embedding, as ``init_centres`` finds them."""
    from sklearn.cluster import KMeans

    z = estimator.transform(x)
    return KMeans(3, n_init=FAST["n_init"], random_state=0).fit(z).cluster_centers_.astype("float32")


def test_random_state_none_means_fresh_randomness(fitted):
    _, x, _ = fitted
    quick = {**FAST, "pretrain_epochs": 1, "maxiter": 0, "random_state": None}
    first, second = DEC(3, **quick).fit(x), DEC(3, **quick).fit(x)
    assert first.pretrain_["seed"] != second.pretrain_["seed"]
    assert not np.allclose(first.transform(x), second.transform(x))
    again = DEC(3, **{**quick, "random_state": 0}).fit(x)
    assert again.pretrain_["seed"] == DEC(3, **{**quick, "random_state": 0}).fit(x).pretrain_["seed"]


def test_predict_checks_the_number_of_features(fitted):
    estimator, x, _ = fitted
    assert estimator.n_features_in_ == 5
    with pytest.raises(ValueError, match=r"X has 4 features, but DEC is expecting 5 features"):
        estimator.predict(x[:, :4])
    with pytest.raises(ValueError, match=r"X has 4 features"):
        estimator.transform(x[:, :4])


def test_labels_in_fewer_clusters_than_asked_warn(fitted):
    _, x, _ = fitted
    # Three distinct samples, four clusters: K-means (and so DEC stopped at
    # its initialisation) can fill only three.
    three = np.repeat(x[[0, 40, 80]], 10, axis=0)
    with pytest.warns(ConvergenceWarning, match=r"into 3 of its n_clusters=4 clusters; 1 are "
                                                r"empty \(cluster \d\)"):
        DEC(4, pretrain_epochs=1, batch_size=32, n_init=1, maxiter=0, random_state=0).fit(three)


def test_labels_in_every_cluster_do_not_warn(fitted):
    _, x, _ = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        labels = DEC(3, pretrain_epochs=1, batch_size=32, n_init=1, maxiter=0,
                     random_state=0).fit(x).labels_
    assert len(np.unique(labels)) == 3


def test_images_are_flattened_for_the_dense_autoencoder(fitted):
    """Documented in DEC's docstring: (n_samples, height, width[, channels])
    is read as one row per image, where scikit-learn would refuse it."""
    estimator, x, _ = fitted
    images = x.reshape(len(x), 5, 1)
    np.testing.assert_array_equal(estimator.transform(images), estimator.transform(x))
    np.testing.assert_array_equal(estimator.predict(images[..., None]), estimator.predict(x))
    with pytest.raises(ValueError, match=r"X has 4 features"):
        estimator.transform(x[:, :4].reshape(len(x), 2, 2))
