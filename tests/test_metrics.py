import numpy as np
import pytest

from deepcluster_keras.metrics import (acc, ari, confusion, evaluate, mixed_classes, nmi, purity,
                                      silhouette)


def test_hand_computed_case_where_matching_matters():
    # Clusters 1/0/2 mostly hold classes 0/2/1; plain accuracy is 0.
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [1, 1, 2, 0, 0, 0]
    assert np.mean(np.array(y_true) == np.array(y_pred)) == 0.0
    # Best map: 1->0 (2 right), 0->2 (2 right), 2->1 (1 right) = 5/6.
    assert acc(y_true, y_pred) == pytest.approx(5 / 6)


def test_more_clusters_than_classes_counts_unmatched_as_errors():
    assert acc([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(4 / 6)
    # and fewer clusters than classes
    assert acc([0, 1, 2, 2], [0, 0, 1, 1]) == pytest.approx(3 / 4)


@pytest.mark.parametrize("metric", [acc, nmi, ari])
def test_invariant_under_label_permutation_and_perfect_is_one(metric):
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 5, size=200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, 5, size=200))
    perm = np.array([3, 0, 4, 1, 2])
    assert metric(y_true, perm[y_pred]) == pytest.approx(metric(y_true, y_pred))
    assert metric(y_true, perm[y_true]) == pytest.approx(1.0)
    assert isinstance(metric(y_true, y_pred), float)


@pytest.mark.parametrize("metric", [acc, nmi, ari])
def test_bad_input(metric):
    with pytest.raises(ValueError, match="same length"):
        metric([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        metric([0.0, np.nan], [0, 1])


def test_confusion_and_evaluate():
    table = confusion([0, 0, 1], ["b", "a", "a"])
    np.testing.assert_array_equal(table, [[1, 1], [1, 0]])
    assert set(evaluate([0, 1], [1, 0])) == {"acc", "nmi", "ari"}


def test_purity_rewards_over_segmentation_unlike_acc():
    y_true = [0, 0, 0, 1, 1, 1]
    over = [0, 0, 1, 1, 2, 2]
    # Clusters {0,0}, {0,1}, {1,1}: majorities 2 + 1 + 2 = 5 of 6.
    assert purity(y_true, over) == pytest.approx(5 / 6)
    assert purity(y_true, np.arange(6)) == 1.0
    assert acc(y_true, np.arange(6)) == pytest.approx(2 / 6)
    assert purity(y_true, [0] * 6) == pytest.approx(0.5)


def test_silhouette_separated_blobs_and_noise(blobs):
    x, y = blobs
    assert silhouette(x, y) > 0.7
    assert silhouette(x, np.random.default_rng(0).integers(0, 3, len(y))) < 0.1
    noisy = y.copy()
    noisy[:5] = -1
    assert silhouette(x, noisy) > 0.7, "noise points are left out"
    assert np.isnan(silhouette(x, np.zeros(len(y), int)))
    # On a sample when large: same ballpark as the exact score.
    assert silhouette(x, y, sample_size=60) == pytest.approx(silhouette(x, y), abs=0.1)


def test_mixed_classes_names_the_classes_shared_between_two_clusters():
    # DEC's typical MNIST failure: 4s and 9s (columns 4 and 9) shared out
    # between two clusters, the other digits each kept in one cluster.
    table = np.diag([100] * 10)
    table[[4, 9], 4], table[[4, 9], 9] = [52, 48], [40, 60]
    table = table[np.random.default_rng(0).permutation(10)]  # cluster order does not matter
    assert mixed_classes(table) == [(4, 9)]
    assert mixed_classes(np.diag([100] * 10)) == []
    # A class kept at exactly the threshold is not mixed up; below it, it is.
    assert mixed_classes([[80, 0], [20, 100]]) == []
    assert mixed_classes([[79, 0], [21, 100]]) == [(0, 1)]
    # The rest of the class in a cluster that matches no class: the class alone.
    assert mixed_classes([[60, 0], [0, 50], [40, 0]]) == [(0,)]


def test_mixed_classes_reads_the_confusion_of_labels():
    y_true = np.repeat([0, 1, 2], 10)
    y_pred = np.concatenate([np.full(10, 5), [7] * 6 + [8] * 4, [8] * 5 + [7] * 5])
    assert mixed_classes(confusion(y_true, y_pred)) == [(1, 2)]


@pytest.mark.parametrize("table, threshold, message", [
    (np.zeros(3), 0.8, "2-D table"),
    ([[1, -1], [0, 2]], 0.8, "2-D table of counts"),
    ([[1, 0], [0, 1]], 0.0, "threshold must be in"),
    ([[1, 0], [0, 1]], 1.5, "threshold must be in"),
])
def test_mixed_classes_rejects_bad_input(table, threshold, message):
    with pytest.raises(ValueError, match=message):
        mixed_classes(table, threshold)
