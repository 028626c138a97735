import numpy as np
import pytest

from deepcluster_keras import classical, metrics


@pytest.mark.parametrize("method", ["kmeans", "gmm", "agglomerative", "spectral"])
def test_methods_recover_separated_blobs(blobs, method):
    x, y = blobs
    labels = classical.cluster(x, method, 3, random_state=0)
    assert labels.shape == y.shape
    assert metrics.acc(y, labels) == 1.0


def test_dbscan_finds_the_clusters_and_marks_noise(blobs):
    x, y = blobs
    far = np.array([[30.0] * 5, [-30.0] * 5], dtype="float32")
    labels = classical.cluster(np.vstack([x, far]), "dbscan")
    assert list(labels[-2:]) == [-1, -1], "isolated points are noise"
    core = labels[:-2]
    assert len(set(core) - {-1}) == 3
    assert np.mean(core == -1) < 0.05
    assert metrics.acc(y[core != -1], core[core != -1]) == 1.0


def test_dbscan_warns_when_it_finds_no_separate_clusters():
    # Two touching Gaussians: the k-distance knee keeps them in one cluster.
    rng = np.random.default_rng(0)
    z = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(1.5, 1, (200, 2))])
    with pytest.warns(RuntimeWarning, match=r"DBSCAN found 1 cluster\(s\) at eps=.*smaller eps"):
        labels = classical.cluster(z, "dbscan")
    assert len(set(labels) - {-1}) == 1


def test_kdistance_eps_sits_between_cluster_and_gap_scales(blobs):
    x, _ = blobs
    eps = classical.kdistance_eps(x, 5)
    # Within-blob neighbour distances are about 0.5 * sqrt(5); blobs are >= 8 apart.
    assert 0.3 < eps < 4.0


def test_measured_accuracy_on_digits():
    """Floors from runs on sklearn's digits (raw 64 pixels, seed 0), 2026-11-29."""
    from deepcluster_keras import load_data

    x, y = load_data("digits")
    measured = {"kmeans": 0.792, "gmm": 0.714, "agglomerative": 0.840,
                "spectral": 0.804}
    for method, value in measured.items():
        score = metrics.acc(y, classical.cluster(x, method, 10, random_state=0))
        assert score >= value - 0.02, (method, score)


def test_bad_input():
    with pytest.raises(ValueError, match="Unknown clustering method.*method='kmedoids'"):
        classical.cluster(np.zeros((5, 2)), "kmedoids", 2)
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=4"):
        classical.cluster(np.zeros((3, 2)), "kmeans", 4)
    with pytest.raises(ValueError, match="NaN"):
        classical.cluster(np.array([[0.0, np.nan], [1.0, 1.0]]), "gmm", 2)
    with pytest.raises(ValueError, match="integer >= 2.*n_clusters=1"):
        classical.cluster(np.zeros((3, 2)), "kmeans", 1)
