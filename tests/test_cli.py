import json
import os
import subprocess
import sys

import numpy as np
import pytest

from deepcluster_keras import cli, methods, training


def run_cli(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-m", "deepcluster_keras", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=900)


def help_text(capsys, *command):
    with pytest.raises(SystemExit) as info:
        cli.main([*command, "--help"])
    assert info.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere


def test_help_documents_every_command_and_option(capsys):
    text = help_text(capsys)
    assert all(command in text for command in ("run", "reproduce", "table"))
    text = help_text(capsys, "run")
    for option in ("--dataset", "--seed", "--pretrain-epochs", "--maxiter", "--update-interval",
                   "--tol", "--batch-size", "--autoencoder", "--data-dir", "--out", "--method",
                   "--ae-weights", "--n-clusters", "--optimizer", "--learning-rate", "--gamma", "mnist_test", "fashion_mnist"):
        assert option in text
    assert "(default: 8000)" in text and "(default: 140)" in text and "(default: 0.001)" in text
    text = help_text(capsys, "reproduce")
    assert "--seeds" in text and "--work-dir" in text and "--methods" in text and "``" not in text
    assert "FOLDER" in help_text(capsys, "table")


def test_the_flags_defaults_are_the_estimators(capsys):
    from deepcluster_keras import IDEC

    defaults = IDEC().get_params()
    for command in ("run", "reproduce"):
        args = cli.parser().parse_args([command])
        for name, _, _ in cli._RECIPE_FLAGS:
            assert getattr(args, name) == defaults[name], (command, name)


def test_bad_input_exits_with_message(tmp_path, capsys):
    for flag, value, minimum in (("--n-clusters", "1", 2), ("--batch-size", "0", 1),
                                 ("--pretrain-epochs", "-1", 0), ("--maxiter", "x", 0)):
        with pytest.raises(SystemExit) as exit_:
            cli.main(["run", flag, value, "--out", str(tmp_path)])
        assert exit_.value.code == 2
        # The message names the flag the user typed.
        assert f"argument {flag}: expected an integer >= {minimum}, got '{value}'" in \
            capsys.readouterr().err
    for value in ("0", "-1", "x", "inf"):
        with pytest.raises(SystemExit):
            cli.main(["run", "--learning-rate", value, "--out", str(tmp_path)])
        assert f"argument --learning-rate: expected a number > 0, got '{value}'" in \
            capsys.readouterr().err
    for command in ("run", "reproduce"):
        code = cli.main([command, "--dataset", "mnist_test", "--data-dir", str(tmp_path), "--out",
                         str(tmp_path / "out")])
        assert code == 2
        assert "No mnist files in data_dir=" in capsys.readouterr().err
        assert not (tmp_path / "out").exists(), "a data error leaves no empty output folder"
    code = cli.main(["run", "--ae-weights", str(tmp_path / "x.weights.h5"), "--out", str(tmp_path)])
    assert code == 2 and "No weights file at ae_weights=" in capsys.readouterr().err
    code = cli.main(["reproduce", "--tol", "1.5", "--out", str(tmp_path)])
    assert code == 2 and "The 'tol' parameter of DEC must be a float in the range [0.0, 1.0)" in \
        capsys.readouterr().err


def test_every_method_is_described_in_the_help(capsys):
    text = help_text(capsys, "run")
    for method in methods.METHODS:
        assert f"{method}: " in text, method


def test_arguments_are_read_before_tensorflow_starts():
    """``--help`` and argument errors answer at once (measured 0.4 s against
    8-9 s with TensorFlow imported first, AMD EPYC, 2026-12-07): no
    TensorFlow or Keras module is imported to read them."""
    for args, code in ((["run", "--help"], 0), (["run", "--seed", "x"], 2)):
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "deepcluster_keras", *args],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == code, done.stderr[-2000:]
        imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "deepcluster_keras.cli" in imported
        assert not {"tensorflow", "keras"} & imported, sorted(imported)[:20]


def test_a_collapsed_pretraining_exits_with_its_message(tmp_path, capsys, monkeypatch):
    def collapses(*args, **kwargs):
        raise training.PretrainingCollapsed(3, 0.087, 0.086)

    monkeypatch.setattr(training, "pretrain", collapses)
    code = cli.main(["run", "--pretrain-epochs", "5", "--out", str(tmp_path)])
    assert code == 1
    assert "error: Pretraining collapsed at epoch 3" in capsys.readouterr().err


def test_param_flags_set_a_methods_own_parameters(tmp_path, capsys):
    args = cli.parser().parse_args(["reproduce", "--param", "imsat.xi=10", "--param",
                                    "desom.map_size=(4, 4)", "--param",
                                    "desom.prototype_update=gradient"])
    assert cli._recipe(args)["method_params"] == {
        "imsat": {"xi": 10}, "desom": {"map_size": (4, 4), "prototype_update": "gradient"}}
    assert "method_params" not in cli._recipe(cli.parser().parse_args(["reproduce"]))
    args = cli.parser().parse_args(["reproduce", "--param", "desom.map_size=10,10"])  # no quotes
    assert cli._recipe(args)["method_params"] == {"desom": {"map_size": (10, 10)}}
    args = cli.parser().parse_args(["run", "--method", "rim", "--param", "epochs=3"])
    assert cli._recipe(args, default_method="rim")["method_params"] == {"rim": {"epochs": 3}}
    for bad in ("xi", "imsat.=3", "im sat.xi=3"):
        with pytest.raises(SystemExit):
            cli.main(["reproduce", "--param", bad])
        assert f"expected METHOD.NAME=VALUE, e.g. imsat.xi=10, got {bad!r}" in capsys.readouterr().err
    for argv, message in (
            (["reproduce", "--param", "xi=10"], "name the method, e.g. --param imsat.xi=..."),
            (["reproduce", "--methods", "dec", "--param", "imsat.xi=10"],
             "Parameters were given for 'imsat', which is not run here (methods: dec)"),
            (["reproduce", "--methods", "imsat", "--param", "imsat.x1=10"],
             "imsat has no parameter 'x1' to set; its own parameters are augmentation, "),
            (["run", "--method", "dec", "--param", "maxiter=10"],
             "dec has no parameter 'maxiter' to set; it has none of its own: the recipe's flags"),
            (["run", "--method", "imsat", "--param", "xi=-1", "--out", str(tmp_path)],
             "The 'xi' parameter of IMSAT must be a float in the range (0.0, inf)")):
        assert cli.main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv


def test_short_run_writes_every_output(tmp_path):
    out = tmp_path / "run"
    result = run_cli("run", "--pretrain-epochs", "3", "--maxiter", "150", "--seed", "3", "--out",
                     str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ACC" in result.stdout and "NMI" in result.stdout and "ARI" in result.stdout
    assert "cuInit" not in result.stderr and "oneDNN" not in result.stderr, "TensorFlow start-up noise"
    for name in ("results.json", "dec_model.keras", "ae_weights.weights.h5", "labels.npy",
                 "training_curves.png", "embedding_tsne.png",
                 "confusion_matrix.png", "cluster_grid.png", "cluster_grid_kmeans.png"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "done" and results["seed"] == 3
    assert results["config"]["pretrain_epochs"] == 3 and results["dataset"] == "digits"
    assert results["n_samples"] == 1797 and results["n_clusters"] == 10
    assert set(results["metrics"]) == {"ae_kmeans", "dec"}
    assert results["versions"]["cpu_threads"] >= 1
    # The command line runs TensorFlow's operations one at a time (DAC repeats
    # from a seed only so; tests/test_dac.py), unless the user chose otherwise.
    assert results["versions"]["thread_variables"]["TF_NUM_INTEROP_THREADS"] == \
        os.environ.get("TF_NUM_INTEROP_THREADS", "1")
    # The recorded scores are those of the labels written beside them.
    from sklearn.datasets import load_digits

    from deepcluster_keras import metrics

    labels = np.load(out / "labels.npy")
    assert results["metrics"]["dec"]["acc"] == pytest.approx(
        metrics.acc(load_digits().target, labels))
    assert {"pretrain", "kmeans", "training"} <= set(results["seconds"])
    assert results["versions"]["keras"] and results["versions"]["scikit-learn"]
    assert (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_conv_autoencoder_run(tmp_path):
    out = tmp_path / "conv"
    result = run_cli("run", "--autoencoder", "conv", "--pretrain-epochs", "2", "--maxiter", "50",
                     "--no-plots", "--quiet", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "warning: Self-training stopped at maxiter=50" in result.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["autoencoder"] == "conv"
    assert results["config"]["pretrain_optimizer"] == "adam"
    import keras

    model = keras.saving.load_model(out / "dec_model.keras")  # deepcluster_keras is imported
    assert model.input_shape == (None, 8, 8, 1) and model.output_shape == (None, 10)
