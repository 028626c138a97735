import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from deepcluster_keras import plots  # noqa: E402


def test_confusion_matrix_uses_the_given_ax_and_matched_order():
    fig, ax = plt.subplots()
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [2, 2, 0, 0, 1, 1]
    assert plots.plot_confusion_matrix(y_true, y_pred, ax=ax) is ax
    # Rows in matched order: the diagonal holds every sample.
    rows = [int(t.get_text()) for t in ax.get_yticklabels()]
    assert rows == [2, 0, 1]
    plt.close(fig)


def test_cluster_grid_shapes():
    images = np.random.default_rng(0).random((30, 64))
    labels = np.arange(30) % 3
    ax = plots.plot_cluster_grid(images, labels, n_per_cluster=5)
    canvas = ax.get_images()[0].get_array()
    assert canvas.shape == (3 * 9, 5 * 9)
    plt.close(ax.get_figure())
    with pytest.raises(ValueError, match="image_shape"):
        plots.plot_cluster_grid(np.zeros((4, 10)), [0, 1, 0, 1])


def test_training_curves_and_embedding(tmp_path):
    history = {"iteration": [0, 140, 280], "loss": [None, 0.1, 0.2],
               "delta_label": [1.0, 0.01, 0.0005], "acc": [0.8, 0.85, 0.86]}
    axes = plots.plot_training_curves(history, tol=0.001)
    assert len(axes) == 2
    path = plots.save_figure(axes, tmp_path / "curves.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    z = np.random.default_rng(0).normal(size=(60, 5))
    labels = np.repeat([0, 1, -1], 20)
    fig, ax = plt.subplots()
    assert plots.plot_embedding(z, labels, sample_size=50, ax=ax) is ax
    assert "50 points" in ax.get_title()
    plt.close(fig)


def test_pretraining_loss_against_the_tutorials_log():
    from deepcluster_keras import report

    reference, source = report.published_pretraining_loss()
    assert reference[300] == 0.0083 and "tutorial" in source
    ax = plots.plot_pretraining_loss({"seed 0": [0.06, 0.04, 0.03], "seed 1": [0.07, 0.05]},
                                     reference)
    lines = ax.get_lines()
    assert [list(line.get_xdata()) for line in lines[:2]] == [[1, 2, 3], [1, 2]]
    assert list(lines[2].get_xdata()) == sorted(reference)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    plt.close(ax.get_figure())


def test_pretraining_loss_groups_share_a_colour_and_late_epochs_are_linear():
    losses = {"a 0": [0.3, 0.2, 0.1], "a 1": [0.3, 0.2, 0.15], "b 0": [0.3, 0.25, 0.2]}
    groups = {"a 0": "folder a", "a 1": "folder a", "b 0": "folder b"}
    ax = plots.plot_pretraining_loss(losses, {1: 0.3, 3: 0.12}, groups, first_epoch=2)
    a0, a1, b0, reference = ax.get_lines()
    assert a0.get_color() == a1.get_color() != b0.get_color()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["folder a", "folder b", "reference"]
    assert list(a0.get_xdata()) == [2, 3] and list(reference.get_xdata()) == [3]
    assert ax.get_xscale() == "linear" and ax.get_yscale() == "linear"
    plt.close(ax.get_figure())


def test_training_curves_script_draws_each_seed_that_trained_the_method(tmp_path, capsys):
    """benchmarks/training_curves.py: a row per seed with the method's history,
    the start / best / last line printed, a clear stop when no seed has one."""
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "training_curves.py"
    spec = importlib.util.spec_from_file_location("training_curves", script)
    curves = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(curves)
    history = {"epoch": [0, 1, 2, 3], "acc": [0.80, 0.90, 0.85, 0.70], "nmi": [0.7, 0.8, 0.8, 0.6],
               "loss": [None, 99.0, 95.0, 91.0], "delta_label": [0.0, 0.1, 0.05, 0.02]}
    (tmp_path / "seed_0.json").write_text(json.dumps(
        {"seed": 0, "metrics": {"vade": {}}, "training": {"vade": {"history": history}}}))
    (tmp_path / "seed_1.json").write_text(json.dumps({"seed": 1, "metrics": {}, "training": {}}))
    out = tmp_path / "vade.png"
    curves.main([str(tmp_path), "--method", "vade", "--out", str(out)])
    assert "seed 0: start 0.800  best 0.900 at 1  last 0.700  loss 99 -> 91" in capsys.readouterr().out
    assert plt.imread(out).shape[0] < 3.4 * 120 * 1.5, "one row: seed 1 has no vade history"
    with pytest.raises(SystemExit, match="No seed in .* has a dkm history"):
        curves.main([str(tmp_path), "--method", "dkm", "--out", str(out)])
