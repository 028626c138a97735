"""Bad input is refused before any training starts, with a message that
names the argument and the value received."""

import json

import numpy as np
import pytest

from deepcluster_keras import pipeline
from deepcluster_keras.pipeline import Config


@pytest.fixture
def no_training(monkeypatch):
    """Fail loudly if a bad input got as far as training."""

    def boom(*args, **kwargs):
        raise AssertionError("training started despite bad input")

    monkeypatch.setattr(pipeline.dec, "pretrain", boom)
    monkeypatch.setattr(pipeline, "build_autoencoder", boom)


def quick(tmp_path, **kwargs):
    settings = {"out": str(tmp_path / "out"), "pretrain_epochs": 1, "maxiter": 1,
                "verbose": 0, "plots": False}
    return Config(**{**settings, **kwargs})


@pytest.mark.parametrize(
    "x,y,kwargs,message",
    [
        (np.array([["a", "b"], ["c", "d"]]), None, {"n_clusters": 2}, r"non-numeric data for `x`.*dtype=<U1"),
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]), None, {"n_clusters": 2}, r"`x` contains 1 NaN or infinite"),
        (np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]), None, {"n_clusters": 2}, r"`x` contains 1 NaN or infinite"),
        (np.arange(10.0), None, {"n_clusters": 2}, r"Expected 2-D `x`.*shape=\(10,\)"),
        (np.zeros((5, 3)), None, {"n_clusters": 8}, r"n_samples=5 should be >= n_clusters=8"),
        (np.zeros((5, 3)), None, {"n_clusters": 0}, r"n_clusters.*Received: n_clusters=0"),
        (np.zeros((5, 3)), None, {"n_clusters": 1}, r"integer >= 2.*Received: n_clusters=1"),
        (np.zeros((5, 3)), np.arange(4), {}, r"len\(y\)=4 for n_samples=5"),
        (np.zeros((5, 3)), None, {}, r"Give n_clusters"),
        (np.zeros((5, 64)), None, {"n_clusters": 2, "autoencoder": "conv"}, r"image-shaped `x`.*shape=\(5, 64\)"),
        (np.zeros((5, 3)), None, {"n_clusters": 2, "autoencoder": "vae"}, r"autoencoder.*Received: autoencoder='vae'"),
        (np.zeros((5, 3)), None, {"n_clusters": 2, "maxiter": -1}, r"maxiter.*Received: maxiter=-1"),
        (np.zeros((5, 3)), None, {"n_clusters": 2, "tol": 2.0}, r"tol=2.0"),
        (np.zeros((5, 3)), None, {"n_clusters": 2, "batch_size": 0}, r"batch_size.*Received: batch_size=0"),
        (np.zeros((5, 3)), None, {"n_clusters": 2, "optimizer": "rmsprop"}, r"`optimizer`, expected 'sgd' or 'adam'.*optimizer='rmsprop'"),
    ],
)
def test_bad_input_is_refused_before_training(tmp_path, no_training, x, y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipeline.run(quick(tmp_path, **kwargs), x=x, y=y)


def test_missing_weights_file(tmp_path, no_training):
    config = quick(tmp_path, n_clusters=2, ae_weights=str(tmp_path / "nope.weights.h5"))
    with pytest.raises(FileNotFoundError, match=r"ae_weights=.*nope.weights.h5"):
        pipeline.run(config, x=np.zeros((5, 3)))


def test_unwritable_output_folder(tmp_path, no_training):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    config = quick(tmp_path, n_clusters=2)
    config.out = str(blocker / "out")
    with pytest.raises(ValueError, match=r"output folder `out` cannot be written.*file/out"):
        pipeline.run(config, x=np.zeros((5, 3)))


def test_weights_of_another_architecture(tmp_path):
    from deepcluster_keras import autoencoder

    ae, _ = autoencoder((10, 500, 500, 2000, 10))
    path = tmp_path / "other.weights.h5"
    ae.save_weights(path)
    config = quick(tmp_path, n_clusters=2, ae_weights=str(path))
    with pytest.raises(ValueError, match=r"ae_weights=.*other.weights.h5.*cannot be loaded.*\(None, 3\)"):
        pipeline.run(config, x=np.random.default_rng(0).random((5, 3)))


def test_run_on_given_data_writes_results_and_reloads(tmp_path, blobs):
    import keras

    from deepcluster_keras import autoencoder

    x, y = blobs
    config = Config(out=str(tmp_path / "out"), pretrain_epochs=2, pretrain_optimizer="adam",
                    maxiter=50, update_interval=10, batch_size=32, verbose=0)
    results = pipeline.run(config, x=x, y=y)
    out = tmp_path / "out"
    saved = json.loads((out / "results.json").read_text())
    assert saved["status"] == "done" and saved["n_clusters"] == 3
    assert saved["metrics"] == results["metrics"]
    model = keras.saving.load_model(out / "dec_model.keras")
    np.testing.assert_array_equal(model.predict(x, verbose=0).argmax(1), np.load(out / "labels.npy"))

    # Starting from the saved weights skips pretraining; with maxiter=0 the
    # DEC model's encoder is exactly the saved autoencoder's.
    config2 = Config(**{**config.__dict__, "out": str(tmp_path / "again"), "maxiter": 0,
                        "ae_weights": str(out / "ae_weights.weights.h5")})
    again = pipeline.run(config2, x=x, y=y)
    assert again["pretrain"]["loaded_from"].endswith("ae_weights.weights.h5")
    ae, _ = autoencoder((5, 500, 500, 2000, 10))
    ae.load_weights(out / "ae_weights.weights.h5")
    reloaded = keras.saving.load_model(tmp_path / "again" / "dec_model.keras")
    for name in ("encoder_0", "encoder_3"):
        for a, b in zip(ae.get_layer(name).get_weights(), reloaded.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_interrupted_run_keeps_what_was_finished(tmp_path, blobs, monkeypatch):
    x, y = blobs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.dec, "self_train", interrupted)
    config = Config(out=str(tmp_path / "out"), pretrain_epochs=2, pretrain_optimizer="adam",
                    verbose=0)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(config, x=x, y=y)
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["status"] == "interrupted"
    assert "ae_kmeans" in saved["metrics"] and saved["pretrain"]["epochs"] == 2
    assert (tmp_path / "out" / "ae_weights.weights.h5").is_file()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # stops at maxiter
def test_interrupted_self_training_continues_from_its_checkpoint(tmp_path, blobs, monkeypatch,
                                                                 capsys):
    import keras

    x, y = blobs
    out = tmp_path / "out"
    # Checkpoints every fifth update: at iterations 10 and 20.
    config = Config(out=str(out), pretrain_epochs=2, pretrain_optimizer="adam", maxiter=30,
                    update_interval=2, tol=0.0, verbose=2, plots=False)
    inputs = keras.Input((1,))
    functional = type(keras.Model(inputs, keras.layers.Dense(1)(inputs)))  # the models' class
    train_on_batch = functional.train_on_batch
    calls, interrupt_at = [], [24]  # Ctrl-C at the 24th batch

    def counted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == interrupt_at[0]:
            raise KeyboardInterrupt
        return train_on_batch(self, *args, **kwargs)

    monkeypatch.setattr(functional, "train_on_batch", counted)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(config, x=x, y=y)
    weights = str(out / "ae_weights.weights.h5")
    assert f"rerun the same command plus --ae-weights {weights} to continue" in capsys.readouterr().out

    calls.clear()
    interrupt_at[0] = None
    resumed = pipeline.run(Config(**{**vars(config), "ae_weights": weights}), x=x, y=y)
    assert len(calls) == 10 and resumed["self_training"]["n_iter"] == 30
    assert resumed["status"] == "done" and not (out / "self_training_checkpoint").exists()

    # A run that pretrains anew starts its self-training afresh.
    calls.clear()
    interrupt_at[0] = 14  # after the checkpoint at iteration 10
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(config, x=x, y=y)
    assert (out / "self_training_checkpoint").is_dir()
    calls.clear()
    interrupt_at[0] = None
    assert pipeline.run(config, x=x, y=y)["self_training"]["n_iter"] == 30
    assert len(calls) == 30

    # A run started from given weights continues with the same command.
    calls.clear()
    interrupt_at[0] = 14
    capsys.readouterr()
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(Config(**{**vars(config), "ae_weights": weights}), x=x, y=y)
    assert "rerun the same command to continue it" in capsys.readouterr().out


def test_a_run_that_fails_says_so_in_its_results(tmp_path, blobs):
    x, y = blobs
    damaged = tmp_path / "ae.weights.h5"
    damaged.write_bytes(b"not an HDF5 file")
    config = Config(out=str(tmp_path / "out"), ae_weights=str(damaged), verbose=0, plots=False)
    with pytest.raises(ValueError, match="cannot be loaded"):
        pipeline.run(config, x=x, y=y)
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["status"] == "failed" and saved["error"].startswith("ValueError: ")


@pytest.mark.parametrize("method,key", [
    ("kmeans", "kmeans"), ("ae+gmm", "ae_gmm"), ("ae+agglomerative", "ae_agglomerative"),
    ("ae+spectral", "ae_spectral"), ("ae+dbscan", "ae_dbscan"), ("idec", "idec"),
])
def test_every_method_runs_and_scores(tmp_path, blobs, method, key):
    from sklearn.preprocessing import MinMaxScaler

    x, y = blobs
    x = MinMaxScaler().fit_transform(x)
    # IDEC gets 20 pretraining epochs: after 10, one of the backends' random
    # starts (JAX's) left a weak embedding that IDEC drifted from (0.99 -> 0.80).
    # TensorFlow from JAX's pretrained weights did the same, and both reach 1.0
    # from 20 epochs: it was the start, not the backend.
    config = Config(out=str(tmp_path / "out"), method=method,
                    pretrain_epochs=20 if method == "idec" else 10, pretrain_optimizer="adam",
                    maxiter=40, update_interval=10, batch_size=32, n_init=3, verbose=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        results = pipeline.run(config, x=x, y=y)
    scores = results["metrics"][key]
    assert set(scores) == {"acc", "nmi", "ari", "purity"}
    assert scores["acc"] >= ACC_FLOOR[method], scores
    if "ae_kmeans" in results["metrics"]:  # self-training keeps what its start found
        assert scores["acc"] >= results["metrics"]["ae_kmeans"]["acc"] - 0.05
    assert -1 <= results["silhouette"] <= 1
    assert (tmp_path / "out" / "labels.npy").is_file()
    assert ("pretrain" in results) == (method != "kmeans")


# Measured on TensorFlow: 1.0 for every method; DBSCAN may leave points as noise.
ACC_FLOOR = {"kmeans": 1.0, "ae+gmm": 1.0, "ae+agglomerative": 1.0, "ae+spectral": 1.0,
             "ae+dbscan": 0.9, "idec": 1.0}


def test_unknown_method(tmp_path, no_training):
    with pytest.raises(ValueError, match=r"method.*Received: method='ae\+kmedoids'"):
        pipeline.run(quick(tmp_path, method="ae+kmedoids", n_clusters=2), x=np.zeros((5, 3)))
