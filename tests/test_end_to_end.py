"""DEC end to end on a small real dataset, against accuracies we measured.

The test runs seed 0 of ``benchmarks/calibrate.sh``'s digits line (the
tutorial's dense autoencoder and optimisers, 100 pretraining epochs, maxiter
2000) on one thread; the figures of seeds 0-4 are in
``results/calibration/digits_100epochs/summary.md``. The floors are the
lowest seed less 0.025 (seeds differ more than that between machines only if
something is broken); DEC improved on its K-means start on every seed.
"""

import pytest

from conftest import reproduce_on_one_thread


@pytest.mark.slow
def test_dec_on_digits_reaches_the_measured_accuracy(tmp_path):
    seed = reproduce_on_one_thread(tmp_path, "--dataset", "digits", "--pretrain-epochs", "100",
                                   "--maxiter", "2000", "--methods", "ae_kmeans", "dec")
    assert seed["versions"]["cpu_threads"] >= 1
    assert seed["pretrain"]["loss"][-1] < 0.02
    ae_kmeans, dec = seed["metrics"]["ae_kmeans"]["acc"], seed["metrics"]["dec"]["acc"]
    assert ae_kmeans >= 0.695
    assert dec >= 0.70
    assert dec - ae_kmeans >= 0.005, "self-training should improve on its K-means start"
    assert seed["training"]["dec"]["history"]["acc"][-1] == pytest.approx(dec, abs=0.01)
