"""Bad input is refused before any training starts, with a message that
names the argument and the value received."""

import json

import keras
import numpy as np
import pytest

from deepcluster_keras import autoencoders, metrics, training
from deepcluster_keras.machine import cpu_model
from deepcluster_keras.run import run

#: A quick recipe for the tests.
RECIPE = dict(pretrain_epochs=2, pretrain_optimizer="adam", maxiter=50, update_interval=10,
              batch_size=32)


@pytest.fixture
def no_training(monkeypatch):
    """Fail loudly if a bad input got as far as training."""

    def boom(*args, **kwargs):
        raise AssertionError("training started despite bad input")

    monkeypatch.setattr(training, "pretrain", boom)
    monkeypatch.setattr(autoencoders, "autoencoder", boom)
    monkeypatch.setattr(autoencoders, "conv_autoencoder", boom)


def quick(tmp_path, x, y=None, method="dec", n_clusters=None, ae_weights=None, out="out",
          callbacks=None, **recipe):
    """``run`` with a quick recipe, quietly, into ``tmp_path / out``."""
    return run(method, {**RECIPE, **recipe}, n_clusters=n_clusters, ae_weights=ae_weights,
               out=str(tmp_path / out), plots=False, verbose=0, x=x, y=y, callbacks=callbacks)


@pytest.mark.parametrize(
    "x,y,kwargs,message",
    [
        (np.array([["a", "b"], ["c", "d"]]), None, {"n_clusters": 2}, r"non-numeric data for `X`.*dtype=<U1"),
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]), None, {"n_clusters": 2}, r"`X` contains 1 NaN or infinite"),
        (np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]), None, {"n_clusters": 2}, r"`X` contains 1 NaN or infinite"),
        (np.arange(10.0), None, {"n_clusters": 2}, r"Expected 2-D `X`.*shape=\(10,\)"),
        (np.zeros((5, 3)), None, {"n_clusters": 8}, r"n_samples=5 should be >= n_clusters=8"),
        (np.zeros((5, 3)), None, {"n_clusters": 0}, r"integer >= 2.*Received: n_clusters=0"),
        (np.zeros((5, 3)), None, {"n_clusters": 1}, r"integer >= 2.*Received: n_clusters=1"),
        (np.zeros((5, 3)), np.arange(4), {}, r"len\(y\)=4 for n_samples=5"),
        (np.zeros((5, 3)), None, {}, r"Give n_clusters"),
        (np.zeros((5, 64)), None, {"n_clusters": 2, "autoencoder": "conv"}, r"image-shaped `X`.*shape=\(5, 64\)"),
        (np.zeros((5, 3)), None, {"n_clusters": 2, "autoencoder": "vae"}, r"'autoencoder' parameter of DEC must be a str among .*Got 'vae'"),
        (np.zeros((5, 3)), None, {"n_clusters": 2, "maxiter": -1}, r"'maxiter' parameter of DEC must be an int in the range \[0, inf\). Got -1"),
        (np.zeros((5, 3)), None, {"n_clusters": 2, "tol": 2.0}, r"'tol' parameter .* range \[0.0, 1.0\). Got 2.0"),
        (np.zeros((5, 3)), None, {"n_clusters": 2, "batch_size": 0}, r"'batch_size' parameter .* Got 0"),
        (np.zeros((5, 3)), None, {"n_clusters": 2, "optimizer": "rmsprop"}, r"'optimizer' parameter of DEC must be a str among .*'sgd'.*Got 'rmsprop'"),
        (np.zeros((5, 3)), None, {"n_clusters": 2, "method": "ae_kmedoids"}, r"Expected methods from .*Received: methods=\['ae_kmedoids'\]"),
    ],
)
def test_bad_input_is_refused_before_training(tmp_path, no_training, x, y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        quick(tmp_path, x, y, **kwargs)


def test_missing_weights_file(tmp_path, no_training):
    with pytest.raises(FileNotFoundError, match=r"ae_weights=.*nope.weights.h5"):
        quick(tmp_path, np.zeros((5, 3)), n_clusters=2, ae_weights=str(tmp_path / "nope.weights.h5"))


def test_unwritable_output_folder(tmp_path, no_training):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match=r"output folder `out` cannot be written.*file/out"):
        quick(tmp_path, np.zeros((5, 3)), n_clusters=2, out="file/out")


def test_weights_of_another_architecture(tmp_path):
    from deepcluster_keras import autoencoder

    ae, _ = autoencoder((10, 500, 500, 2000, 10))
    path = tmp_path / "other.weights.h5"
    ae.save_weights(path)
    with pytest.raises(ValueError, match=r"ae_weights=.*other.weights.h5.*cannot be loaded.*\(None, 3\)"):
        quick(tmp_path, np.random.default_rng(0).random((5, 3)), n_clusters=2, ae_weights=str(path))


def test_run_on_given_data_writes_results_and_reloads(tmp_path, blobs):
    import keras

    from deepcluster_keras import autoencoder

    x, y = blobs
    results = quick(tmp_path, x, y)
    out = tmp_path / "out"
    saved = json.loads((out / "results.json").read_text())
    assert saved["status"] == "done" and saved["n_clusters"] == 3 and saved["method"] == "dec"
    assert saved["metrics"] == results["metrics"] and set(saved["metrics"]) == {"ae_kmeans", "dec"}
    assert saved["config"]["pretrain_optimizer"] == "adam" and saved["config"]["maxiter"] == 50
    assert saved["versions"]["cpu_threads"] >= 1
    assert saved["versions"]["cpu"] == cpu_model()  # results depend on the CPU too
    model = keras.saving.load_model(out / "dec_model.keras")
    np.testing.assert_array_equal(model.predict(x, verbose=0).argmax(1), np.load(out / "labels.npy"))
    assert not (out / "checkpoint").exists(), "the progress is removed when the run is done"

    # Starting from the saved weights skips pretraining; with maxiter=0 the
    # DEC model's encoder is exactly the saved autoencoder's.
    again = quick(tmp_path, x, y, out="again", maxiter=0,
                  ae_weights=str(out / "ae_weights.weights.h5"))
    assert again["pretrain"]["loaded_from"].endswith("ae_weights.weights.h5")
    assert not (tmp_path / "again" / "ae_weights.weights.h5").exists(), "nothing new to save"
    ae, _ = autoencoder((5, 500, 500, 2000, 10))
    ae.load_weights(out / "ae_weights.weights.h5")
    reloaded = keras.saving.load_model(tmp_path / "again" / "dec_model.keras")
    for name in ("encoder_0", "encoder_3"):
        for a, b in zip(ae.get_layer(name).get_weights(), reloaded.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_an_interrupt_before_the_first_checkpoint_says_nothing_was_kept(tmp_path, blobs,
                                                                        monkeypatch, capsys):
    from deepcluster_keras import training

    def interrupted(*args, **kwargs):  # Ctrl-C in the first pretraining epoch
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "pretrain", interrupted)
    x, y = blobs
    with pytest.raises(KeyboardInterrupt):
        run("dec", RECIPE, out=str(tmp_path / "out"), plots=False, verbose=1, x=x, y=y)
    said = capsys.readouterr().out
    assert "Interrupted before the first checkpoint" in said and "rerun the same" not in said
    assert json.loads((tmp_path / "out" / "results.json").read_text())["status"] == "interrupted"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # stops at maxiter
def test_interrupted_run_continues_with_the_same_command(tmp_path, blobs, batches, monkeypatch,
                                                       capsys):
    x, y = blobs
    # tol 0: never converges; checkpoints every fifth update, at iterations 10 and 20.
    settings = dict(maxiter=30, update_interval=2, tol=0.0)
    whole = quick(tmp_path, x, y, out="whole", **settings)
    with pytest.raises(KeyboardInterrupt):
        run("dec", {**RECIPE, **settings}, out=str(tmp_path / "out"), plots=False, verbose=1,
            x=x, y=y, callbacks=batches.reset(interrupt_at=24))
    assert "rerun the same command to continue it" in capsys.readouterr().out
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["status"] == "interrupted"

    def no_pretraining(*args, **kwargs):
        raise AssertionError("pretrained again")

    with monkeypatch.context() as patch:
        patch.setattr(training, "pretrain", no_pretraining)
        resumed = quick(tmp_path, x, y, callbacks=batches.reset(), **settings)
    assert batches.calls == 10, "only the batches after the last checkpoint"
    assert resumed["status"] == "done" and resumed["training"]["n_iter"] == 30
    assert resumed["metrics"] == whole["metrics"]
    assert not (tmp_path / "out" / "checkpoint").exists()

    # Other settings in the same folder are refused while a run is unfinished.
    with pytest.raises(KeyboardInterrupt):
        quick(tmp_path, x, y, callbacks=batches.reset(interrupt_at=14), **settings)
    with pytest.raises(ValueError, match=r"holds the progress of another fit \(params differ\)"):
        quick(tmp_path, x, y, **{**settings, "maxiter": 40})


def test_a_run_that_fails_says_so_in_its_results(tmp_path, blobs):
    x, y = blobs
    damaged = tmp_path / "ae.weights.h5"
    damaged.write_bytes(b"not an HDF5 file")
    with pytest.raises(ValueError, match="cannot be loaded"):
        quick(tmp_path, x, y, ae_weights=str(damaged))
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["status"] == "failed" and saved["error"].startswith("ValueError: ")


# One estimator per family: DKM and the alternating scheme fit through the
# same class as DESOM (their blobs runs are in test_kmeans_friendly.py), and
# test_structure.py checks what each method takes from the recipe.
@pytest.mark.parametrize("method", ["kmeans_raw", "ae_kmeans", "ae_gmm", "ae_agglomerative",
                                    "ae_spectral", "ae_dbscan", "idec", "desom", "vade"])
def test_every_method_runs_and_scores(tmp_path, scaled_blobs, method):
    x, y = scaled_blobs
    # IDEC gets 20 pretraining epochs: after 10, one of the backends' random
    # starts (JAX's) left a weak embedding that IDEC drifted from (0.99 -> 0.80).
    # TensorFlow from JAX's pretrained weights did the same, and both reach 1.0
    # from 20 epochs: it was the start, not the backend.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        results = quick(tmp_path, x, y, method=method, pretrain_epochs=20 if method == "idec" else 10,
                        maxiter=40, n_init=3)
    scores = results["metrics"][method]
    assert set(scores) == {"acc", "nmi", "ari", "purity"}
    assert scores["acc"] >= ACC_FLOOR[method], scores
    if method == "idec":  # training keeps what its start found
        assert scores["acc"] >= results["metrics"]["ae_kmeans"]["acc"] - 0.05
    assert -1 <= results["silhouette"] <= 1
    assert (tmp_path / "out" / "labels.npy").is_file()
    assert ("pretrain" in results) == (method != "kmeans_raw")


# Measured on TensorFlow: 1.0 for every method; DBSCAN may leave points as noise.
ACC_FLOOR = {"kmeans_raw": 1.0, "ae_kmeans": 1.0, "ae_gmm": 1.0, "ae_agglomerative": 1.0,
             "ae_spectral": 1.0, "ae_dbscan": 0.9, "idec": 1.0, "vade": 1.0,
             # DESOM with its gamma 0.001 merged two blobs from this 10-epoch
             # autoencoder (0.667; gamma 0.01 and 0.1 gave 1.0): its accuracy is
             # held on digits.
             "desom": 0.6}


def test_a_method_without_autoencoder_writes_its_model_and_history(tmp_path, scaled_blobs):
    x, y = scaled_blobs
    results = quick(tmp_path, x, y, method="imsat")
    assert results["status"] == "done" and "pretrain" not in results
    assert len(results["training"]["history"]["acc"]) == results["training"]["epochs"] == 50
    assert results["params"]["xi"] == 5.0 and results["params"]["hidden"] == [1200, 1200]
    assert "verbose" not in results["params"] and results["params"]["n_clusters"] == 3
    labels = np.load(tmp_path / "out" / "labels.npy")
    assert results["metrics"]["imsat"]["acc"] == pytest.approx(metrics.acc(y, labels))
    model = keras.saving.load_model(tmp_path / "out" / "imsat_model.keras")
    np.testing.assert_array_equal(model.predict(x, verbose=0).argmax(1),
                                  np.load(tmp_path / "out" / "labels.npy"))
