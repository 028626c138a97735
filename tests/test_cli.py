import json
import os
import subprocess
import sys

import pytest

from deepcluster_keras import cli


def run_cli(*args, cwd=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "deepcluster_keras", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=900)


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--dataset", "--seed", "--pretrain-epochs", "--maxiter", "--update-interval",
                   "--tol", "--batch-size", "--autoencoder", "--data-dir", "--out",
                   "--ae-weights", "--n-clusters", "--optimizer", "--gamma", "reproduce", "mnist_test", "fashion_mnist"):
        assert option in text


def test_reproduce_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "--help"])
    text = capsys.readouterr().out
    assert "--seeds" in text and "--work-dir" in text


def test_bad_input_exits_with_message(tmp_path, capsys):
    for flag, value, minimum in (("--n-clusters", "1", 2), ("--batch-size", "0", 1),
                                 ("--pretrain-epochs", "-1", 0), ("--maxiter", "x", 0)):
        with pytest.raises(SystemExit) as exit_:
            cli.main([flag, value, "--out", str(tmp_path)])
        assert exit_.value.code == 2
        # The message names the flag the user typed.
        assert f"argument {flag}: expected an integer >= {minimum}, got '{value}'" in \
            capsys.readouterr().err
    code = cli.main(["--dataset", "mnist_test", "--data-dir", str(tmp_path), "--out", str(tmp_path)])
    assert code == 2
    assert "No mnist files in data_dir=" in capsys.readouterr().err
    code = cli.main(["--ae-weights", str(tmp_path / "x.weights.h5"), "--out", str(tmp_path)])
    assert code == 2 and "No weights file at ae_weights=" in capsys.readouterr().err


def test_short_run_writes_every_output(tmp_path):
    out = tmp_path / "run"
    result = run_cli("--pretrain-epochs", "3", "--maxiter", "150", "--seed", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ACC" in result.stdout and "NMI" in result.stdout and "ARI" in result.stdout
    for name in ("results.json", "dec_model.keras", "ae_weights.weights.h5", "labels.npy",
                 "training_curves.png", "embedding_tsne.png",
                 "confusion_matrix.png", "cluster_grid.png", "cluster_grid_kmeans.png"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "done" and results["seed"] == 3
    assert results["config"]["pretrain_epochs"] == 3 and results["config"]["dataset"] == "digits"
    assert results["n_samples"] == 1797 and results["n_clusters"] == 10
    assert set(results["metrics"]) == {"ae_kmeans", "dec"}
    assert 0 < results["metrics"]["dec"]["acc"] <= 1
    assert {"pretrain", "kmeans", "self_training"} <= set(results["seconds"])
    assert results["versions"]["keras"] and results["versions"]["scikit-learn"]
    assert (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_conv_autoencoder_run(tmp_path):
    out = tmp_path / "conv"
    result = run_cli("--autoencoder", "conv", "--pretrain-epochs", "2", "--maxiter", "50",
                     "--no-plots", "--quiet", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "warning: Self-training stopped at maxiter=50" in result.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["autoencoder"] == "conv"
    assert results["config"]["pretrain_optimizer"] == "adam"
    import keras

    model = keras.saving.load_model(out / "dec_model.keras")
    assert model.input_shape == (None, 8, 8, 1) and model.output_shape == (None, 10)
