import json
import os
import shutil

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from deepcluster_keras import estimator, layout, methods, report, reproduce, training

#: A quick recipe for the tests.
RECIPE = dict(pretrain_epochs=2, pretrain_optimizer="adam", maxiter=40, update_interval=10,
              batch_size=32, n_init=2)


def run(tmp_path, seeds=(0,), methods=("kmeans_raw", "ae_kmeans", "dec"), out="results", x=None,
        y=None, callbacks=None, **recipe):
    return reproduce.reproduce({**RECIPE, **recipe}, list(seeds), dataset="blobs",
                               out=str(tmp_path / out), methods_=list(methods), verbose=0, x=x, y=y,
                               callbacks=callbacks)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # may stop at maxiter
def test_interrupted_reproduction_resumes_without_redoing_finished_stages(tmp_path, scaled_blobs,
                                                                         batches, monkeypatch):
    x, y = scaled_blobs
    interrupt = batches.reset(interrupt_at=RECIPE["maxiter"] + 5)  # in the second seed's DEC
    with pytest.raises(KeyboardInterrupt):  # tol 0: every DEC runs maxiter batches
        run(tmp_path, [0, 1], x=x, y=y, tol=0.0, callbacks=interrupt)
    out = tmp_path / "results"
    assert json.loads((out / "seed_0.json").read_text())["complete"]
    partial = json.loads((out / "seed_1.json").read_text())
    assert not partial["complete"] and set(partial["metrics"]) == {"kmeans_raw", "ae_kmeans"}
    assert (out / "work" / "seed_1" / "ae_weights.weights.h5").is_file()

    # The rerun pretrains nothing and does not repeat raw K-means.
    def no_pretraining(*args, **kwargs):
        raise AssertionError("pretrained again")

    monkeypatch.setattr(training, "pretrain", no_pretraining)
    summary = run(tmp_path, [0, 1], x=x, y=y, tol=0.0, callbacks=batches.reset())
    assert batches.calls == RECIPE["maxiter"], "only seed 1's DEC ran"
    assert summary["complete_seeds"] == [0, 1]
    seed_1 = json.loads((out / "seed_1.json").read_text())
    assert seed_1["seconds"]["kmeans_raw"] == partial["seconds"]["kmeans_raw"]
    assert seed_1["training"]["dec"]["n_iter"] == RECIPE["maxiter"]
    assert seed_1["config"]["pretrain_optimizer"] == "adam" and seed_1["config"]["n_clusters"] == 3
    table = (out / "summary.md").read_text()
    assert "| DEC | 2 |" in table and "pretraining samples/s" in table


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # may stop at maxiter
def test_self_training_checkpoints_in_the_seed_work_folder_by_recipe(tmp_path, scaled_blobs,
                                                                    monkeypatch):
    x, y = scaled_blobs
    real_fit, folders = estimator.DEC.fit, []

    def spy(self, *args, **kwargs):
        folders.append((type(self).__name__, self.maxiter, self.checkpoint_dir))
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(estimator.DEC, "fit", spy)
    run(tmp_path, methods=["dec", "idec"], x=x, y=y)
    work = tmp_path / "results" / "work"
    reproduce.reproduce({**RECIPE, "update_interval": 5}, [0], dataset="blobs",
                        out=str(tmp_path / "other"), work_dir=str(work), methods_=["dec"],
                        verbose=0, x=x, y=y)
    seed_dir = str(work / "seed_0")
    assert [(c, m) for c, m, _ in folders] == [("DEC", 0), ("DEC", 40), ("IDEC", 40), ("DEC", 40)]
    assert all(os.path.dirname(f) == seed_dir for _, _, f in folders)
    names = [os.path.basename(f) for _, _, f in folders]
    assert names[0] == "pretraining"
    assert names[1].startswith("self_training_dec_") and names[2].startswith("self_training_idec_")
    assert names[3] != names[1], "another recipe sharing the work folder gets its own checkpoint"
    assert not any(os.path.exists(f) for _, _, f in folders), "removed when done"


def test_checkpoint_names_outlive_parameters_added_to_the_recipe():
    """A parameter added to the recipe must not rename the checkpoints of work
    under way: at its default it is left out of the name. The name below is
    that of DAC's MNIST-70k run of issue 41 (the tutorial's recipe)."""
    recipe = methods.resolved_recipe({**methods.recipe_defaults(), "n_clusters": 10})
    assert recipe["learning_rate"] is None
    assert reproduce._checkpoint_name("dac", recipe) == "self_training_dac_8fb54db413b8"
    assert reproduce._checkpoint_name("dac", {**recipe, "learning_rate": 1.0}) != \
        "self_training_dac_8fb54db413b8"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # may stop at maxiter
def test_more_methods_are_added_to_finished_seeds_from_the_same_start(tmp_path, scaled_blobs,
                                                                     monkeypatch):
    x, y = scaled_blobs
    run(tmp_path, methods=["ae_kmeans", "dec"], x=x, y=y)
    out = tmp_path / "results"
    first = json.loads((out / "seed_0.json").read_text())
    assert first["complete"] and set(first["metrics"]) == {"ae_kmeans", "dec"}

    def no_pretraining(*args, **kwargs):
        raise AssertionError("pretrained again")

    monkeypatch.setattr(training, "pretrain", no_pretraining)
    summary = run(tmp_path, methods=["ae_kmeans", "dec", "ae_gmm", "idec"], x=x, y=y)
    both = json.loads((out / "seed_0.json").read_text())
    assert both["complete"] and set(both["metrics"]) == {"ae_kmeans", "dec", "ae_gmm", "idec"}
    assert both["metrics"]["dec"] == first["metrics"]["dec"], "finished methods are not rerun"
    assert both["seconds"]["ae_kmeans"] == first["seconds"]["ae_kmeans"]
    assert both["training"]["idec"]["n_iter"] > 0 and both["throughput"]["idec_iterations_per_second"] > 0
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
        shutil.copy(out / "work" / "seed_0" / name, alone / "work" / "seed_0" / name)
    run(tmp_path, methods=["idec"], out="alone", x=x, y=y)
    idec_alone = json.loads((alone / "seed_0.json").read_text())["metrics"]["idec"]
    assert idec_alone == pytest.approx(both["metrics"]["idec"], abs=1e-6)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # may stop at maxiter
def test_a_seed_whose_pretraining_collapsed_is_recorded_and_not_run_again(tmp_path, scaled_blobs,
                                                                        monkeypatch):
    x, y = scaled_blobs
    real_pretrain, calls = training.pretrain, []

    def collapses_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # seed 0's
            raise training.PretrainingCollapsed(3, 0.087, 0.086)
        return real_pretrain(*args, **kwargs)

    monkeypatch.setattr(training, "pretrain", collapses_first)
    summary = run(tmp_path, [0, 1], x=x, y=y)
    out = tmp_path / "results"
    seed_0 = json.loads((out / "seed_0.json").read_text())
    assert seed_0["complete"] and set(seed_0["metrics"]) == {"kmeans_raw"}
    assert seed_0["pretrain"]["collapsed"] == {"epoch": 3, "loss": 0.087, "data_variance": 0.086}
    assert set(json.loads((out / "seed_1.json").read_text())["metrics"]) == {
        "kmeans_raw", "ae_kmeans", "dec"}
    assert summary["complete_seeds"] == [0, 1] and summary["collapsed_seeds"] == {0: 3}
    assert "| DEC | 1 |" in summary["markdown"]
    assert "Pretraining collapsed (" in summary["markdown"] and "seed 0 at epoch 3." in summary["markdown"]
    # It counts as a seed that did not reach the tutorial's figures.
    assert report.tutorial_rates(str(out))["dec"]["seeds"] == 2
    table = report.comparison_table([str(out)])
    assert "| DEC | 1 (+1 collapsed) |" in table and "| K-means, raw data | 2 |" in table
    # A rerun does not pretrain seed 0 again: the record is its result.
    calls.clear()
    run(tmp_path, [0, 1], x=x, y=y)
    assert not calls


def test_results_of_an_autoencoder_whose_weights_are_gone_are_run_again(tmp_path, blobs, capsys):
    """A partial seed resumed in a new checkout (work/ is not in git) must not
    mix results of two different autoencoders in one row."""
    x, y = blobs
    run(tmp_path, methods=["kmeans_raw", "ae_kmeans", "ae_gmm"], x=x, y=y)
    out = tmp_path / "results"
    path = out / "seed_0.json"
    first = json.loads(path.read_text())
    # A different embedding, as a second pretraining would give.
    first["metrics"]["ae_kmeans"]["acc"] = first["metrics"]["ae_gmm"]["acc"] = -1.0
    first["seconds"]["ae_gmm"] = -1.0
    path.write_text(json.dumps(first))
    shutil.rmtree(out / "work")

    capsys.readouterr()
    reproduce.reproduce(RECIPE, [0], dataset="blobs", out=str(out),
                        methods_=["kmeans_raw", "ae_kmeans", "ae_gmm", "dec"], verbose=1, x=x, y=y)
    again = json.loads(path.read_text())
    assert again["complete"] and set(again["metrics"]) == {"kmeans_raw", "ae_kmeans", "ae_gmm", "dec"}
    assert again["metrics"]["kmeans_raw"] == first["metrics"]["kmeans_raw"], "no autoencoder in it"
    assert again["seconds"]["kmeans_raw"] == first["seconds"]["kmeans_raw"]
    assert again["metrics"]["ae_kmeans"]["acc"] >= 0 and again["metrics"]["ae_gmm"]["acc"] >= 0
    assert again["seconds"]["ae_gmm"] >= 0
    assert "is missing, so AE + K-means, AE + GMM run again" in capsys.readouterr().out


def test_a_folder_refuses_results_of_other_settings(tmp_path, blobs):
    x, y = blobs
    run(tmp_path, methods=["kmeans_raw"], x=x, y=y)
    with pytest.raises(ValueError, match=r"pretrain_epochs=2 there, 3 now.*another --out"):
        run(tmp_path, methods=["kmeans_raw", "ae_kmeans"], x=x, y=y, pretrain_epochs=3)
    with pytest.raises(ValueError, match=r"optimizer='sgd' there, 'adam' now"):
        run(tmp_path, methods=["kmeans_raw"], x=x, y=y, optimizer="adam")
    run(tmp_path, methods=["kmeans_raw"], x=x, y=y, gamma=0.5)  # IDEC's: no IDEC results here


def test_a_run_of_some_seeds_summarises_the_whole_folder(tmp_path, blobs):
    x, y = blobs
    run(tmp_path, [0], methods=["kmeans_raw"], x=x, y=y)
    summary = run(tmp_path, [2], methods=["kmeans_raw"], x=x, y=y)
    assert summary["seeds"] == [0, 2]
    assert "| K-means, raw data | 2 |" in (tmp_path / "results" / "summary.md").read_text()
    with pytest.raises(ValueError, match=r"seed_0.json was made with other settings.*n_init=2 "
                                         r"there, 3 now"):
        run(tmp_path, [1], methods=["kmeans_raw"], x=x, y=y, n_init=3)  # a new seed, other settings
    assert not (tmp_path / "results" / "seed_1.json").exists()


def test_a_methods_own_parameters_are_recorded_and_kept(tmp_path, blobs):
    x, y = blobs
    own = {"rim": {"epochs": 2, "hidden": [8]}}
    summary = run(tmp_path, methods=["kmeans_raw", "rim"], x=x, y=y, method_params=own)
    seed_0 = json.loads((tmp_path / "results" / "seed_0.json").read_text())
    assert seed_0["config"]["method_params"] == own
    assert seed_0["training"]["rim"]["epochs"] == 2
    # Every parameter it ran with, defaults too, so that a changed default shows.
    assert seed_0["params"]["rim"] == {**methods.own_params("rim"), "epochs": 2, "hidden": [8],
                                       "n_clusters": 3}
    assert "except RIM epochs=2, hidden=[8]" in summary["markdown"].splitlines()[0]
    with pytest.raises(ValueError, match=r"rim parameters \{'epochs': 2, 'hidden': \[8\]\} there, "
                                         r"\{'epochs': 3\} now"):
        run(tmp_path, methods=["kmeans_raw", "rim"], x=x, y=y, method_params={"rim": {"epochs": 3}})
    with pytest.raises(ValueError, match=r"rim parameters .* there, \{\} now"):
        run(tmp_path, [1], methods=["kmeans_raw", "rim"], x=x, y=y)  # a new seed: defaults
    # Another method's parameters join a finished seed.
    both = {**own, "imsat": {"epochs": 1}}
    run(tmp_path, methods=["kmeans_raw", "rim", "imsat"], x=x, y=y, method_params=both)
    assert json.loads((tmp_path / "results" / "seed_0.json").read_text())["config"][
        "method_params"] == both


def test_a_method_with_an_autoencoder_of_its_own_does_not_take_the_shared_one(tmp_path,
                                                                               scaled_blobs):
    """VaDE(pretraining="sigmoid") pretrains its own autoencoder (Adam, not the
    recipe's optimizer); the other methods of the seed share the recipe's."""
    x, y = scaled_blobs
    own = {"vade": {"pretraining": "sigmoid", "epochs": 1}}
    summary = run(tmp_path, methods=["kmeans_raw", "vade"], x=x, y=y, method_params=own,
                  pretrain_optimizer="sgd")
    assert summary["markdown"].startswith(
        "Recipe: blobs (120 samples), VaDE pretraining an autoencoder of its own (dense, 2 epochs)")
    work = tmp_path / "results" / "work" / "seed_0"
    assert not (work / "ae_weights.weights.h5").exists(), "no shared autoencoder was needed"
    seed = json.loads((tmp_path / "results" / "seed_0.json").read_text())
    assert seed["complete"] and "pretrain" not in seed
    pretrained = seed["own_pretrain"]["vade"]
    assert len(pretrained["loss"]) == RECIPE["pretrain_epochs"]
    assert seed["params"]["vade"]["pretrain_optimizer"] is None  # Adam, its own
    assert seed["seconds"]["vade"] >= pretrained["seconds"]
    run(tmp_path, methods=["kmeans_raw", "vade", "ae_kmeans"], x=x, y=y, method_params=own,
        pretrain_optimizer="sgd")
    seed = json.loads((tmp_path / "results" / "seed_0.json").read_text())
    assert (work / "ae_weights.weights.h5").exists()
    assert seed["pretrain"]["loss"] != pretrained["loss"] and seed["own_pretrain"]["vade"] == pretrained
    assert methods.shared_autoencoder_methods(own_recipe := {**methods.recipe_defaults(),
                                                             "method_params": own}) \
        == tuple(m for m in methods.METHODS if m not in (*methods.RAW_METHODS, "vade"))
    assert methods.estimator("vade", own_recipe).pretrain_optimizer is None
    assert "vade" in methods.shared_autoencoder_methods(methods.recipe_defaults())


@pytest.mark.parametrize("methods,recipe,message", [
    (["deck"], {}, r"Expected methods from .*'dec'.*Received: methods=\['deck'\]"),
    (["dec"], {"maxiter": -1}, r"'maxiter' parameter of DEC must be an int in the range \[0, inf\)"),
    (["idec"], {"gamma": 0}, r"'gamma' parameter of IDEC must be a float in the range \(0.0, inf\)"),
])
def test_bad_settings_are_refused_before_anything_runs(tmp_path, blobs, methods, recipe, message):
    x, y = blobs
    with pytest.raises(ValueError, match=message):
        run(tmp_path, methods=methods, x=x, y=y, **recipe)
    assert not (tmp_path / "results").exists()


def test_weights_of_older_model_code_are_refused(tmp_path, blobs, monkeypatch):
    x, y = blobs
    run(tmp_path, methods=["ae_kmeans"], x=x, y=y)
    seed_dir = tmp_path / "results" / "work" / "seed_0"
    stamp = json.loads((seed_dir / reproduce.WEIGHTS_STAMP).read_text())
    assert stamp["weights_version"] == reproduce.autoencoders.WEIGHTS_VERSION
    assert stamp["pretraining"] == {"dataset": "blobs", "autoencoder": "dense", "pretrain_epochs": 2,
                                    "batch_size": 32, "pretrain_optimizer": "adam", "seed": 0}
    recorded = json.loads((tmp_path / "results" / "seed_0.json").read_text())
    assert recorded["pretrain"]["weights_version"] == stamp["weights_version"]

    # Another folder sharing the work folder must share its pretraining, too.
    def other(**recipe):
        reproduce.reproduce({**RECIPE, **recipe}, [0], dataset="blobs", out=str(tmp_path / "other"),
                            work_dir=str(seed_dir.parent), methods_=["ae_kmeans"], verbose=0, x=x, y=y)

    with pytest.raises(ValueError, match=r"pretrained with other settings \(pretrain_epochs=2 "
                       r"there, 3 now\).*work folder of their own"):
        other(pretrain_epochs=3)
    other(optimizer="adam")  # self-training settings may differ

    # A change to the model code bumps the version: the old weights are not reused.
    old = stamp["weights_version"]
    monkeypatch.setattr(reproduce.autoencoders, "WEIGHTS_VERSION", old + 1)
    with pytest.raises(ValueError, match=rf"weights_version={old}, but this code makes "
                       rf"weights_version={old + 1}.*Delete .*seed_0 to pretrain"):
        run(tmp_path, methods=["ae_kmeans", "ae_gmm"], x=x, y=y)

    # A folder with weights but no stamp is not trusted.
    (seed_dir / reproduce.WEIGHTS_STAMP).unlink()
    with pytest.raises(ValueError, match=r"holds files but no weights_version.json"):
        run(tmp_path, methods=["ae_kmeans", "ae_gmm"], x=x, y=y)


def test_time_left_counts_only_what_each_seed_still_has_to_run(tmp_path):
    out, work = tmp_path / "results", tmp_path / "work"
    out.mkdir()
    seconds = {"kmeans_raw": 60.0, "rim": 120.0, "imsat": 600.0, "pretrain": 1200.0, "dec": 300.0}
    (out / "seed_0.json").write_text(json.dumps(
        {"seed": 0, "metrics": {m: {} for m in seconds if m != "pretrain"}, "seconds": seconds}))
    (out / "seed_1.json").write_text(json.dumps(
        {"seed": 1, "metrics": {"kmeans_raw": {}, "rim": {}}, "seconds": {"kmeans_raw": 180.0}}))
    shared = methods.shared_autoencoder_methods(methods.recipe_defaults())

    def left(*args):
        return reproduce._time_left(*args, shared)

    # Seed 1 lacks IMSAT (600 s), seed 2 all three (K-means 120 s, the mean of 60 and 180).
    assert left(out, [1, 2], ["kmeans_raw", "rim", "imsat"], work).endswith(
        "2 seed(s) to run, ~24 min left by the times so far")
    assert left(out, [0], ["kmeans_raw"], work).startswith("== 0 seed(s)")
    # DAC has no time yet: no figure rather than one made of the other methods' times.
    assert left(out, [0, 1], ["dac"], work) == \
        "== 2 seed(s) to run; time left known once DAC has run on one"
    # DEC needs pretraining, unless the seed's autoencoder is in the work folder already.
    assert left(out, [2], ["dec"], work).endswith("~25 min left by the times so far")
    (work / "seed_2").mkdir(parents=True)
    (work / "seed_2" / layout.AE_WEIGHTS_FILE).write_bytes(b"")
    assert left(out, [2], ["dec"], work).endswith("~5 min left by the times so far")
