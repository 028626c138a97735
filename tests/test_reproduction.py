"""Regression against the published MNIST figures.

Two parts:

* ``reproduction`` marker (opt-in, hours on a CPU): ``pytest -m reproduction``.
  K-means on raw MNIST-70k, the full DEC reproduction over seeds 0-4 with
  the tutorial's settings, and a pinned seed that reached 0.96 run again. The DEC test runs (or continues) the reproduction
  command in ``$DEEPCLUSTER_REPRODUCTION_DIR`` (default: ``results/mnist`` in
  this repository), which skips the seeds already done there, so pointing it
  at a finished run only checks its summary, over all the seeds it holds.
* A small regression in the default run: MNIST-test (10,000 images) with 30
  pretraining epochs and maxiter 2000, seed 0 of ``benchmarks/calibrate.sh``'s
  MNIST-test line, on one thread; seeds 0-4 are in
  ``results/calibration/mnist_test_30epochs/summary.md``. The floors are the
  lowest seed less 0.02, so a change that costs the method more than the
  spread between seeds fails.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest
from conftest import reproduce_on_one_thread

from deepcluster_keras import load_data, metrics, reproduce

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.reproduction
def test_kmeans_on_raw_mnist_matches_the_tutorial(shared_mnist):
    from sklearn.cluster import KMeans

    x, y = load_data("mnist", data_dir=shared_mnist)
    y_pred = KMeans(10, n_init=20, random_state=0).fit_predict(x)
    assert 0.52 <= metrics.acc(y, y_pred) <= 0.55  # the tutorial: 0.532


@pytest.mark.reproduction
def test_dec_reproduction_over_five_seeds(shared_mnist):
    out = os.environ.get("DEEPCLUSTER_REPRODUCTION_DIR", str(REPO / "results" / "mnist"))
    summary = reproduce.reproduce(seeds=[0, 1, 2, 3, 4], dataset="mnist", data_dir=str(shared_mnist),
                                  out=out)
    # The summary covers every seed of the folder (results/mnist goes on to 14).
    assert {0, 1, 2, 3, 4} <= set(summary["complete_seeds"])
    dec, ae_kmeans = summary["methods"]["dec"]["stats"]["acc"], summary["methods"]["ae_kmeans"]["stats"]["acc"]
    # Every criterion is checked, and all that fail are reported together.
    criteria = {
        "the best DEC seed separates all ten digits, as the tutorial's run (ACC >= 0.96)":
            dec["max"] >= 0.96,
        "the DEC median lies in the published spread over seeds (0.83-0.964)":
            0.83 <= dec["median"] <= 0.964,
        "the AE + K-means median is at least 0.80": ae_kmeans["median"] >= 0.80,
    }
    failed = [name for name, ok in criteria.items() if not ok]
    assert not failed, (f"Not met: {'; '.join(failed)}. DEC max {dec['max']:.3f}, median "
                        f"{dec['median']:.3f}; AE + K-means median {ae_kmeans['median']:.3f}")


@pytest.mark.reproduction
def test_dec_da_separates_every_digit_on_every_seed(shared_mnist):
    """DEC-DA with its authors' settings (issue 43) over seeds 0-4: runs or
    continues ``$DEEPCLUSTER_DEC_DA_DIR`` (default ``results/mnist-dec-da``;
    two to four hours a seed on two CPU cores), then asks of every seed what
    the faithful DEC reaches on 6 of 15: ACC >= 0.97 (the authors report
    0.985 as a mean of five)."""
    out = os.environ.get("DEEPCLUSTER_DEC_DA_DIR", str(REPO / "results" / "mnist-dec-da"))
    summary = reproduce.reproduce({"augment": True, "pretrain_epochs": 500, "maxiter": 20000},
                                  seeds=[0, 1, 2, 3, 4], dataset="mnist",
                                  data_dir=str(shared_mnist), out=out)
    assert {0, 1, 2, 3, 4} <= set(summary["complete_seeds"])
    acc = {seed: round(m["acc"], 3) for seed, m in summary["methods"]["dec"]["per_seed"].items()}
    short = {seed: a for seed, a in acc.items() if a < 0.97}
    assert not short, f"DEC-DA below 0.97 on seeds {short} (every seed: {acc})"


#: A seed of results/mnist that reached the tutorial's figures (DEC 0.963, AE + K-means 0.912).
PINNED_SEED = 4


@pytest.mark.reproduction
def test_the_pinned_seed_reaches_the_tutorials_96_percent(shared_mnist, tmp_path):
    """The pinned seed, run from scratch with the tutorial's recipe (about an
    hour on two CPU cores), reaches DEC >= 0.96 again. Results on a CPU depend
    on the thread count: the run uses the one its recorded result had."""
    recorded = json.loads((REPO / "results" / "mnist" / f"seed_{PINNED_SEED}.json").read_text())
    threads = str(recorded["versions"]["cpu_threads"])
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": threads, "OMP_NUM_THREADS": threads}
    command = [sys.executable, "-m", "deepcluster_keras", "reproduce", "--dataset", "mnist",
               "--data-dir", str(shared_mnist), "--seeds", str(PINNED_SEED), "--methods",
               "ae_kmeans", "dec", "--quiet", "--out", str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=4 * 3600)
    assert done.returncode == 0, done.stderr[-3000:]
    seed = json.loads((tmp_path / f"seed_{PINNED_SEED}.json").read_text())
    ae_kmeans, dec = seed["metrics"]["ae_kmeans"]["acc"], seed["metrics"]["dec"]["acc"]
    before = recorded["metrics"]
    assert ae_kmeans >= 0.90 and dec >= 0.96, (
        f"seed {PINNED_SEED}: AE + K-means {ae_kmeans:.3f}, DEC {dec:.3f} on "
        f"{seed['versions'].get('cpu')!r}; recorded: {before['ae_kmeans']['acc']:.3f} and "
        f"{before['dec']['acc']:.3f} on {recorded['versions'].get('cpu', 'an unrecorded CPU')!r} "
        f"({threads} threads). Results on a CPU depend on its model as well as its threads.")


@pytest.mark.slow(seconds=139)
def test_small_mnist_regression(shared_mnist, tmp_path):
    seed = reproduce_on_one_thread(tmp_path, "--dataset", "mnist_test", "--data-dir",
                                   str(shared_mnist), "--pretrain-epochs", "30", "--maxiter", "2000",
                                   "--methods", "ae_kmeans", "dec")
    ae_kmeans, dec = seed["metrics"]["ae_kmeans"]["acc"], seed["metrics"]["dec"]["acc"]
    assert seed["pretrain"]["loss"][-1] < 0.027  # 0.0234-0.0243 over seeds 0-4
    assert ae_kmeans >= 0.48
    assert dec >= 0.54
    assert dec - ae_kmeans >= 0.02
    assert seed["training"]["dec"]["history"]["acc"][-1] == pytest.approx(dec, abs=0.01)
    # The finished pretraining leaves its weights, not its resumable checkpoint.
    work = tmp_path / "work" / "seed_0"
    assert list(work.rglob("*.weights.h5")) and not list(work.rglob("pretrain_checkpoint.*"))
    assert (tmp_path / "seed_0.json").is_file() and (tmp_path / "summary.md").is_file()
