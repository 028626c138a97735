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
        if weights is not None and not isinstance(weights, (list, tuple)):
            weights = [weights]
        if weights is not None and len(weights) != 1:
            raise ValueError(
                "Expected `weights` to hold one array, the centres of shape (n_clusters, "
                f"n_features). Received: {len(weights)} arrays")
        self.initial_weights = weights
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
        if self.initial_weights is not None:
            centres = np.asarray(self.initial_weights[0])
            if centres.shape != (self.n_clusters, n_features):
                raise ValueError(
                    "Received initial centres of the wrong shape, expected "
                    f"(n_clusters, n_features)={(self.n_clusters, n_features)}. "
                    f"Received: weights[0].shape={centres.shape}"
                )
            self.set_weights([centres])
            self.initial_weights = None

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
