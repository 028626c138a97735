"""DESOM: a self-organising map on the embedding."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from deepcluster_keras import autoencoders, som
from deepcluster_keras.training import PREDICT_BATCH_SIZE
from deepcluster_keras.estimator._base import _AutoencoderClustering, _warn_if_clusters_empty
from deepcluster_keras.estimator._kmeans_friendly import _KMeansFriendly


class DESOM(_KMeansFriendly):
    """A self-organising map on the embedding, trained with the autoencoder
    (DESOM: Forest, Lebbah, Azzag and Lacaille, ESANN 2019; :mod:`som`).

    After the recipe's pretraining, the map's prototypes start as a random
    sample of the embedded data; then every stage (one epoch) the
    autoencoder trains on

        MSE reconstruction + gamma * SOM cost,

    the SOM cost (averaged over the units) with a Gaussian neighbourhood on
    the grid whose temperature decays exponentially from ``t_max`` to
    ``t_min``, and the prototypes are set by Kohonen's batch SOM step
    before each stage and after the last (``prototype_update``). Each
    sample's unit is its best-matching unit (``units_``); K-means on the
    prototypes merges the units into ``n_clusters`` clusters (``labels_``).

    Defaults and their sources: the 8x8 map, ``gamma=0.001``, ``t_max=10``,
    ``t_min=0.1`` are DESOM's for MNIST. DESOM decays the temperature every
    batch over 10,000 iterations of batch 256 (36 epochs of MNIST-70k); here
    it decays every epoch over ``epochs=40``, and the optimizer is the
    pretraining's (as :class:`DKM`'s; DESOM used Adam). DESOM's cost sums
    over the units, where it trained with Adam, which does not see the
    scale; with the recipe's SGD(1.0, momentum 0.9) that sum (64 times the
    mean on the 8x8 map) diverged on MNIST-test in the first epoch, and
    Adam put every sample into one unit within 10 epochs (ACC 0.114), so
    ``gamma`` here weighs the mean over the units. DESOM trains the
    prototypes by gradient with the network; with the recipe's SGD at this
    weight they hardly moved and the map did not order (MNIST-test seeds 0
    and 1: merged ACC 0.349 and 0.388, units' purity 0.59), and Adam
    collapsed it, so the prototypes take the batch step by default (0.685
    and 0.701, purity 0.87, every unit used; ``docs/vade-desom.md``).

    Parameters
    ----------
    n_clusters, autoencoder, ae_weights, pretrain_epochs, pretrain_optimizer,
    batch_size, n_init, verbose, random_state, checkpoint_dir : as :class:`DEC`.
    map_size : (int, int), default=(8, 8)
        Rows and columns of the map; at least ``n_clusters`` units.
    gamma : float >= 0, default=0.001
        The weight of the SOM cost's mean over the units beside the
        reconstruction's MSE.
    t_max, t_min : float > 0, default=10.0, 0.1
    epochs : int, default=40
    optimizer : {"sgd", "adam"} or None, default=None
        As :class:`DKM`.
    prototype_update : {"batch", "gradient"}, default="batch"
        "batch": the prototypes are held while the network trains an epoch,
        and set before each epoch (at its temperature) and after the last
        by Kohonen's batch SOM step (:func:`som.batch_som_step`), as the
        alternating scheme resets its centres by K-means. "gradient": they
        train with the network, as DESOM's.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,), the merged clusters.
    units_ : ndarray of shape (n_samples,), the best-matching units.
    unit_clusters_ : ndarray of shape (n_units,), each unit's cluster.
    prototypes_ : ndarray of shape (n_units, n_embedding) (also ``cluster_centers_``).
    history_ : one entry per stage; ACC / NMI / ARI there are of the units.
    kmeans_labels_, pretrain_, seconds_, n_features_in_, epochs_ : as :class:`DKM`.
    """

    _cost_layer = "som"
    _training_labels_are_clusters = False
    _label_arrays = ("labels", "kmeans_labels", "units", "unit_clusters")
    _parameter_constraints = {
        **_AutoencoderClustering._parameter_constraints,
        "map_size": [tuple, list],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "t_max": [Interval(Real, 0, None, closed="neither")],
        "t_min": [Interval(Real, 0, None, closed="neither")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions({"sgd", "adam"}), None],
        "prototype_update": [StrOptions({"gradient", "batch"})],
    }

    def __init__(self, n_clusters=10, *, map_size=(8, 8), autoencoder="dense", ae_weights=None,
                 pretrain_epochs=300, pretrain_optimizer=None, batch_size=256, n_init=20,
                 gamma=0.001, t_max=10.0, t_min=0.1, epochs=40, optimizer=None,
                 prototype_update="batch", verbose=0, random_state=None, checkpoint_dir=None):
        self.n_clusters = n_clusters
        self.map_size = map_size
        self.autoencoder = autoencoder
        self.ae_weights = ae_weights
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_optimizer = pretrain_optimizer
        self.batch_size = batch_size
        self.n_init = n_init
        self.gamma = gamma
        self.t_max = t_max
        self.t_min = t_min
        self.epochs = epochs
        self.optimizer = optimizer
        self.prototype_update = prototype_update
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir

    def _stages(self):
        reset = som.batch_som_reset if self.prototype_update == "batch" else False
        return som.som_temperatures(self.epochs, self.t_max, self.t_min), 1, reset

    def _cost_model(self, start, schedule, reset):
        rows, cols = tuple(self.map_size)
        return som.build_som_model(
            start.autoencoder, start.encoder, map_size=(rows, cols), temperature=schedule[0],
            prototypes=som.initial_prototypes(start.embedding, (rows, cols), seed=start.seed),
            trainable_prototypes=not reset)

    def _cost_weight(self, n_features):
        # kmeans_friendly.train divides the weight by the features (its MSE's
        # mean); gamma weighs the cost's mean over the units (see the class).
        rows, cols = tuple(self.map_size)
        return self.gamma * n_features / (rows * cols)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, callbacks=None):
        """Pretrain (or load ``ae_weights``), then train the map with the
        autoencoder and merge its units into ``n_clusters`` clusters.

        ``y`` is not used for training; when given, ``history_`` records
        ACC / NMI / ARI of the units after every stage.
        ``callbacks``: Keras callbacks told of the end of every stage
        (:func:`~deepcluster_keras.training.epoch_loop`).
        """
        rows, cols = som.check_map_size(self.map_size)
        if rows * cols < self.n_clusters:
            raise ValueError(
                f"n_clusters={self.n_clusters} should be <= the map's units, rows * cols = "
                f"{rows * cols} (map_size={tuple(self.map_size)}): use a larger map.")
        super().fit(X, y, callbacks=callbacks)
        self.units_ = self.labels_
        counts = np.bincount(self.units_, minlength=len(self.prototypes_))
        self.unit_clusters_ = som.merge_units(
            self.prototypes_, self.n_clusters, counts=counts, n_init=self.n_init,
            seed=self.random_state if isinstance(self.random_state, Integral) else None)
        self.labels_ = self.unit_clusters_[self.units_]
        _warn_if_clusters_empty(self)
        return self

    def _set_model(self, model):
        super()._set_model(model)
        self.prototypes_ = self.cluster_centers_
        self._decoder = None

    def decode(self, Z):
        """Points of the embedding (e.g. ``prototypes_``) decoded back to
        the data space: the map as images, for ``plots.plot_som_prototypes``."""
        check_is_fitted(self, "prototypes_")
        if getattr(self, "_decoder", None) is None:
            self._decoder = autoencoders.decoder(self.autoencoder_, self.encoder_)
        return self._decoder.predict(np.asarray(Z, "float32"), batch_size=PREDICT_BATCH_SIZE,
                                     verbose=0)

    def predict_units(self, X):
        """The best-matching unit of each sample (the nearest prototype)."""
        return _KMeansFriendly.predict(self, X)

    def predict(self, X):
        """The merged cluster of each sample (its best-matching unit's)."""
        check_is_fitted(self, "unit_clusters_")
        return self.unit_clusters_[self.predict_units(X)]

    @property
    def predict_proba(self):
        """Not defined for the map (``hasattr`` says so): its assignments are hard."""
        raise AttributeError("DESOM has no predict_proba: a sample belongs to its best-matching "
                             "unit; predict_units gives it.")
