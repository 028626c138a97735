import json
import os

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from deepcluster_keras import pipeline, reproduce


def config(tmp_path):
    return pipeline.Config(dataset="blobs", out=str(tmp_path / "results"), pretrain_epochs=2,
                           pretrain_optimizer="adam", maxiter=40, update_interval=10,
                           batch_size=32, n_init=2, plots=False, verbose=0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # may stop at maxiter
def test_interrupted_reproduction_resumes_without_redoing_finished_stages(tmp_path, blobs, monkeypatch):
    x, y = blobs
    real_self_train = reproduce.dec.self_train
    calls = []

    def interrupt_second_seed(model, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_self_train(model, *args, **kwargs)

    monkeypatch.setattr(reproduce.dec, "self_train", interrupt_second_seed)
    with pytest.raises(KeyboardInterrupt):
        reproduce.reproduce(config(tmp_path), [0, 1], x=x, y=y)
    out = tmp_path / "results"
    assert json.loads((out / "seed_0.json").read_text())["complete"]
    partial = json.loads((out / "seed_1.json").read_text())
    assert not partial["complete"] and set(partial["metrics"]) == {"kmeans_raw", "ae_kmeans"}
    assert (out / "work" / "seed_1" / "ae_weights.weights.h5").is_file()

    # The rerun pretrains nothing and does not repeat raw K-means.
    def no_pretraining(*args, **kwargs):
        raise AssertionError("pretrained again")

    monkeypatch.setattr(reproduce.dec, "self_train", real_self_train)
    monkeypatch.setattr(pipeline.dec, "pretrain", no_pretraining)
    summary = reproduce.reproduce(config(tmp_path), [0, 1], x=x, y=y)
    assert summary["complete_seeds"] == [0, 1]
    assert json.loads((out / "seed_1.json").read_text())["seconds"]["kmeans_raw"] == \
        partial["seconds"]["kmeans_raw"]
    stats = summary["methods"]["dec"]["stats"]["acc"]
    assert stats["min"] <= stats["median"] <= stats["max"]
    assert summary["methods"]["dec"]["published"] is None, "published figures are MNIST's"
    table = (out / "summary.md").read_text()
    assert "| DEC | 2 |" in table and "pretraining samples/s" in table


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # may stop at maxiter
def test_self_training_checkpoints_in_the_seed_work_folder_by_recipe(tmp_path, blobs, monkeypatch):
    x, y = blobs
    x = (x - x.min(0)) / (x.max(0) - x.min(0))  # in [0, 1], as the tutorial's data
    real_self_train = reproduce.dec.self_train
    folders = []

    def spy(*args, checkpoint_dir=None, **kwargs):
        folders.append(checkpoint_dir)
        return real_self_train(*args, checkpoint_dir=checkpoint_dir, **kwargs)

    monkeypatch.setattr(reproduce.dec, "self_train", spy)
    tutorial, other = config(tmp_path), config(tmp_path)
    other.update_interval, other.out = 5, str(tmp_path / "other")
    work = str(tmp_path / "results" / "work")
    reproduce.reproduce(tutorial, [0], methods=["dec", "idec"], x=x, y=y)
    reproduce.reproduce(other, [0], methods=["dec"], x=x, y=y, work_dir=work)
    seed_dir = tmp_path / "results" / "work" / "seed_0"
    assert [os.path.dirname(f) for f in folders] == [str(seed_dir)] * 3
    names = [os.path.basename(f) for f in folders]
    assert names[0].startswith("self_training_dec_") and names[1].startswith("self_training_idec_")
    assert names[2] != names[0], "another recipe sharing the work folder gets its own checkpoint"
    assert not any(os.path.exists(f) for f in folders), "removed when done"


def test_summary_lists_published_mnist_figures(tmp_path):
    out = tmp_path
    for seed, acc in ((0, 0.96), (1, 0.84), (2, 0.88)):
        scores = {"acc": acc, "nmi": acc - 0.05, "ari": acc - 0.04}
        (out / f"seed_{seed}.json").write_text(json.dumps(
            {"complete": True, "metrics": {"dec": scores}, "seconds": {"dec": 60.0}}))
    summary = reproduce.summarize(str(out), [0, 1, 2], dataset="mnist")
    dec = summary["methods"]["dec"]
    assert dec["stats"]["acc"] == pytest.approx(
        {"min": 0.84, "median": 0.88, "max": 0.96, "mean": 0.8933333, "std": 0.0498888})
    assert dec["published"]["acc"] == 0.962
    assert "0.962 (0.830-0.964)" in summary["markdown"]


def test_summary_recipe_line_states_the_self_training_settings(tmp_path):
    config = {"dataset": "mnist", "autoencoder": "dense", "pretrain_epochs": 300,
              "pretrain_optimizer": "sgd", "optimizer": "sgd", "maxiter": 8000,
              "update_interval": 70, "tol": 0.0005}
    (tmp_path / "seed_0.json").write_text(json.dumps(
        {"complete": True, "config": config, "n_samples": 70000, "seconds": {},
         "metrics": {"dec": {"acc": 0.9, "nmi": 0.8, "ari": 0.8}}}))
    markdown = reproduce.summarize(str(tmp_path), [0])["markdown"]
    assert "classes mixed up" not in markdown, "no confusion matrix was recorded"
    assert "| DEC | 1 | 0: 0.900 |" in markdown
    first_line = markdown.splitlines()[0]
    assert first_line == ("Recipe: mnist (70000 samples), dense autoencoder, 300 pretraining "
                          "epochs (sgd), self-training with sgd, maxiter 8000, "
                          "update_interval 70, tol 0.0005")


def test_summary_says_which_classes_each_seed_mixed_up(tmp_path):
    separated = np.diag([100] * 3)
    mixed = np.array([[100, 0, 0], [0, 55, 40], [0, 45, 60]])
    seeds = {0: {}, 1: {"dec": separated.tolist()}, 2: {"dec": mixed.tolist()}}  # seed 0: no table
    for seed, confusion in seeds.items():
        (tmp_path / f"seed_{seed}.json").write_text(json.dumps(
            {"complete": True, "metrics": {"dec": {"acc": 0.9, "nmi": 0.8, "ari": 0.8}},
             "seconds": {}, "confusion": confusion}))
    summary = reproduce.summarize(str(tmp_path), [0, 1, 2], dataset="blobs")
    assert summary["methods"]["dec"]["mixed_classes"] == {1: [], 2: [(1, 2)]}
    assert "| 1: none, 2: 1+2 |" in summary["markdown"]
    assert "less than 80% of them" in summary["markdown"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # may stop at maxiter
def test_more_methods_are_added_to_finished_seeds_from_the_same_start(tmp_path, blobs, monkeypatch):
    from sklearn.preprocessing import minmax_scale

    x, y = blobs
    x = minmax_scale(x).astype("float32")  # IDEC's SGD(0.01, 0.9) diverges on unscaled data
    cfg = config(tmp_path)
    reproduce.reproduce(cfg, [0], methods=["ae_kmeans", "dec"], x=x, y=y)
    out = tmp_path / "results"
    first = json.loads((out / "seed_0.json").read_text())
    assert first["complete"] and set(first["metrics"]) == {"ae_kmeans", "dec"}

    def no_pretraining(*args, **kwargs):
        raise AssertionError("pretrained again")

    monkeypatch.setattr(pipeline.dec, "pretrain", no_pretraining)
    summary = reproduce.reproduce(cfg, [0], methods=["ae_kmeans", "dec", "ae_gmm", "idec"],
                                  x=x, y=y)
    both = json.loads((out / "seed_0.json").read_text())
    assert both["complete"] and set(both["metrics"]) == {"ae_kmeans", "dec", "ae_gmm", "idec"}
    assert both["metrics"]["dec"] == first["metrics"]["dec"], "finished methods are not rerun"
    assert both["seconds"]["ae_kmeans"] == first["seconds"]["ae_kmeans"], \
        "recomputing the K-means start for IDEC does not overwrite AE + K-means' time"
    assert both["self_training_idec"]["n_iter"] > 0
    # The recorded confusion table is the one the ACC was matched on.
    confusion = np.array(both["confusion"]["dec"])
    assert confusion.sum() == len(x) and confusion.shape[1] == len(np.unique(y))
    rows, cols = linear_sum_assignment(confusion, maximize=True)
    assert confusion[rows, cols].sum() / len(x) == pytest.approx(both["metrics"]["dec"]["acc"])
    assert set(summary["methods"]) == {"ae_kmeans", "ae_gmm", "dec", "idec"}
    assert "| IDEC | 1 |" in summary["markdown"] and "IDEC iterations/s" in summary["markdown"]

    # IDEC run alone in a fresh folder (same pretrained weights) gives the same
    # result: DEC's training of the shared encoder did not leak into IDEC's start.
    alone = tmp_path / "alone"
    (alone / "work" / "seed_0").mkdir(parents=True)
    for name in ("ae_weights.weights.h5", reproduce.WEIGHTS_STAMP):
        (alone / "work" / "seed_0" / name).write_bytes((out / "work" / "seed_0" / name).read_bytes())
    cfg_alone = config(tmp_path)
    cfg_alone.out = str(alone)
    reproduce.reproduce(cfg_alone, [0], methods=["idec"], x=x, y=y)
    idec_alone = json.loads((alone / "seed_0.json").read_text())["metrics"]["idec"]
    assert idec_alone == pytest.approx(both["metrics"]["idec"], abs=1e-6)


def test_results_of_an_autoencoder_whose_weights_are_gone_are_run_again(tmp_path, blobs, capsys):
    """A partial seed resumed in a new checkout (work/ is not in git) must not
    mix results of two different autoencoders in one row."""
    import shutil

    x, y = blobs
    cfg = config(tmp_path)
    reproduce.reproduce(cfg, [0], methods=["kmeans_raw", "ae_kmeans", "ae_gmm"], x=x, y=y)
    out = tmp_path / "results"
    path = out / "seed_0.json"
    first = json.loads(path.read_text())
    # A different embedding, as a second pretraining would give.
    first["metrics"]["ae_kmeans"]["acc"] = first["metrics"]["ae_gmm"]["acc"] = -1.0
    first["seconds"]["ae_gmm"] = -1.0
    path.write_text(json.dumps(first))
    shutil.rmtree(out / "work")

    cfg.verbose = 1
    capsys.readouterr()
    reproduce.reproduce(cfg, [0], methods=["kmeans_raw", "ae_kmeans", "ae_gmm", "dec"], x=x, y=y)
    again = json.loads(path.read_text())
    assert again["complete"] and set(again["metrics"]) == {"kmeans_raw", "ae_kmeans", "ae_gmm", "dec"}
    assert again["metrics"]["kmeans_raw"] == first["metrics"]["kmeans_raw"], "no autoencoder in it"
    assert again["seconds"]["kmeans_raw"] == first["seconds"]["kmeans_raw"]
    assert again["metrics"]["ae_kmeans"]["acc"] >= 0 and again["metrics"]["ae_gmm"]["acc"] >= 0
    assert again["seconds"]["ae_gmm"] >= 0
    assert "is missing, so AE + K-means, AE + GMM run again" in capsys.readouterr().out


def test_a_folder_refuses_results_of_other_settings(tmp_path, blobs):
    x, y = blobs
    cfg = config(tmp_path)
    reproduce.reproduce(cfg, [0], methods=["kmeans_raw"], x=x, y=y)
    cfg.pretrain_epochs = 3
    with pytest.raises(ValueError, match=r"pretrain_epochs=2 there, 3 now.*another --out"):
        reproduce.reproduce(cfg, [0], methods=["kmeans_raw", "ae_kmeans"], x=x, y=y)

    # A folder made before a setting existed holds that setting's default.
    cfg.pretrain_epochs = 2
    path = tmp_path / "results" / "seed_0.json"
    state = json.loads(path.read_text())
    del state["config"]["optimizer"]
    path.write_text(json.dumps(state))
    cfg.optimizer = "adam"
    with pytest.raises(ValueError, match=r"optimizer='sgd' there, 'adam' now"):
        reproduce.reproduce(cfg, [0], methods=["kmeans_raw", "ae_kmeans"], x=x, y=y)


def test_unknown_methods_are_refused(tmp_path, blobs):
    x, y = blobs
    with pytest.raises(ValueError, match=r"Expected methods from .*'dec'.*Received: methods=\['deck'\]"):
        reproduce.reproduce(config(tmp_path), [0], methods=["deck"], x=x, y=y)


def test_comparison_table_over_folders(tmp_path, capsys):
    # Self-training settings other than the tutorial's are named in the row.
    changed = {"a": {}, "b": {"optimizer": "adam", "maxiter": 20000, "tol": 0.001}, "mnist": {}}
    for name, accs in (("a", (0.5, 0.7)), ("b", (0.9, 0.9)), ("mnist", (0.8, 0.9))):
        folder = tmp_path / name
        folder.mkdir()
        for seed, acc in enumerate(accs):
            (folder / f"seed_{seed}.json").write_text(json.dumps(
                {"complete": True, "metrics": {m: {"acc": acc, "nmi": acc, "ari": acc}
                                               for m in ("dec", "idec")},
                 "seconds": {}, "n_samples": 100,
                 "config": {"dataset": name, "autoencoder": "conv", "pretrain_epochs": 7,
                            **changed[name]}}))
        reproduce.summarize(str(folder), [0, 1], dataset=name)
    assert reproduce.main(["--table"] + [str(tmp_path / n) for n in ("a", "b", "mnist")]) == 0
    table = capsys.readouterr().out
    assert "| a | conv, 7 epochs | DEC | 2 | 0.600 ± 0.100 (0.500-0.700) | 0.600 | 0.600 |  |" in table
    assert ("| b | conv, 7 epochs, adam self-training, maxiter 20000 | DEC | 2 | "
            "0.900 ± 0.000 (0.900-0.900) |") in table
    # The published figure of the recipe's dataset and autoencoder: DCEC's (a convolutional
    # IDEC), not DEC's 0.962 nor the dense IDEC's 0.881.
    assert "| mnist | conv, 7 epochs | DEC | 2 | 0.850 ± 0.050 (0.800-0.900) | 0.850 | 0.850 |  |" in table
    assert "| mnist | conv, 7 epochs | IDEC | 2 | 0.850 ± 0.050 (0.800-0.900) | 0.850 | 0.850 | 0.890 |" in table
    with pytest.raises(FileNotFoundError, match=r"No seed_N.json files in any of"):
        with pytest.warns(UserWarning, match="no seed_N.json files yet"):
            reproduce.comparison_table([str(tmp_path)])
    # A run that has not finished its first seed is left out, with a warning; a typo is an error.
    (tmp_path / "started").mkdir()
    with pytest.warns(UserWarning, match=r"started'? has no seed_N.json files yet; left out"):
        partial = reproduce.comparison_table([str(tmp_path / "a"), str(tmp_path / "started")])
    assert len(partial.splitlines()) > 2
    assert partial.splitlines()[2:] == reproduce.comparison_table([str(tmp_path / "a")]).splitlines()[2:]
    with pytest.raises(FileNotFoundError, match=r"No folder .*nowhere"):
        reproduce.comparison_table([str(tmp_path / "a"), str(tmp_path / "nowhere")])


def test_a_classical_method_alone_skips_the_kmeans_start(tmp_path, blobs, monkeypatch):
    x, y = blobs

    def no_kmeans_start(*args, **kwargs):
        raise AssertionError("K-means start computed though no method needs it")

    monkeypatch.setattr(reproduce.dec, "init_centres", no_kmeans_start)
    summary = reproduce.reproduce(config(tmp_path), [0], methods=["ae_gmm"], x=x, y=y)
    assert summary["complete_seeds"] == [0] and set(summary["methods"]) == {"ae_gmm"}


def test_weights_of_older_model_code_are_refused(tmp_path, blobs, monkeypatch):
    x, y = blobs
    cfg = config(tmp_path)
    reproduce.reproduce(cfg, [0], methods=["ae_kmeans"], x=x, y=y)
    seed_dir = tmp_path / "results" / "work" / "seed_0"
    stamp = json.loads((seed_dir / reproduce.WEIGHTS_STAMP).read_text())
    assert stamp["weights_version"] == reproduce.autoencoders.WEIGHTS_VERSION
    assert stamp["pretraining"] == {"dataset": "blobs", "autoencoder": "dense", "pretrain_epochs": 2,
                                    "pretrain_batch_size": 256, "pretrain_optimizer": "adam",
                                    "seed": 0}
    recorded = json.loads((tmp_path / "results" / "seed_0.json").read_text())
    assert recorded["pretrain"]["weights_version"] == stamp["weights_version"]

    # Another folder sharing the work folder must share its pretraining, too.
    other = config(tmp_path)
    other.out, other.pretrain_epochs = str(tmp_path / "other"), 3
    with pytest.raises(ValueError, match=r"pretrained with other settings \(pretrain_epochs=2 "
                       r"there, 3 now\).*--work-dir of their own"):
        reproduce.reproduce(other, [0], work_dir=str(seed_dir.parent), methods=["ae_kmeans"], x=x, y=y)
    other.pretrain_epochs, other.optimizer = 2, "adam"  # self-training settings may differ
    reproduce.reproduce(other, [0], work_dir=str(seed_dir.parent), methods=["ae_kmeans"], x=x, y=y)

    # A change to the model code bumps the version: the old weights are not reused.
    old = stamp["weights_version"]
    monkeypatch.setattr(reproduce.autoencoders, "WEIGHTS_VERSION", old + 1)
    with pytest.raises(ValueError, match=rf"weights_version={old}, but this code makes "
                       rf"weights_version={old + 1}.*Delete .*seed_0 to pretrain"):
        reproduce.reproduce(cfg, [0], methods=["ae_kmeans", "ae_gmm"], x=x, y=y)

    # Folders from before the stamps are reused, with a warning that says so.
    (seed_dir / reproduce.WEIGHTS_STAMP).unlink()
    with pytest.warns(UserWarning, match=r"has no weights_version.json.*delete the folder"):
        reproduce.reproduce(cfg, [0], methods=["ae_kmeans", "ae_gmm"], x=x, y=y)
