"""DKM and the alternating scheme: fine-tuning for a K-means-friendly embedding."""

from numbers import Integral, Real

import keras
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from deepcluster_keras import kmeans_friendly, training
from deepcluster_keras.estimator._base import _AutoencoderClustering


class _KMeansFriendly(_AutoencoderClustering):
    """Fine-tuning on reconstruction + a cost of the embedding's distances
    to centres (:mod:`kmeans_friendly`; :class:`DESOM`'s map's prototypes)."""

    _training_attributes = ("epochs",)
    _saves_autoencoder = False  # the model holds it: its first output
    #: The layer of the cost, whose ``clusters`` are the centres.
    _cost_layer = "kmeans"

    def _stages(self):
        """``(schedule, epochs_per_stage, reset_centres)`` of :func:`kmeans_friendly.train`."""
        raise NotImplementedError

    def _cost_model(self, start, schedule, reset):
        """The autoencoder with the cost on its embedding."""
        return kmeans_friendly.build_kmeans_model(
            start.autoencoder, start.encoder, self.n_clusters, centres=start.centres,
            alpha=schedule[0], trainable_centres=not reset)

    def _cost_weight(self, n_features):
        """``kmeans_weight`` of :func:`kmeans_friendly.train`."""
        return self.kmeans_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, callbacks=None):
        """Pretrain (or load ``ae_weights``), K-means on the embedding, then
        fine-tune on reconstruction + the weighted cost.

        ``y`` is not used for training; when given, ``history_`` records
        ACC / NMI / ARI after every stage.
        ``callbacks``: Keras callbacks told of the end of every stage
        (:func:`~deepcluster_keras.training.epoch_loop`).
        """
        start = self._start(X, y)
        schedule, epochs_per_stage, reset = self._stages()
        model = self._cost_model(start, schedule, reset)
        start.say(f"{type(self).__name__}: {len(schedule)} stages of {epochs_per_stage} epoch(s)")
        result = kmeans_friendly.train(
            model, start.X, start.y, schedule=schedule, epochs_per_stage=epochs_per_stage,
            reset_centres=reset, kmeans_weight=self._cost_weight(start.X[0].size),
            optimizer=training.pretrain_optimizer(self.optimizer or self.pretrain_optimizer_name()),
            batch_size=self.batch_size, seed=start.seed, verbose=self.verbose,
            checkpoint_dir=None if start.progress is None else start.progress.self_training,
            layer=self._cost_layer, callbacks=callbacks)
        self._finish(start, model, result)
        self.epochs_ = result.epochs
        return self

    def _set_model(self, model):
        self.model_ = model
        layer = model.get_layer(self._cost_layer)
        self._layer = layer
        self.encoder_ = keras.Model(model.input, layer.input, name="encoder")
        self.autoencoder_ = keras.Model(model.input, model.outputs[0], name="autoencoder")
        self.cluster_centers_ = keras.ops.convert_to_numpy(layer.clusters)

    def predict_proba(self, X):
        """Soft assignments ``softmax(-alpha * squared distances)`` at the last
        ``alpha`` (one-hot for hard assignments), shape (n_samples, n_clusters)."""
        z = self.transform(X)
        return keras.ops.convert_to_numpy(self._layer.soft_assignments(z))

    def predict(self, X):
        """The nearest centre of each sample."""
        return kmeans_friendly.nearest_centres(self.transform(X), self.cluster_centers_)


class DKM(_KMeansFriendly):
    """Deep k-Means (Fard, Thonet and Gaussier, 2020): continuous K-means.

    After the recipe's pretraining and K-means, the autoencoder and the
    centres train together by gradient descent on

        sum of squared reconstruction errors
        + kmeans_weight * sum_k softmax_k(-alpha * ||z - mu_k||^2) ||z - mu_k||^2,

    in ``n_alphas`` stages of ``epochs_per_alpha`` epochs, each with its own
    ``alpha``; labels are the nearest centres.

    Parameters
    ----------
    n_clusters, autoencoder, ae_weights, pretrain_epochs, pretrain_optimizer,
    batch_size, n_init, verbose, random_state, checkpoint_dir : as :class:`DEC`.
    alpha : float > 0 or "annealed", default=1000.0
        The inverse temperature. A number keeps it constant, as the DKM
        authors' code does after pretraining (their "DKMp", alpha = 1000);
        "annealed" follows their schedule for a network trained from scratch
        ("DKMa", :func:`kmeans_friendly.dkm_alphas`: 0.1 rising to 28.1).
        Their code never anneals after pretraining, and here, from the
        recipe's pretrained autoencoder, the annealed start at alpha = 0.1
        (all centres nearly equally weighted) pulls the embeddings together:
        on scikit-learn's digits (30 pretraining epochs, three seeds) ACC
        fell from 0.67 (AE + K-means) to 0.24, while alpha = 1000 gave 0.71
        (``docs/kmeans-friendly.md``).
    n_alphas : int or None, default=None
        Stages: None gives the authors' 20 for a constant alpha, 40 annealed.
    epochs_per_alpha : int, default=5
        The authors' value.
    kmeans_weight : float >= 0, default=1.0
        The authors' lambda.
    optimizer : {"sgd", "adam"} or None, default=None
        The fine-tuning's optimizer. None: the one the autoencoder was
        pretrained with (``pretrain_optimizer`` resolved: the recipe's
        SGD(1.0, momentum 0.9) for the dense autoencoder, Adam for the
        convolutional one), so that fine-tuning continues its training with
        the K-means term added. "adam": Adam(0.001), the DKM authors' choice
        (their autoencoder was pretrained with Adam too); "sgd": SGD(1.0,
        momentum 0.9). Switching an SGD-pretrained embedding to Adam shakes
        it (``docs/kmeans-friendly.md``: one epoch of Adam on the
        reconstruction alone took digits' AE + K-means from 0.67 to 0.46 on
        average over three seeds).

    Attributes
    ----------
    labels_, kmeans_labels_, cluster_centers_, history_ (one entry per
    stage), pretrain_, seconds_, n_features_in_ : as :class:`DEC`.
    epochs_ : int, epochs of fine-tuning.
    model_ : keras.Model, outputs ``[reconstruction, kmeans cost]``.
    encoder_, autoencoder_ : its parts.
    """

    _parameter_constraints = {
        **_AutoencoderClustering._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="neither"), StrOptions({"annealed"})],
        "optimizer": [StrOptions({"sgd", "adam"}), None],
        "n_alphas": [Interval(Integral, 1, None, closed="left"), None],
        "epochs_per_alpha": [Interval(Integral, 1, None, closed="left")],
        "kmeans_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, n_clusters=10, *, autoencoder="dense", ae_weights=None,
                 pretrain_epochs=300, pretrain_optimizer=None, batch_size=256, n_init=20,
                 alpha=1000.0, n_alphas=None, epochs_per_alpha=5, kmeans_weight=1.0,
                 optimizer=None, verbose=0, random_state=None, checkpoint_dir=None):
        self.n_clusters = n_clusters
        self.autoencoder = autoencoder
        self.ae_weights = ae_weights
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_optimizer = pretrain_optimizer
        self.batch_size = batch_size
        self.n_init = n_init
        self.alpha = alpha
        self.n_alphas = n_alphas
        self.epochs_per_alpha = epochs_per_alpha
        self.kmeans_weight = kmeans_weight
        self.optimizer = optimizer
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir

    def alphas(self):
        """The ``alpha`` of each stage."""
        if self.alpha == "annealed":
            return kmeans_friendly.dkm_alphas(self.n_alphas or 40)
        return [float(self.alpha)] * (self.n_alphas or 20)

    def _stages(self):
        return self.alphas(), self.epochs_per_alpha, False


class AlternatingKMeans(_KMeansFriendly):
    """K-means-friendly training by alternation (Roy, 2024).

    After the recipe's pretraining and K-means, every epoch: (a) K-means on
    the current embedding, warm-started from the previous centres, sets the
    centres; (b) the autoencoder trains one epoch on

        sum of squared reconstruction errors + kmeans_weight * K-means cost,

    the centres held fixed. Labels are the last K-means' (run once more
    after the last epoch).

    What the paper gives and what was chosen here: its abstract and
    summaries describe the alternation and the re-initialisation by
    K-means after every epoch; we could not read its loss weight, epoch
    count or assignment rule, so ``kmeans_weight=1.0`` (DKM's lambda),
    ``epochs=50`` and hard assignments are our defaults; the optimizer is
    the pretraining's, for the reason given in :class:`DKM`.

    Parameters
    ----------
    n_clusters, autoencoder, ae_weights, pretrain_epochs, pretrain_optimizer,
    batch_size, n_init, verbose, random_state, checkpoint_dir : as :class:`DEC`.
    epochs : int, default=50
    kmeans_weight : float >= 0, default=1.0
        beta, the weight of the K-means cost.
    assignment : {"hard", "soft"}, default="hard"
        "hard": the cost is the squared distance to the nearest centre;
        "soft": DKM's softmax-weighted cost with inverse temperature ``alpha``.
    alpha : float > 0, default=1.0
        Only for ``assignment="soft"``.
    optimizer : {"sgd", "adam"} or None, default=None
        As :class:`DKM`.

    Attributes
    ----------
    As :class:`DKM`.
    """

    _parameter_constraints = {
        **_AutoencoderClustering._parameter_constraints,
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "kmeans_weight": [Interval(Real, 0, None, closed="left")],
        "assignment": [StrOptions({"hard", "soft"})],
        "optimizer": [StrOptions({"sgd", "adam"}), None],
        "alpha": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, n_clusters=10, *, autoencoder="dense", ae_weights=None,
                 pretrain_epochs=300, pretrain_optimizer=None, batch_size=256, n_init=20,
                 epochs=50, kmeans_weight=1.0, assignment="hard", alpha=1.0, optimizer=None,
                 verbose=0, random_state=None, checkpoint_dir=None):
        self.n_clusters = n_clusters
        self.autoencoder = autoencoder
        self.ae_weights = ae_weights
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_optimizer = pretrain_optimizer
        self.batch_size = batch_size
        self.n_init = n_init
        self.epochs = epochs
        self.kmeans_weight = kmeans_weight
        self.assignment = assignment
        self.alpha = alpha
        self.optimizer = optimizer
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir

    def _stages(self):
        alpha = None if self.assignment == "hard" else float(self.alpha)
        return [alpha] * self.epochs, 1, True
