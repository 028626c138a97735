"""DEC and IDEC: the tutorial's self-training."""

import math
from numbers import Integral, Real

import keras
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from deepcluster_keras import dec, training
from deepcluster_keras.augmentation import RandomTransform
from deepcluster_keras.training import PREDICT_BATCH_SIZE
from deepcluster_keras.estimator._base import _AutoencoderClustering
from deepcluster_keras.validation import check_data


class DEC(_AutoencoderClustering):
    """Deep Embedded Clustering (Xie et al., 2016) as an estimator.

    ``fit`` runs the DEC tutorial's recipe: pretrain the autoencoder on
    reconstruction, K-means on its embedding for the first centres, then
    self-train encoder and centres on KL(P || Q). The defaults are the
    tutorial's.

    ``X`` is an array of shape (n_samples, n_features) scaled to [0, 1], as
    the tutorial's. Images of shape (n_samples, height, width[, channels])
    are accepted too: the dense autoencoder flattens them to one row per
    image (where scikit-learn's own estimators refuse more than two
    dimensions), the convolutional one needs them.

    Parameters
    ----------
    n_clusters : int >= 2, default=10
    autoencoder : {"dense", "conv"}, default="dense"
        The tutorial's 500-500-2000-10 autoencoder, or DCEC's convolutional
        one (then ``X`` must be images, (n_samples, height, width[, channels])).
    ae_weights : str or None, default=None
        Start from these pretrained autoencoder weights (a
        ``.weights.h5`` file, e.g. one ``save_autoencoder_weights`` wrote)
        instead of pretraining: several methods can then share one
        autoencoder. Weights pretrained for another output (the sigmoid of
        ``VaDE(pretraining="sigmoid")``) are refused with a ``ValueError``.
    pretrain_epochs : int, default=300
    pretrain_optimizer : {"sgd", "adam"} or None, default=None
        None: "sgd", SGD(1.0, momentum 0.9) as the DEC tutorial, for the
        dense autoencoder; "adam" as DCEC for the convolutional one.
    batch_size : int, default=256
        Pretraining's and self-training's.
    n_init : int, default=20
        K-means restarts for the initial centres.
    alpha : float, default=1.0
        Degrees of freedom of the Student's t kernel.
    optimizer : {"sgd", "adam"}, default="sgd"
        Self-training's optimizer: SGD(0.01, momentum 0.9) as the DEC
        tutorial, or Adam as the IDEC code for MNIST and DCEC.
    learning_rate : float or None, default=None
        Self-training's learning rate; None: the optimizer's above (0.01,
        Adam's 0.001). FcIDEC-DA as its authors ran it is
        ``IDEC(augment=True, learning_rate=1.0)``: SGD(1.0, momentum 0.9).
    maxiter : int, default=8000
        Most self-training batches. 0 stops after the K-means initialisation
        (``labels_`` are then the nearest centres: AE + K-means).
    update_interval : int, default=140
        Batches between target-distribution updates.
    tol : float in [0, 1), default=0.001
        Stop when fewer than this fraction of labels change between updates.
    verbose : int, default=0
        0 silent; 1 a line per stage, one every 10 pretraining epochs and one
        per target update (a progress bar in a terminal); 2 Keras' line per
        pretraining epoch.
    random_state : int, RandomState instance or None, default=None
        An int seeds Python, NumPy and the Keras backend (globally, as
        ``keras.utils.set_random_seed`` does) and K-means: the same int gives
        the same fit on the same machine and thread count. None: fresh
        randomness.
    augment : bool, default=False
        DEC-DA (Guo et al., 2018): pretrain and self-train on randomly
        shifted (up to 10% of the width and height) and rotated (up to 10
        degrees) copies of the images, drawn anew for every batch
        (:class:`~deepcluster_keras.augmentation.RandomTransform`); the
        target P is still computed on the clean images, and ``predict`` sees
        them clean. Rows of the dense autoencoder are taken as square gray
        images (784 = 28 x 28), or pass images. DEC-DA's own settings are
        ``pretrain_epochs=500, maxiter=20000`` (``update_interval=30`` on
        small sets); False: the tutorial's clean batches.
    checkpoint_dir : str or None, default=None
        Folder where ``fit`` keeps its progress: pretraining every 10
        epochs, the pretrained weights, self-training every fifth target
        update. A ``fit`` interrupted (Ctrl-C, a lost session) and called
        again with the same data and parameters continues where it was
        saved; a folder holding another fit's progress is refused. Emptied
        when ``fit`` finishes. Give each estimator its own folder.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
    kmeans_labels_ : ndarray of shape (n_samples,)
        K-means on the pretrained embedding (AE + K-means), self-training's start.
    cluster_centers_ : ndarray of shape (n_clusters, n_embedding)
        Centres in the embedding space (see ``transform``).
    n_iter_ : int, self-training batches run.
    converged_ : bool, whether self-training stopped on ``tol``.
    history_ : dict of lists, one entry per target update.
    pretrain_ : dict, pretraining's losses, seed and timing (or where the
        weights were loaded from).
    seconds_ : dict, wall time of each stage.
    n_features_in_ : int
    model_, encoder_, autoencoder_ : the Keras models.
    """

    _parameter_constraints = {
        **_AutoencoderClustering._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "maxiter": [Interval(Integral, 0, None, closed="left")],
        "update_interval": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, 1, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "augment": ["boolean"],
    }
    _training_attributes = ("n_iter", "converged")
    _saves_autoencoder = True

    def __init__(
        self,
        n_clusters=10,
        *,
        autoencoder="dense",
        ae_weights=None,
        pretrain_epochs=300,
        pretrain_optimizer=None,
        batch_size=256,
        n_init=20,
        alpha=1.0,
        optimizer="sgd",
        learning_rate=None,
        maxiter=8000,
        update_interval=140,
        tol=0.001,
        augment=False,
        verbose=0,
        random_state=None,
        checkpoint_dir=None,
    ):
        self.n_clusters = n_clusters
        self.autoencoder = autoencoder
        self.ae_weights = ae_weights
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_optimizer = pretrain_optimizer
        self.batch_size = batch_size
        self.n_init = n_init
        self.alpha = alpha
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.maxiter = maxiter
        self.update_interval = update_interval
        self.tol = tol
        self.augment = augment
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir

    #: Whether self-training keeps the decoder (IDEC).
    _joint = False

    def _self_train_kwargs(self):
        return {}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, callbacks=None):
        """Pretrain (or load ``ae_weights``), initialise with K-means, self-train.

        ``y`` is not used for training; when given, ``history_`` records
        ACC / NMI / ARI at each target update. ``callbacks``: Keras
        callbacks of the self-training (see :func:`~deepcluster_keras.dec.self_train`:
        one call after every batch, one at every target update).
        """
        if self.augment:
            X = check_data(X, name="X", image_shaped=self.autoencoder == "conv")
            self._image_shape = _image_shape(X, self.autoencoder)
        start = self._start(X, y)
        model = dec.build_clustering_model(
            start.encoder, self.n_clusters, centres=start.centres, alpha=self.alpha,
            autoencoder=start.autoencoder if self._joint else None)
        if self.maxiter:
            start.say(f"{type(self).__name__} self-training (maxiter={self.maxiter}, "
                      f"update_interval={self.update_interval})")
        result = dec.self_train(
            model, start.X, start.y, y_pred_init=self.kmeans_labels_, maxiter=self.maxiter,
            update_interval=self.update_interval, tol=self.tol, batch_size=self.batch_size,
            optimizer=training.clustering_optimizer(self.optimizer, self.learning_rate),
            verbose=min(self.verbose, 2),
            checkpoint_dir=None if start.progress is None else start.progress.self_training,
            augmentation=self._augmentation(start.X, start.seed, "self-training"),
            callbacks=callbacks, **self._self_train_kwargs())
        self._finish(start, model, result)
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        return self

    def _augmentation(self, X, seed, stage):
        if not self.augment:
            return None
        # Each stage its own draws, from the fit's seed.
        return RandomTransform(self._image_shape, seed=(seed + (stage == "self-training")) % 2**31,
                               name="random_transform")

    def _set_model(self, model):
        self.model_ = model
        clustering = model.get_layer("clustering")
        self.encoder_ = keras.Model(model.input, clustering.input, name="encoder")
        self._q_model = keras.Model(model.input, model.outputs[0])
        self.cluster_centers_ = clustering.get_weights()[0]

    def predict_proba(self, X):
        """Soft assignments q, ndarray of shape (n_samples, n_clusters)."""
        check_is_fitted(self, "model_")
        X = self._check_x(X, reset=False)
        return self._q_model.predict(X, batch_size=PREDICT_BATCH_SIZE, verbose=0)

    def predict(self, X):
        """The most likely cluster of each sample."""
        return self.predict_proba(X).argmax(1)


def _image_shape(X, autoencoder):
    """The shape of one image of ``X`` as ``RandomTransform`` takes it: None
    for images (the convolutional autoencoder's input), (height, width, 1) for
    rows of the dense one (given as images, or as square gray images)."""
    shape = X.shape[1:]
    if autoencoder == "conv":
        return None
    if len(shape) > 1:
        return tuple(shape) + (1,) * (len(shape) == 2)
    side = math.isqrt(int(shape[0]))
    if side * side != shape[0]:
        raise ValueError(
            f"augment=True shifts and rotates images, but X has {shape[0]} "
            "features per row, not a square number of pixels: pass X as images, of shape "
            "(n_samples, height, width[, channels]), or use augment=False.")
    return (side, side, 1)


class IDEC(DEC):
    """Improved DEC (Guo et al., 2017): self-training keeps the decoder.

    The clustering model outputs ``[q, reconstruction]`` and minimises
    ``gamma * KL(P || Q) + MSE``, so the embedding keeps what it needs to
    reconstruct the data. Parameters as :class:`DEC`, plus ``gamma``
    (default 0.1).
    """

    _joint = True
    _parameter_constraints = {**DEC._parameter_constraints,
                              "gamma": [Interval(Real, 0, None, closed="neither")]}

    def __init__(
        self,
        n_clusters=10,
        *,
        autoencoder="dense",
        ae_weights=None,
        pretrain_epochs=300,
        pretrain_optimizer=None,
        batch_size=256,
        n_init=20,
        alpha=1.0,
        optimizer="sgd",
        learning_rate=None,
        maxiter=8000,
        update_interval=140,
        tol=0.001,
        gamma=0.1,
        augment=False,
        verbose=0,
        random_state=None,
        checkpoint_dir=None,
    ):
        super().__init__(
            n_clusters, autoencoder=autoencoder, ae_weights=ae_weights,
            pretrain_epochs=pretrain_epochs, pretrain_optimizer=pretrain_optimizer,
            batch_size=batch_size, n_init=n_init, alpha=alpha, optimizer=optimizer,
            learning_rate=learning_rate, maxiter=maxiter, update_interval=update_interval, tol=tol,
            augment=augment,
            verbose=verbose,
            random_state=random_state, checkpoint_dir=checkpoint_dir,
        )
        self.gamma = gamma

    def _self_train_kwargs(self):
        return {"gamma": self.gamma}
