"""`ClusteringLayer`: Student's t soft assignment of embeddings to centres."""

import numpy as np
import keras
from keras import ops

from deepcluster_keras.validation import check_n_clusters


@keras.saving.register_keras_serializable(package="deepcluster_keras")
class ClusteringLayer(keras.layers.Layer):
    """Soft-assigns each embedded sample to learnable cluster centres.

    For an embedding ``z_i`` and centres ``mu_j`` the layer outputs

        q_ij = (1 + ||z_i - mu_j||^2 / alpha) ** (-(alpha + 1) / 2)

    normalised so that every row sums to 1: the Student's t kernel of DEC
    (Xie et al., 2016). The centres are the layer's only weight, of shape
    ``(n_clusters, n_features)``; they are usually initialised from
    K-means, either here (``weights=[centres]``) or later with
    ``layer.set_weights([centres])`` as the tutorial does.

    Parameters
    ----------
    n_clusters : int
        Number of clusters, at least 1.
    weights : list of one ndarray of shape (n_clusters, n_features), optional
        Initial centres (a bare array is accepted too).
    alpha : float, default=1.0
        Degrees of freedom of the Student's t distribution.
    centres_initializer : str or keras.initializers.Initializer
        Initialiser of the centres when ``weights`` is not given.

    Examples
    --------
    >>> import keras
    >>> from deepcluster_keras import ClusteringLayer
    >>> z = keras.Input(shape=(10,))
    >>> q = ClusteringLayer(3, name="clustering")(z)
    >>> tuple(q.shape)
    (None, 3)
    """

    def __init__(
        self,
        n_clusters,
        weights=None,
        alpha=1.0,
        centres_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not np.isfinite(alpha) or alpha <= 0:
            raise ValueError(
                "Received an invalid value for `alpha`, expected a positive "
                f"number. Received: alpha={alpha!r}"
            )
        self.n_clusters = check_n_clusters(n_clusters)
        self.alpha = float(alpha)
        self.centres_initializer = keras.initializers.get(centres_initializer)
        self.initial_weights = _initial_centres(weights)
        self.input_spec = keras.layers.InputSpec(ndim=2)

    def build(self, input_shape):
        n_features = input_shape[-1]
        self.input_spec = keras.layers.InputSpec(
            ndim=2, axes={-1: n_features}
        )
        self.clusters = self.add_weight(
            name="clusters",
            shape=(self.n_clusters, n_features),
            initializer=self.centres_initializer,
        )
        _assign_initial_centres(self, self.clusters)

    def call(self, inputs):
        squared_distance = ops.sum(
            ops.square(ops.expand_dims(inputs, axis=1) - self.clusters), axis=2
        )
        q = 1.0 / (1.0 + squared_distance / self.alpha)
        q = ops.power(q, (self.alpha + 1.0) / 2.0)
        return q / ops.sum(q, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_clusters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "n_clusters": self.n_clusters,
                "alpha": self.alpha,
                "centres_initializer": keras.initializers.serialize(
                    self.centres_initializer
                ),
            }
        )
        return config


class CentresCost(keras.layers.Layer):
    """The base of the layers whose output is a per-sample cost of the
    squared distances from an embedding to centres: :class:`KMeansLayer`,
    :class:`~deepcluster_keras.som.SOMLayer`.

    Weights, in this order: ``clusters`` (the centres, shape (n_clusters,
    n_features); trainable unless ``trainable_centres`` is False) and one
    non-trainable scalar a training loop anneals (:attr:`annealed`, named by
    the subclass's ``_annealed_name``: KMeansLayer's ``alpha``, SOMLayer's
    ``temperature``), saved with the model.
    """

    _annealed_name = None

    def __init__(self, n_clusters, weights=None, trainable_centres=True, **kwargs):
        super().__init__(**kwargs)
        self.n_clusters = n_clusters
        self.trainable_centres = bool(trainable_centres)
        self.initial_weights = _initial_centres(weights)
        self.input_spec = keras.layers.InputSpec(ndim=2)

    def _initial_annealed(self):
        """The annealed weight's first value."""
        raise NotImplementedError

    def build(self, input_shape):
        n_features = input_shape[-1]
        self.input_spec = keras.layers.InputSpec(ndim=2, axes={-1: n_features})
        self.clusters = self.add_weight(name="clusters", shape=(self.n_clusters, n_features),
                                        initializer="glorot_uniform",
                                        trainable=self.trainable_centres)
        setattr(self, self._annealed_name, self.add_weight(
            name=self._annealed_name, shape=(),
            initializer=keras.initializers.Constant(self._initial_annealed()), trainable=False))
        _assign_initial_centres(self, self.clusters)

    @property
    def annealed(self):
        """The weight a training loop anneals (:func:`kmeans_friendly.train`)."""
        return getattr(self, self._annealed_name)

    def squared_distances(self, inputs):
        """``||z_i - mu_k||^2``, shape (n_samples, n_clusters)."""
        return ops.sum(ops.square(ops.expand_dims(inputs, axis=1) - self.clusters), axis=2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)


@keras.saving.register_keras_serializable(package="deepcluster_keras")
class KMeansLayer(CentresCost):
    """Continuous K-means: the soft K-means cost of each embedding.

    For an embedding ``z_i``, centres ``mu_k`` and squared distances
    ``d_ik = ||z_i - mu_k||^2`` the layer outputs

        cost_i = sum_k softmax_k(-alpha * d_ik) * d_ik,

    the K-means cost with the nearest-centre ``argmin`` replaced by a
    softmax, so that it has gradients for the embedding and the centres
    (Deep k-Means, Fard, Thonet and Gaussier, 2020). The softmax is taken
    of ``-alpha * (d_ik - min_k d_ik)``, which is equal and does not
    overflow. As the inverse temperature ``alpha`` grows the cost tends to
    the K-means cost ``min_k d_ik``; ``alpha=None`` gives that hard cost.

    ``alpha`` is a non-trainable weight, so a training loop can anneal it
    (``layer.alpha.assign(a)``) and it is saved with the model. The centres
    are the layer's other weight, trainable unless ``trainable_centres=False``
    (they are then set from outside, e.g. by K-means).

    Parameters
    ----------
    n_clusters : int >= 2
    weights : list of one ndarray of shape (n_clusters, n_features), optional
        Initial centres.
    alpha : float > 0 or None, default=1.0
    trainable_centres : bool, default=True

    Methods :meth:`squared_distances` and :meth:`soft_assignments` give the
    parts of the cost for a batch of embeddings.
    """

    def __init__(self, n_clusters, weights=None, alpha=1.0, trainable_centres=True, **kwargs):
        if alpha is not None and (not np.isfinite(alpha) or alpha <= 0):
            raise ValueError(
                "Received an invalid value for `alpha`, expected a positive number, or None "
                f"for the hard K-means cost. Received: alpha={alpha!r}")
        super().__init__(check_n_clusters(n_clusters), weights, trainable_centres, **kwargs)
        self.hard = alpha is None
        self.initial_alpha = None if alpha is None else float(alpha)

    _annealed_name = "alpha"

    def _initial_annealed(self):
        return self.initial_alpha or 1.0

    def soft_assignments(self, inputs):
        """``softmax_k(-alpha * d_ik)`` (one-hot on the nearest centre when hard)."""
        return self._assignments(self.squared_distances(inputs))

    def _assignments(self, distances):
        if self.hard:
            return ops.one_hot(ops.argmin(distances, axis=1), self.n_clusters)
        return ops.softmax(-self.alpha * (distances - ops.min(distances, axis=1, keepdims=True)),
                           axis=1)

    def call(self, inputs):
        distances = self.squared_distances(inputs)
        if self.hard:
            return ops.min(distances, axis=1)
        return ops.sum(self._assignments(distances) * distances, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({"n_clusters": self.n_clusters, "alpha": self.initial_alpha,
                       "trainable_centres": self.trainable_centres})
        return config


def _initial_centres(weights):
    """``weights=`` of a layer with centres: a list of one array (or a bare array)."""
    if weights is not None and not isinstance(weights, (list, tuple)):
        weights = [weights]
    if weights is not None and len(weights) != 1:
        raise ValueError(
            "Expected `weights` to hold one array, the centres of shape (n_clusters, "
            f"n_features). Received: {len(weights)} arrays")
    return weights


def _assign_initial_centres(layer, clusters):
    """Set ``clusters`` from ``layer.initial_weights``, if given, once built."""
    if layer.initial_weights is None:
        return
    centres = np.asarray(layer.initial_weights[0])
    if centres.shape != tuple(clusters.shape):
        raise ValueError(
            "Received initial centres of the wrong shape, expected "
            f"(n_clusters, n_features)={tuple(clusters.shape)}. "
            f"Received: weights[0].shape={centres.shape}")
    clusters.assign(centres)
    layer.initial_weights = None
