import json
import pathlib
import shlex
import warnings

import numpy as np
import pytest

from deepcluster_keras import cli, layout, methods, report

REPO = pathlib.Path(__file__).resolve().parents[1]


def write_seed(folder, seed, scores, confusion=None, params=None, **config):
    """A ``seed_N.json`` as ``reproduce`` writes it, with ``scores`` by method
    (and, as runs since 2026-12 do, the methods' recorded ``params``)."""
    folder.mkdir(parents=True, exist_ok=True)
    recipe = {**methods.resolved_recipe(methods.recipe_defaults()), "dataset": "blobs",
              "n_clusters": 3, **config}
    (folder / f"seed_{seed}.json").write_text(json.dumps({
        "complete": True, "config": recipe, "n_samples": 100,
        "metrics": {m: {"acc": acc, "nmi": acc - 0.05, "ari": acc - 0.04} for m, acc in scores.items()},
        "seconds": {m: 60.0 for m in scores}, "throughput": {},
        "confusion": confusion or {}, **({"params": params} if params else {})}))


def test_deep_rims_figure_goes_beside_runs_that_recorded_a_deep_rim(tmp_path):
    from deepcluster_keras.estimator import RIM

    write_seed(tmp_path / "before", 0, {"rim": 0.5}, dataset="mnist")  # linear, unrecorded
    assert report.summarize(str(tmp_path / "before"), [0])["methods"]["rim"]["published"] is None
    deep = methods.params_record(RIM())
    write_seed(tmp_path / "deep", 0, {"rim": 0.6}, params={"rim": deep}, dataset="mnist")
    assert report.summarize(str(tmp_path / "deep"), [0])["methods"]["rim"]["published"]["acc"] == 0.585
    linear = methods.params_record(RIM(hidden=()))
    write_seed(tmp_path / "linear", 0, {"rim": 0.5}, params={"rim": linear}, dataset="mnist")
    assert report.summarize(str(tmp_path / "linear"), [0])["methods"]["rim"]["published"] is None


def test_summary_statistics_and_published_figures(tmp_path):
    for seed, acc in ((0, 0.96), (1, 0.84), (2, 0.88)):
        write_seed(tmp_path, seed, {"dec": acc}, dataset="mnist")
    summary = report.summarize(str(tmp_path), [0, 1, 2])
    dec = summary["methods"]["dec"]
    assert dec["stats"]["acc"] == pytest.approx(
        {"min": 0.84, "median": 0.88, "max": 0.96, "mean": 0.8933333, "std": 0.0498888})
    assert dec["stats"]["nmi"]["median"] == pytest.approx(0.83)
    assert dec["published"]["acc"] == 0.962 and "tutorial" in dec["published"]["source"]
    assert "| DEC | 3 | 0: 0.960, 1: 0.840, 2: 0.880 | 0.840 / 0.880 / 0.960 |" in summary["markdown"]
    assert "0.962 (0.830-0.964)" in summary["markdown"]
    assert (tmp_path / "summary.md").read_text() == summary["markdown"] + "\n"
    assert json.loads((tmp_path / "summary.json").read_text())["complete_seeds"] == [0, 1, 2]


def test_summary_covers_every_seed_file_of_the_folder(tmp_path):
    for seed, acc in ((0, 0.9), (3, 0.7), (12, 0.8)):
        write_seed(tmp_path, seed, {"dec": acc})
    summary = report.summarize(str(tmp_path))
    assert summary["seeds"] == [0, 3, 12]  # numeric order, not the files' (12 before 3)
    assert [pathlib.Path(p).name for p in layout.seed_files(str(tmp_path))] == [
        "seed_0.json", "seed_3.json", "seed_12.json"]  # as the loss plot's legend lists them
    assert "| DEC | 3 | 0: 0.900, 3: 0.700, 12: 0.800 |" in summary["markdown"]
    assert report.summarize(str(tmp_path), [3])["seeds"] == [3], "seeds given: only those"


def test_summary_warns_when_the_seeds_of_a_folder_used_other_settings(tmp_path):
    write_seed(tmp_path, 0, {"dec": 0.9})
    write_seed(tmp_path, 1, {"dec": 0.9}, gamma=0.5)  # no IDEC results: gamma does not count
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report.summarize(str(tmp_path))
    write_seed(tmp_path, 2, {"dec": 0.9}, maxiter=100, tol=0.01)
    with pytest.warns(UserWarning, match=r"seed 2 was made with other settings than seed 0 "
                                         r"\(maxiter, tol\).*one recipe per folder"):
        report.summarize(str(tmp_path))


def test_summary_counts_a_methods_own_parameters_only_where_it_ran(tmp_path):
    write_seed(tmp_path, 0, {"kmeans_raw": 0.5, "imsat": 0.9})
    write_seed(tmp_path, 1, {"kmeans_raw": 0.5, "imsat": 0.9},
               method_params={"desom": {"map_size": [10, 10]}})  # no DESOM results in the folder
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report.summarize(str(tmp_path))
    write_seed(tmp_path, 2, {"kmeans_raw": 0.5, "imsat": 0.9}, method_params={"imsat": {"xi": 1.0}})
    with pytest.warns(UserWarning, match=r"seed 2 was made with other settings than seed 0 "
                                         r"\(imsat parameters\)"):
        report.summarize(str(tmp_path))


def test_published_figures_are_data_with_sources():
    mnist = report.published("mnist")
    assert mnist["kmeans_raw"]["acc"] == 0.532 and mnist["dec"]["nmi"] == 0.905
    assert mnist["dac"]["acc"] == 0.9775 and "abstract" in mnist["dac"]["source"]
    # IMSAT's figure is VAT's unless the run says RPT: a run's params pick the figure.
    assert mnist["imsat"]["acc"] == 0.984
    assert report.published("mnist", params={"imsat": {"augmentation": "vat"}})["imsat"]["acc"] == 0.984
    rpt = report.published("mnist", params={"imsat": {"augmentation": "rpt", "lam": 0.1}})
    assert rpt["imsat"]["acc"] == 0.896 and rpt["dec"]["acc"] == 0.962
    assert report.published("mnist", "conv")["idec"]["acc"] == 0.890
    assert report.published("blobs") == {}
    # Deep RIM's figure: only beside runs that recorded RIM's parameters, deep ones.
    assert "rim" not in mnist
    deep = {"rim": {"hidden": [1200, 1200], "weight_decay": 0.0001}}
    assert report.published("mnist", params=deep, recorded={"rim"})["rim"]["acc"] == 0.585
    linear = {"rim": {"hidden": []}}
    assert "rim" not in report.published("mnist", params=linear, recorded={"rim"})
    with open(report.PUBLISHED_FILE) as f:
        figures = json.load(f)["figures"]
    assert all(f["source"] and f["method"] in methods.METHODS and 0 < f["acc"] < 1 for f in figures)


def test_summary_recipe_line_states_the_self_training_settings(tmp_path):
    write_seed(tmp_path, 0, {"dec": 0.9}, dataset="mnist", update_interval=70, tol=0.0005)
    markdown = report.summarize(str(tmp_path), [0])["markdown"]
    assert "classes mixed up" not in markdown, "no confusion matrix was recorded"
    assert markdown.splitlines()[0] == (
        "Recipe: mnist (100 samples), dense autoencoder, 300 pretraining epochs (sgd), "
        "self-training with sgd, maxiter 8000, update_interval 70, tol 0.0005")


def test_summary_says_which_classes_each_seed_mixed_up(tmp_path):
    separated = np.diag([100] * 3)
    mixed = np.array([[100, 0, 0], [0, 55, 40], [0, 45, 60]])
    for seed, confusion in ((0, {}), (1, {"dec": separated.tolist()}), (2, {"dec": mixed.tolist()})):
        write_seed(tmp_path, seed, {"dec": 0.9}, confusion)
    summary = report.summarize(str(tmp_path), [0, 1, 2])
    assert summary["methods"]["dec"]["mixed_classes"] == {1: [], 2: [(1, 2)]}
    assert "| 1: none, 2: 1+2 |" in summary["markdown"]
    assert "less than 80% of them" in summary["markdown"]


def test_comparison_table_over_folders(tmp_path, capsys):
    # Self-training settings other than the tutorial's are named in the row.
    changed = {"a": {}, "b": {"optimizer": "adam", "learning_rate": 0.02, "maxiter": 20000},
               "mnist": {}}
    for name, accs in (("a", (0.5, 0.7)), ("b", (0.9, 0.9)), ("mnist", (0.8, 0.9))):
        for seed, acc in enumerate(accs):
            write_seed(tmp_path / name, seed, {"dec": acc, "idec": acc}, dataset=name,
                       autoencoder="conv", pretrain_epochs=7, **changed[name])
    folders = [str(tmp_path / n) for n in ("a", "b", "mnist")]
    assert cli.main(["table"] + folders) == 0
    table = capsys.readouterr().out
    assert f"| {tmp_path / 'a'} | a | conv, 7 epochs | DEC | 2 | 0.600 ± 0.100 (0.500-0.700) | 0.550 | 0.560 |  |" in table
    assert (f"| {tmp_path / 'b'} | b | conv, 7 epochs, adam self-training, learning rate 0.02, maxiter 20000 | DEC | 2 | "
            "0.900 ± 0.000 (0.900-0.900) |") in table
    # The published figure of the recipe's dataset and autoencoder: DCEC's (a convolutional
    # IDEC), not DEC's 0.962 nor the dense IDEC's 0.881.
    assert f"| {tmp_path / 'mnist'} | mnist | conv, 7 epochs | DEC | 2 | 0.850 ± 0.050 (0.800-0.900) | 0.800 | 0.810 |  |" in table
    assert f"| {tmp_path / 'mnist'} | mnist | conv, 7 epochs | IDEC | 2 | 0.850 ± 0.050 (0.800-0.900) | 0.800 | 0.810 | 0.890 |" in table
    assert table.startswith("# Results") and f"python -m deepcluster_keras table {' '.join(folders)}" in table
    with pytest.raises(FileNotFoundError, match=r"No seed_N.json files in any of"):
        with pytest.warns(UserWarning, match="no seed_N.json files yet"):
            report.comparison_table([str(tmp_path)])
    # A run that has not finished its first seed is left out, with a warning; a typo is an error.
    (tmp_path / "started").mkdir()
    with pytest.warns(UserWarning, match=r"started'? has no seed_N.json files yet; left out"):
        partial = report.comparison_table([str(tmp_path / "a"), str(tmp_path / "started")])
    assert partial == report.comparison_table([str(tmp_path / "a")])
    assert len(partial.splitlines()) == 4
    with pytest.raises(FileNotFoundError, match=r"No folder .*nowhere"):
        report.comparison_table([str(tmp_path / "a"), str(tmp_path / "nowhere")])
    assert cli.main(["table", str(tmp_path / "nowhere")]) == 2
    assert "No folder" in capsys.readouterr().err


def test_the_results_page_is_current(monkeypatch):
    """results/README.md is what its own command prints from the committed results."""
    page = (REPO / "results" / "README.md").read_text()
    command = page.split("```bash\n", 1)[1].split("\n", 1)[0]
    args = shlex.split(command)
    assert args[:4] == ["python", "-m", "deepcluster_keras", "table"]
    folders = [a for a in args[4:] if not a.startswith("--")][:-1] if "--out" in args else args[4:]
    monkeypatch.chdir(REPO)
    assert report.results_document(folders, command) == page, (
        f"results/README.md is out of date: run `{command}`")


def test_rates_against_the_port(tmp_path):
    # Known values: the Wilson interval of 4 in 10 is 0.168-0.687; of 0 in 5, 0-0.434.
    assert report.wilson_interval(4, 10) == pytest.approx((0.1682, 0.6873), abs=1e-4)
    assert report.wilson_interval(0, 5) == pytest.approx((0.0, 0.4345), abs=1e-4)
    for seed, (ae_kmeans, dec) in enumerate([(0.92, 0.963), (0.85, 0.88), (0.91, 0.95)]):
        write_seed(tmp_path, seed, {"ae_kmeans": ae_kmeans, "dec": dec}, dataset="mnist",
                   n_clusters=10)
    rates = report.tutorial_rates(str(tmp_path))
    assert (rates["dec"]["reached"], rates["dec"]["seeds"]) == (1, 3)
    assert (rates["ae_kmeans"]["reached"], rates["ae_kmeans"]["seeds"]) == (2, 3)
    assert rates["dec"]["port"] == [4, 10]
    # Fisher's exact test of 1/3 against 4/10: every table is about as likely, p = 1.
    assert rates["dec"]["fisher_p"] == pytest.approx(1.0)
    page = report.results_document([str(tmp_path)], "python -m deepcluster_keras table X")
    assert "## How often the tutorial's MNIST-70k figures are reached" in page
    assert "- DEC ACC >= 0.96: 1 of 3 seeds in" in page
    other = tmp_path / "other"
    write_seed(other, 0, {"dec": 0.97}, dataset="mnist", n_clusters=10, maxiter=100)
    assert "How often" not in report.results_document([str(other)], "x"), "not the tutorial's recipe"
    # A folder of the recipe without DEC (other methods on the same autoencoders)
    # states only the rates it has.
    no_dec = tmp_path / "no_dec"
    write_seed(no_dec, 0, {"ae_kmeans": 0.91, "dkm": 0.93}, dataset="mnist", n_clusters=10)
    page = report.results_document([str(no_dec)], "x")
    assert "AE + K-means ACC >= 0.90: 1 of 1 seeds" in page and "DEC ACC >= 0.96" not in page


def test_summary_of_a_folder_whose_only_seed_collapsed(tmp_path):
    write_seed(tmp_path, 1, {})
    path = tmp_path / "seed_1.json"
    run = json.loads(path.read_text())
    run["pretrain"] = {"collapsed": {"epoch": 3, "loss": 0.087, "data_variance": 0.086}}
    path.write_text(json.dumps(run))
    markdown = report.summarize(str(tmp_path))["markdown"]
    assert markdown.endswith("no autoencoder method ran): seed 1 at epoch 3.")
    assert "| seed |" not in markdown, "no timings table without timings"
