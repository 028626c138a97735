"""A self-organising map on the embedding: DESOM.

A self-organising map (SOM; Kohonen, 1982, "Self-organized formation of
topologically correct feature maps") is a grid of ``rows * cols`` units,
each with a prototype ``m_u`` in the data space. A sample's best-matching
unit (BMU) is the unit of the nearest prototype; training pulls the BMU's
prototype and, less and less with the distance on the grid, its
neighbours' towards the sample, so that units close on the map end up with
close prototypes: a clustering into ``rows * cols`` small clusters whose
order on the grid shows the data's structure.

DESOM (Deep Embedded Self-Organizing Map; Forest, Lebbah, Azzag and
Lacaille, ESANN 2019, "Deep Embedded SOM: joint representation learning
and self-organization", code github.com/FlorentF9/DESOM) trains the SOM on
an autoencoder's embedding ``z``, together with the autoencoder, on

    reconstruction + gamma * sum_u h(bmu(z), u) * ||z - m_u||^2,

where the neighbourhood ``h(b, u) = exp(-d(b, u)^2 / T^2)``, with ``d``
the Manhattan distance between the units on the grid, is held constant in
each step (no gradient), and the temperature ``T`` (the neighbourhood's
radius) decays exponentially from 10 to 0.1 (:func:`som_temperatures`);
the prototypes start as a random sample of the embedded data
(:func:`initial_prototypes`). The cost is :class:`SOMLayer`'s; with ``T``
small it is the K-means cost of the prototypes, so the training is
:func:`kmeans_friendly.train` with ``layer="som"``, the schedule of
temperatures, and no K-means reset::

    model = build_som_model(autoencoder, encoder, map_size=(8, 8),
                            prototypes=initial_prototypes(z, (8, 8), seed=0))
    training = kmeans_friendly.train(model, x, schedule=som_temperatures(20),
                                     epochs_per_stage=5, reset_centres=False,
                                     kmeans_weight=gamma * n_features, layer="som")

``training.labels`` are then the BMUs. The estimator ``DESOM`` by default
holds the prototypes while the network trains (``trainable_prototypes=False``)
and sets them by Kohonen's batch step before each stage and after the last
(``reset_centres=batch_som_reset``, :func:`batch_som_step`): with the
recipe's SGD the gradient barely moved them. :func:`merge_units` groups the units
into fewer clusters (K-means on the prototypes, a usual second stage of
SOM clustering), :func:`unit_map` counts the samples and their majority
class per unit, and ``plots.plot_som_map`` / ``plots.plot_som_prototypes``
draw the map.

``kmeans_friendly.train`` weighs the cost by ``kmeans_weight / n_features``
beside the reconstruction's MSE: DESOM's ``gamma`` (0.001 in its code, next
to the MSE) is ``kmeans_weight = gamma * n_features`` there.
"""

import keras
import numpy as np
from keras import ops
from sklearn.cluster import KMeans

from deepcluster_keras.kmeans_friendly import nearest_centres
from deepcluster_keras.layers import CentresCost
from deepcluster_keras.validation import check_n_clusters, check_positive_int

__all__ = ["SOMLayer", "som_temperatures", "build_som_model", "initial_prototypes",
           "batch_som_step", "batch_som_reset", "merge_units", "unit_map", "grid_distances"]


def check_map_size(map_size):
    """``map_size`` as a pair of ints ``(rows, cols)``, each >= 1, at least 2 units."""
    try:
        rows, cols = map_size
        valid = all(not isinstance(n, bool) and isinstance(n, (int, np.integer)) and n >= 1
                    for n in (rows, cols)) and rows * cols >= 2
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(
            "Received an invalid value for `map_size`, expected a pair of integers (rows, cols), "
            f"each >= 1, with at least 2 units in all. Received: map_size={map_size!r}")
    return int(rows), int(cols)


def _check_temperature(value, name="temperature"):
    try:
        valid = not isinstance(value, bool) and np.isfinite(value) and value > 0
    except TypeError:
        valid = False
    if not valid:
        raise ValueError(f"Received an invalid value for `{name}`, expected a positive finite "
                         f"number. Received: {name}={value!r}")
    return float(value)


def grid_distances(map_size):
    """Manhattan distances between the units of a ``(rows, cols)`` map.

    Unit ``u`` sits in row ``u // cols`` and column ``u % cols``.

    Returns
    -------
    ndarray of shape (rows * cols, rows * cols), float32
    """
    rows, cols = check_map_size(map_size)
    r, c = np.divmod(np.arange(rows * cols), cols)
    return (np.abs(r[:, None] - r[None, :]) + np.abs(c[:, None] - c[None, :])).astype("float32")


@keras.saving.register_keras_serializable(package="deepcluster_keras")
class SOMLayer(CentresCost):
    """A self-organising map's cost for each embedding (DESOM).

    For an embedding ``z``, prototypes ``m_u`` (one per unit of a
    ``rows x cols`` map) and its best-matching unit
    ``b = argmin_u ||z - m_u||^2`` the layer outputs

        cost = sum_u h(b, u) * ||z - m_u||^2,   h(b, u) = exp(-d(b, u)^2 / T^2),

    where ``d(b, u) = |row_b - row_u| + |col_b - col_u|`` is the Manhattan
    distance on the map (unit ``u`` in row ``u // cols``, column
    ``u % cols``) and ``T`` the temperature, the neighbourhood's radius.
    As in DESOM (Forest et al., 2019) the weights ``h`` are constants for
    the gradient (``ops.stop_gradient``): the cost pulls every prototype
    towards the sample, its BMU's most. As ``T`` goes to 0, ``h`` becomes
    one-hot on the BMU and the cost the K-means cost ``min_u ||z - m_u||^2``.
    (DESOM's code computes the row term as ``|b - u| // cols``, which is
    off by one for some pairs of units; this is the exact distance.)

    The prototypes are the weight ``clusters``, of shape
    ``(rows * cols, n_features)``, trainable; the temperature is a
    non-trainable scalar weight ``temperature`` (:attr:`annealed`), so a
    training loop can anneal it and it is saved with the model.

    Parameters
    ----------
    map_size : (int, int), default=(8, 8)
        Rows and columns of the map, each >= 1, at least 2 units in all.
    weights : list of one ndarray of shape (rows * cols, n_features), optional
        Initial prototypes (:func:`initial_prototypes`).
    temperature : float > 0, default=10.0
        Initial temperature, DESOM's ``Tmax``.

    Attributes
    ----------
    n_clusters : int
        The number of units, ``rows * cols``.
    grid_distances : ndarray of shape (n_clusters, n_clusters)
        ``d(b, u)`` for every pair of units.

    Examples
    --------
    >>> import keras
    >>> from deepcluster_keras.som import SOMLayer
    >>> z = keras.Input(shape=(10,))
    >>> cost = SOMLayer((3, 4), name="som")(z)
    >>> tuple(cost.shape)
    (None,)
    """

    _annealed_name = "temperature"

    def __init__(self, map_size=(8, 8), weights=None, temperature=10.0, **kwargs):
        map_size = check_map_size(map_size)
        super().__init__(map_size[0] * map_size[1], weights, **kwargs)
        self.map_size = map_size
        self.initial_temperature = _check_temperature(temperature)
        self.grid_distances = grid_distances(self.map_size)

    def _initial_annealed(self):
        return self.initial_temperature

    def best_matching_units(self, inputs):
        """The unit of the nearest prototype of each sample, shape (n_samples,)."""
        return ops.argmin(self.squared_distances(inputs), axis=1)

    def neighbourhood(self, bmu, dtype=None):
        """``h(bmu, u) = exp(-d(bmu, u)^2 / T^2)``, shape (n_samples, n_units).

        1 at the BMU itself, falling with the Manhattan distance on the map.
        """
        dtype = dtype or self.compute_dtype
        distances = ops.take(ops.convert_to_tensor(self.grid_distances, dtype=dtype), bmu, axis=0)
        temperature = ops.cast(self.temperature, dtype)
        return ops.exp(-ops.square(distances) / ops.square(temperature))

    def call(self, inputs):
        distances = self.squared_distances(inputs)
        weights = self.neighbourhood(ops.argmin(distances, axis=1), dtype=distances.dtype)
        return ops.sum(ops.stop_gradient(weights) * distances, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({"map_size": list(self.map_size), "temperature": self.initial_temperature,
                       "trainable_centres": self.trainable_centres})
        return config


def som_temperatures(n_stages, t_max=10.0, t_min=0.1):
    """DESOM's exponential decay of the temperature, one value per stage.

    ``T_i = t_max * (t_min / t_max) ** (i / (n_stages - 1))`` for
    ``i = 0, ..., n_stages - 1``: from ``t_max`` to ``t_min`` (``[t_max]``
    for one stage). DESOM decays it so per iteration, from 10 to 0.1.

    Returns
    -------
    list of float

    Examples
    --------
    >>> som_temperatures(3)
    [10.0, 1.0, 0.1]
    """
    n_stages = check_positive_int(n_stages, "n_stages")
    t_max = _check_temperature(t_max, "t_max")
    t_min = _check_temperature(t_min, "t_min")
    if t_min > t_max:
        raise ValueError("Expected a decreasing temperature: t_min should be <= t_max. "
                         f"Received: t_min={t_min!r}, t_max={t_max!r}")
    if n_stages == 1:
        return [t_max]
    inner = [float(t_max * (t_min / t_max) ** (i / (n_stages - 1))) for i in range(1, n_stages - 1)]
    return [t_max, *inner, t_min]  # the ends exactly


def build_som_model(autoencoder, encoder, *, map_size, prototypes, temperature=10.0,
                    trainable_prototypes=True):
    """``autoencoder`` with a :class:`SOMLayer` (named "som") on its embedding.

    The model outputs ``[reconstruction, SOM cost]``, as
    :func:`kmeans_friendly.build_kmeans_model`'s, for
    :func:`kmeans_friendly.train` with ``layer="som"``; ``encoder`` must be
    ``autoencoder``'s encoder (its output the embedding).

    Parameters
    ----------
    map_size : (int, int)
    prototypes : ndarray of shape (rows * cols, n_embedding), the initial
        prototypes (:func:`initial_prototypes`).
    temperature : float > 0, default=10.0
    trainable_prototypes : bool, default=True
        False when :func:`batch_som_reset` sets them between epochs.
    """
    cost = SOMLayer(map_size, weights=[prototypes], temperature=temperature,
                    trainable_centres=trainable_prototypes, name="som")(encoder.output)
    return keras.Model(autoencoder.input, [autoencoder.output, cost], name="desom")


def initial_prototypes(z, map_size, seed=None):
    """DESOM's start: ``rows * cols`` samples of the embedding, without replacement.

    Parameters
    ----------
    z : ndarray of shape (n_samples, n_embedding)
    map_size : (int, int)
    seed : int or None, seed of a NumPy ``default_rng``

    Returns
    -------
    ndarray of shape (rows * cols, n_embedding), float32
    """
    rows, cols = check_map_size(map_size)
    z = np.asarray(z)
    if len(z) < rows * cols:
        raise ValueError(f"n_samples={len(z)} should be >= n_units={rows * cols} (the map's "
                         f"rows * cols, map_size={map_size!r}): use a smaller map.")
    chosen = np.random.default_rng(seed).choice(len(z), size=rows * cols, replace=False)
    return z[chosen].astype("float32")


def batch_som_step(z, prototypes, temperature, map_size):
    """Kohonen's batch SOM step: each prototype becomes the mean of the
    samples weighted by their neighbourhood ``h(bmu(z), u)`` at ``temperature``.

    ``m_u = sum_i h(b_i, u) z_i / sum_i h(b_i, u)``, with ``b_i`` the BMU of
    ``z_i`` under the current prototypes: the minimum of the SOM cost over
    the prototypes with the BMUs held. A unit that no sample reaches keeps
    its prototype. As ``temperature`` goes to 0 it is a K-means step.

    Parameters
    ----------
    z : ndarray of shape (n_samples, n_embedding)
    prototypes : ndarray of shape (rows * cols, n_embedding)
    temperature : float > 0
    map_size : (int, int)

    Returns
    -------
    prototypes : ndarray of shape (rows * cols, n_embedding), float32
    bmus : ndarray of shape (n_samples,), the BMUs the step used
    """
    z, prototypes = np.asarray(z, dtype="float64"), np.asarray(prototypes, dtype="float64")
    temperature = _check_temperature(temperature)
    bmus = nearest_centres(z, prototypes)
    weights = np.exp(-np.square(grid_distances(map_size)[bmus].astype("float64")) / temperature**2)
    total = weights.sum(0)
    reached = total > 1e-12
    updated = prototypes.copy()
    updated[reached] = (weights.T @ z)[reached] / total[reached, None]
    return updated.astype("float32"), bmus


def batch_som_reset(z, layer, seed=None):
    """:func:`batch_som_step` on a :class:`SOMLayer` at its temperature (a
    ``reset_centres`` of :func:`kmeans_friendly.train`): sets its prototypes
    and returns the BMUs under the new ones, as ``predict`` finds them."""
    prototypes, _ = batch_som_step(z, ops.convert_to_numpy(layer.clusters),
                                   float(ops.convert_to_numpy(layer.temperature)), layer.map_size)
    layer.clusters.assign(prototypes)
    return nearest_centres(np.asarray(z, dtype="float64"), prototypes.astype("float64"))


def merge_units(prototypes, n_clusters, seed=None, n_init=10, counts=None):
    """Group the map's units into ``n_clusters`` clusters by K-means on their prototypes.

    A sample's cluster is then its BMU's: ``merge_units(...)[bmus]``.

    Parameters
    ----------
    prototypes : ndarray of shape (n_units, n_features)
    n_clusters : int >= 2, at most ``n_units``
    seed : int or None, K-means' ``random_state``
    n_init : int, K-means' restarts
    counts : ndarray of shape (n_units,), optional
        Samples per unit, K-means' sample weights: a unit counts as many
        times as it holds samples, an empty one not at all. On digits (an
        8x8 map, 10 and 40 epochs) this took the merged ACC from 0.564 and
        0.461 (every unit once) to 0.677 and 0.679.

    Returns
    -------
    ndarray of shape (n_units,), the cluster of each unit
    """
    prototypes = np.asarray(prototypes)
    n_clusters = check_n_clusters(n_clusters)
    if n_clusters > len(prototypes):
        raise ValueError(
            f"n_clusters={n_clusters} should be <= n_units={len(prototypes)}: each cluster "
            "gathers whole units. Use a map with at least n_clusters units, or fewer clusters.")
    kmeans = KMeans(n_clusters, n_init=check_positive_int(n_init, "n_init"), random_state=seed)
    return kmeans.fit_predict(prototypes, sample_weight=counts)


def unit_map(bmus, y, n_units):
    """The number of samples and their majority label in each unit.

    Parameters
    ----------
    bmus : ndarray of shape (n_samples,), the best-matching unit of each sample
    y : ndarray of int of shape (n_samples,), the samples' labels (true classes)
    n_units : int

    Returns
    -------
    counts : ndarray of shape (n_units,), samples per unit
    majority : ndarray of shape (n_units,), the most frequent label of the
        unit's samples (the smallest on a tie), -1 for an empty unit

    Examples
    --------
    >>> counts, majority = unit_map([0, 0, 0, 2], [5, 5, 3, 1], 4)
    >>> counts.tolist(), majority.tolist()
    ([3, 0, 1, 0], [5, -1, 1, -1])
    """
    bmus, y = np.asarray(bmus), np.asarray(y)
    n_units = check_positive_int(n_units, "n_units")
    if bmus.shape != y.shape or bmus.ndim != 1:
        raise ValueError("Expected `bmus` and `y` of the same shape (n_samples,). "
                         f"Received: bmus.shape={bmus.shape}, y.shape={y.shape}")
    if len(bmus) and (bmus.min() < 0 or bmus.max() >= n_units):
        raise ValueError(f"Expected units in range({n_units}). Received: bmus from "
                         f"{bmus.min()} to {bmus.max()}")
    classes, index = np.unique(y, return_inverse=True)
    table = np.zeros((n_units, len(classes)), dtype="int64")
    np.add.at(table, (bmus, index.ravel()), 1)
    counts = table.sum(1)
    majority = np.where(counts > 0, classes[table.argmax(1)] if len(classes) else -1, -1)
    return counts, majority
