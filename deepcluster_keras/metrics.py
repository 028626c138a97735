"""Clustering metrics: Hungarian-matched accuracy, NMI and ARI.

All three compare a clustering with ground-truth labels, are invariant to a
renaming of the clusters, return a plain ``float`` and reach 1.0 for a
perfect clustering.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as _sk_metrics

__all__ = ["acc", "nmi", "ari", "purity", "silhouette", "confusion", "mixed_classes", "evaluate"]


def _check_label_pair(y_true, y_pred):
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(
            "Expected 1-D label arrays. Received: "
            f"y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
        )
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(
            "y_true and y_pred must have the same length. Received: "
            f"len(y_true)={y_true.shape[0]}, len(y_pred)={y_pred.shape[0]}"
        )
    if y_true.shape[0] == 0:
        raise ValueError("Received empty label arrays: nothing to score.")
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
            raise ValueError(f"{name} contains NaN or infinity.")
    return y_true, y_pred


def confusion(y_true, y_pred):
    """Contingency table of clusters against classes.

    Returns
    -------
    table : ndarray of shape (n_clusters, n_classes)
        ``table[i, j]`` counts the samples put in the i-th cluster (in
        sorted order of ``np.unique(y_pred)``) whose class is the j-th class.
    """
    y_true, y_pred = _check_label_pair(y_true, y_pred)
    _, true_index = np.unique(y_true, return_inverse=True)
    _, pred_index = np.unique(y_pred, return_inverse=True)
    table = np.zeros((pred_index.max() + 1, true_index.max() + 1), dtype=np.int64)
    np.add.at(table, (pred_index, true_index), 1)
    return table


def acc(y_true, y_pred):
    """Clustering accuracy under the best one-to-one cluster-to-class map.

    The map is found with the Hungarian algorithm
    (``scipy.optimize.linear_sum_assignment``) on the contingency table, as
    in the DEC tutorial. With more clusters than classes (or the reverse)
    the unmatched ones count as errors.

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> acc([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> acc([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    0.6666666666666666
    """
    table = confusion(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def mixed_classes(table, threshold=0.8):
    """Which classes a clustering mixes up, read from its :func:`confusion` table.

    Clusters are matched to classes as in :func:`acc`. A class whose matched
    cluster holds less than ``threshold`` of its samples is grouped with the
    class matched to the cluster that holds most of the rest (alone when
    that cluster matches no class). DEC on MNIST, for example, often shares
    the 4s and 9s out between two clusters: ``[(4, 9)]``.

    Parameters
    ----------
    table : array of shape (n_clusters, n_classes)
        Clusters against classes, as :func:`confusion` returns.
    threshold : float in (0, 1]

    Returns
    -------
    list of tuples of class indices (columns of ``table``), sorted; empty
    when every class keeps at least ``threshold`` of its samples together.

    Examples
    --------
    >>> mixed_classes([[50, 0, 0], [0, 30, 20], [0, 20, 30]])
    [(1, 2)]
    """
    table = np.asarray(table)
    if table.ndim != 2 or table.size == 0 or np.any(table < 0):
        raise ValueError(
            "Expected a non-empty 2-D table of counts (clusters by classes), as "
            f"metrics.confusion returns. Received shape {table.shape}.")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1]. Received: threshold={threshold}")
    rows, cols = linear_sum_assignment(table, maximize=True)
    class_of = dict(zip(rows.tolist(), cols.tolist()))
    cluster_of = dict(zip(cols.tolist(), rows.tolist()))
    groups = set()
    for k in range(table.shape[1]):
        column = table[:, k]
        total = column.sum()
        home = cluster_of.get(k)
        kept = column[home] if home is not None else 0
        if total == 0 or kept >= threshold * total:
            continue
        rest = column.copy()
        if home is not None:
            rest[home] = -1
        other = class_of.get(int(np.argmax(rest)))
        groups.add(tuple(sorted({k, other} - {None})))
    return sorted(groups)


def nmi(y_true, y_pred):
    """Normalized mutual information (arithmetic mean normalisation)."""
    y_true, y_pred = _check_label_pair(y_true, y_pred)
    return float(_sk_metrics.normalized_mutual_info_score(y_true, y_pred))


def ari(y_true, y_pred):
    """Adjusted Rand index: 1 for a perfect match, about 0 for chance."""
    y_true, y_pred = _check_label_pair(y_true, y_pred)
    return float(_sk_metrics.adjusted_rand_score(y_true, y_pred))


def purity(y_true, y_pred):
    """Fraction of samples in their cluster's majority class.

    Unlike :func:`acc`, several clusters may share a class, so purity
    rewards over-segmentation: n_samples singleton clusters score 1.0.

    Examples
    --------
    >>> purity([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    0.8333333333333334
    >>> purity([0, 0, 1, 1], [0, 1, 2, 3])
    1.0
    """
    table = confusion(y_true, y_pred)
    return float(table.max(axis=1).sum() / table.sum())


def silhouette(x, y_pred, sample_size=10_000, random_state=0):
    """Mean silhouette coefficient, in [-1, 1], needing no ground truth.

    Computed on a random sample of ``sample_size`` points when there are
    more (the exact score costs O(n^2)). Noise points (label -1, from
    DBSCAN) are left out. NaN when fewer than two clusters remain.
    """
    from sklearn.metrics import silhouette_score

    x = np.asarray(x).reshape(len(x), -1)
    y_pred = np.asarray(y_pred)
    keep = y_pred != -1
    x, y_pred = x[keep], y_pred[keep]
    n_labels = len(np.unique(y_pred))
    if n_labels < 2 or n_labels >= len(x):
        return float("nan")
    size = sample_size if len(x) > sample_size else None
    return float(silhouette_score(x, y_pred, sample_size=size, random_state=random_state))


def evaluate(y_true, y_pred):
    """All three metrics as a dict ``{"acc": ..., "nmi": ..., "ari": ...}``."""
    return {"acc": acc(y_true, y_pred), "nmi": nmi(y_true, y_pred), "ari": ari(y_true, y_pred)}
