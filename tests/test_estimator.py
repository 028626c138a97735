import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from deepcluster_keras import DEC, IDEC, metrics

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
    (DEC(n_clusters=0), r"n_clusters=0"),
    (DEC(3, autoencoder="rnn"), r"autoencoder='rnn'"),
    (IDEC(3, gamma=-1), r"gamma=-1"),
    (DEC(200), r"n_samples=120 should be >= n_clusters=200"),
    (DEC(3, optimizer="rmsprop"), r"optimizer='rmsprop'"),
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


def test_interrupted_fit_continues_from_checkpoint_dir(fitted, tmp_path, monkeypatch):
    import keras

    from deepcluster_keras import estimator as estimator_module

    _, x, y = fitted
    folder = tmp_path / "progress"
    params = {**FAST, "maxiter": 30, "update_interval": 2, "tol": 0.0}  # checkpoints at 10, 20
    with _no_warning_check():
        whole = DEC(3, **params).fit(x, y)
    inputs = keras.Input((1,))
    functional = type(keras.Model(inputs, keras.layers.Dense(1)(inputs)))  # the models' class
    train_on_batch, calls = functional.train_on_batch, []

    def interrupted_at_batch_24(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 24:
            raise KeyboardInterrupt
        return train_on_batch(self, *args, **kwargs)

    monkeypatch.setattr(functional, "train_on_batch", interrupted_at_batch_24)
    with pytest.raises(KeyboardInterrupt), _no_warning_check():
        DEC(3, checkpoint_dir=str(folder), **params).fit(x, y)
    assert (folder / "ae_weights.weights.h5").is_file() and (folder / "self_training").is_dir()

    with pytest.raises(ValueError, match=r"holds the progress of another fit \(params differ\)"):
        DEC(3, checkpoint_dir=str(folder), **{**params, "alpha": 2.0}).fit(x, y)
    with pytest.raises(ValueError, match=r"\(class, params differ\)"):
        IDEC(3, checkpoint_dir=str(folder), **params).fit(x, y)

    def no_pretraining(*args, **kwargs):
        raise AssertionError("pretrained again")

    monkeypatch.setattr(estimator_module.dec, "pretrain", no_pretraining)
    calls.clear()
    with _no_warning_check():
        resumed = DEC(3, checkpoint_dir=str(folder), **params).fit(x, y)
    assert len(calls) == 30 - 20, "only the batches after the last checkpoint"
    assert resumed.n_iter_ == whole.n_iter_ == 30
    np.testing.assert_array_equal(resumed.labels_, whole.labels_)
    np.testing.assert_allclose(resumed.history_["delta_label"], whole.history_["delta_label"])
    assert not folder.exists(), "emptied when fit finishes"
