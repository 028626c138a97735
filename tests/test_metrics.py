import numpy as np
import pytest

from deepcluster_keras.metrics import acc, ari, confusion, evaluate, nmi, purity, silhouette


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
