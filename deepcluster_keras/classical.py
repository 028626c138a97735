"""Classical clustering algorithms, applied to an embedding (or raw data).

``cluster(z, method, n_clusters)`` runs one of scikit-learn's K-means,
Gaussian mixture, agglomerative (Ward), spectral clustering or DBSCAN and
returns the labels. DBSCAN finds its own number of clusters and marks noise
points with the label -1; without ``eps`` it takes the knee of the
k-distance curve (Ester et al., 1996).
"""

import numpy as np

from deepcluster_keras.validation import check_data, check_n_clusters

__all__ = ["METHODS", "cluster", "kdistance_eps"]

METHODS = ("kmeans", "gmm", "agglomerative", "spectral", "dbscan")


def cluster(z, method="kmeans", n_clusters=10, *, random_state=None, n_init=20, eps=None,
            min_samples=5):
    """Cluster the rows of ``z`` with a classical algorithm.

    Parameters
    ----------
    z : ndarray of shape (n_samples, n_features)
    method : {"kmeans", "gmm", "agglomerative", "spectral", "dbscan"}
    n_clusters : int
        Ignored by DBSCAN.
    n_init : int
        Restarts of K-means and of the Gaussian mixture's EM (capped at 5).
    eps, min_samples : DBSCAN's neighbourhood radius and density; ``eps``
        defaults to :func:`kdistance_eps`.

    Returns
    -------
    labels : ndarray of shape (n_samples,), -1 for DBSCAN's noise points
    """
    if method not in METHODS:
        raise ValueError(
            f"Unknown clustering method, expected one of {METHODS}. Received: method={method!r}"
        )
    n_clusters = check_n_clusters(n_clusters)
    z = check_data(z, name="z", n_clusters=1 if method == "dbscan" else n_clusters)
    z = z.reshape(len(z), -1)
    if method == "kmeans":
        from sklearn.cluster import KMeans

        return KMeans(n_clusters, n_init=n_init, random_state=random_state).fit_predict(z)
    if method == "gmm":
        from sklearn.mixture import GaussianMixture

        gmm = GaussianMixture(n_clusters, n_init=min(n_init, 5), random_state=random_state)
        return gmm.fit(z).predict(z)
    if method == "agglomerative":
        from sklearn.cluster import AgglomerativeClustering

        return AgglomerativeClustering(n_clusters, linkage="ward").fit_predict(z)
    if method == "spectral":
        from sklearn.cluster import SpectralClustering

        spectral = SpectralClustering(n_clusters, affinity="nearest_neighbors",
                                      n_neighbors=min(10, len(z) - 1),
                                      assign_labels="cluster_qr", random_state=random_state)
        return spectral.fit_predict(z)
    from sklearn.cluster import DBSCAN

    if eps is None:
        eps = kdistance_eps(z, min_samples)
    labels = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(z)
    found = len(np.unique(labels[labels != -1]))
    if found < 2:
        import warnings

        warnings.warn(
            f"DBSCAN found {found} cluster(s) at eps={eps:.4g}, min_samples={min_samples}: "
            "the data has no density gap at that radius (on autoencoder embeddings the "
            "clusters often touch). Pass a smaller eps, or use a method given n_clusters "
            "(kmeans, gmm).", RuntimeWarning, stacklevel=2)
    return labels


def kdistance_eps(z, k=5):
    """DBSCAN's ``eps`` from the knee of the sorted k-distance curve.

    The distance of every point to its k-th nearest neighbour, sorted,
    rises slowly through dense regions and then sharply into the noise; the
    knee is the point farthest from the straight line between the curve's
    ends.
    """
    from sklearn.neighbors import NearestNeighbors

    z = np.asarray(z, dtype="float64").reshape(len(z), -1)
    k = min(int(k), len(z) - 1)
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(z).kneighbors(z)
    curve = np.sort(distances[:, -1])
    if curve[-1] == curve[0]:
        return float(curve[-1]) or 1e-12
    t = np.linspace(0.0, 1.0, len(curve))
    height = (curve - curve[0]) / (curve[-1] - curve[0])
    knee = int(np.argmax(t - height))  # the curve is convex: it sags below the chord
    return float(curve[knee]) or 1e-12
