"""scikit-learn style estimators: DEC, IDEC, DKM, AlternatingKMeans, DESOM, VaDE, RIM, IMSAT,
DAC.

The one place the recipe is composed (pretrain the autoencoder, K-means on
its embedding, then each method's training) and the one owner of its
defaults: the command
line, ``reproduce`` and the notebooks' quick settings all go through these
classes. They follow scikit-learn's conventions (``fit`` returns ``self``,
learned state ends in ``_``, parameters declared in
``_parameter_constraints``, so ``clone`` and ``Pipeline`` work).

>>> from deepcluster_keras import DEC  # doctest: +SKIP
>>> dec = DEC(n_clusters=10, random_state=0).fit(x)  # doctest: +SKIP
>>> dec.predict(x_new)  # doctest: +SKIP
"""

import json
import os
import time
from numbers import Integral, Real
from typing import Callable, NamedTuple

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from deepcluster_keras import autoencoders, dac, dec, imsat, kmeans_friendly, som, vade
from deepcluster_keras.dec import PREDICT_BATCH_SIZE
from deepcluster_keras.persistence import (AE_WEIGHTS_FILE, FitProgress, atomic_save,
                                           atomic_write_json, load_keras_model)
from deepcluster_keras.validation import (check_data, check_labels, check_n_samples,
                                          check_writable_dir)

__all__ = ["DEC", "IDEC", "DKM", "AlternatingKMeans", "DESOM", "VaDE", "RIM", "IMSAT", "DAC"]


#: Every estimator class by name, for ``load``.
_CLASSES = {}


class _Saved:
    """``save`` and ``load`` for the estimators: parameters and fitted
    attributes as JSON, labels as ``.npz``, models as ``.keras``; no pickle."""

    #: Fitted attributes written as JSON, and a method's own.
    _saved_attributes = ("n_features_in", "history", "seconds")
    _training_attributes = ()
    #: Fitted arrays written to labels.npz.
    _label_arrays = ("labels",)
    #: Whether ``autoencoder_`` is saved beside ``model_`` (else the model holds it).
    _saves_autoencoder = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _CLASSES[cls.__name__] = cls

    def save(self, folder):
        """Save to ``folder``: parameters and history as JSON, models as ``.keras``."""
        check_is_fitted(self, "model_")
        folder = check_writable_dir(folder, name="folder")
        self.model_.save(os.path.join(folder, "model.keras"))
        if self._saves_autoencoder:
            self.autoencoder_.save(os.path.join(folder, "autoencoder.keras"))
        np.savez(os.path.join(folder, "labels.npz"),
                 **{name: getattr(self, name + "_") for name in self._label_arrays})
        params = self.get_params()
        if not isinstance(params["random_state"], (Integral, type(None))):
            params["random_state"] = None  # a RandomState has no JSON form
        atomic_write_json(os.path.join(folder, "estimator.json"), {
            "class": type(self).__name__,
            "params": params,
            **{name: getattr(self, name + "_")
               for name in self._saved_attributes + self._training_attributes},
        })
        return folder

    @classmethod
    def load(cls, folder):
        """Load an estimator written by :meth:`save`; it predicts identically."""
        path = os.path.join(os.fspath(folder), "estimator.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"No saved estimator in folder={os.fspath(folder)!r}: expected "
                "estimator.json there, written by the estimator's save(folder)."
            )
        with open(path) as f:
            state = json.load(f)
        # JSON gives tuples (``hidden``) back as lists.
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in state["params"].items()}
        estimator = _CLASSES[state["class"]](**params)
        if not isinstance(estimator, cls):
            raise TypeError(f"{folder!r} holds a {state['class']}, not a {cls.__name__}.")
        estimator._set_model(load_keras_model(os.path.join(folder, "model.keras"), compile=False))
        if estimator._saves_autoencoder:
            estimator.autoencoder_ = load_keras_model(os.path.join(folder, "autoencoder.keras"),
                                                      compile=False)
        with np.load(os.path.join(folder, "labels.npz"), allow_pickle=False) as labels:
            for name in estimator._label_arrays:
                setattr(estimator, name + "_", labels[name])
        for name in estimator._saved_attributes + estimator._training_attributes:
            setattr(estimator, name + "_", state[name])
        return estimator


def _seed_everything(random_state):
    """The int seed of a fit: ``random_state`` itself, or drawn from a
    RandomState; it seeds Python, NumPy and the Keras backend. None keeps
    fresh randomness, and draws one seed for the stages that take one."""
    if random_state is None:
        return int(np.random.randint(2**31 - 1))
    seed = random_state
    if not isinstance(seed, Integral):
        seed = int(check_random_state(seed).randint(2**31 - 1))
    keras.utils.set_random_seed(seed)
    return seed


class _Start(NamedTuple):
    """What ``_start`` gives a method's training."""

    X: np.ndarray
    y: np.ndarray
    seed: int
    autoencoder: keras.Model
    encoder: keras.Model
    centres: np.ndarray
    embedding: np.ndarray
    progress: FitProgress
    say: Callable


class _AutoencoderClustering(_Saved, ClusterMixin, TransformerMixin, BaseEstimator):
    """What the methods share: the autoencoder, its pretraining (or
    ``ae_weights``), K-means on the embedding, checkpoints, save and load.
    A subclass trains from there in ``fit`` and says how it predicts."""

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 2, None, closed="left")],
        "autoencoder": [StrOptions({"dense", "conv"})],
        "ae_weights": [str, os.PathLike, None],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "pretrain_optimizer": [StrOptions({"sgd", "adam"}), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions({"sgd", "adam"})],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "checkpoint_dir": [str, os.PathLike, None],
    }

    _saved_attributes = ("n_features_in", "history", "pretrain", "seconds")
    _label_arrays = ("labels", "kmeans_labels")

    def pretrain_optimizer_name(self):
        """``pretrain_optimizer`` with None resolved for the autoencoder."""
        if self.pretrain_optimizer is not None:
            return self.pretrain_optimizer
        return "adam" if self.autoencoder == "conv" else "sgd"

    def _check_x(self, X, reset):
        X = check_data(X, name="X", image_shaped=self.autoencoder == "conv")
        if self.autoencoder == "dense" and X.ndim > 2:
            X = X.reshape(len(X), -1)
        return validate_data(self, X, reset=reset, allow_nd=True, dtype="float32")

    def _start(self, X, y):
        """What every method does first: check the data, seed, pretrain the
        autoencoder (or load it), and K-means on its embedding."""
        X = self._check_x(X, reset=True)
        y = check_labels(y, len(X))
        check_n_samples(len(X), self.n_clusters)
        if self.ae_weights is not None and not os.path.isfile(self.ae_weights):
            raise FileNotFoundError(
                f"No weights file at ae_weights={os.fspath(self.ae_weights)!r}: give the path of "
                f"an '{AE_WEIGHTS_FILE}' written by an earlier run, or leave it out to pretrain.")
        say = print if self.verbose else (lambda *a, **k: None)
        seed = _seed_everything(self.random_state)
        self.seconds_ = {}
        ae, encoder = self._build_autoencoder(X)
        progress = None if self.checkpoint_dir is None else FitProgress(self, X)
        self.pretrain_ = self._pretrained(ae, X, progress, say)
        self.seconds_["pretrain"] = self.pretrain_["seconds"]

        say(f"K-means (n_init={self.n_init}) on the embedding")
        start = time.perf_counter()
        z = encoder.predict(X, batch_size=PREDICT_BATCH_SIZE, verbose=0)
        centres, self.kmeans_labels_ = dec.kmeans_centres(z, self.n_clusters, n_init=self.n_init,
                                                          random_state=seed)
        self.seconds_["kmeans"] = time.perf_counter() - start

        return _Start(X, y, seed, ae, encoder, centres, z, progress, say)

    def _build_autoencoder(self, X):
        """The tutorial's autoencoder with ``X``'s input size."""
        if self.autoencoder == "conv":
            return autoencoders.conv_autoencoder(input_shape=X.shape[1:])
        return autoencoders.autoencoder((X.shape[1],) + tuple(autoencoders.DEC_DIMS[1:]))

    def _pretrained(self, ae, X, progress, say):
        """Load ``ae_weights`` or the checkpointed weights, or pretrain."""
        if self.ae_weights is not None:
            say(f"Autoencoder: loading {self.ae_weights}")
            autoencoders.load_autoencoder_weights(ae, self.ae_weights)
            return {"loaded_from": os.path.abspath(self.ae_weights), "seconds": 0.0}
        if progress is not None and progress.pretrained():
            say(f"Autoencoder: loading the pretrained weights in {progress.directory}")
            return progress.load_pretrained(ae)
        say(f"Autoencoder: pretraining {self.pretrain_epochs} epochs")
        callbacks = [dec.EpochProgress(self.pretrain_epochs)] if self.verbose == 1 else []
        info = dec.pretrain(
            ae, X, optimizer=dec.pretrain_optimizer(self.pretrain_optimizer_name()),
            epochs=self.pretrain_epochs, batch_size=self.batch_size,
            verbose=2 if self.verbose >= 2 else 0, callbacks=callbacks,
            checkpoint_dir=None if progress is None else progress.directory)
        if progress is not None:
            progress.save_pretrained(ae, info)
        return info

    def _finish(self, start, model, training):
        """Keep what the training gave (``training.labels``, ``.history``)."""
        if start.progress is not None:
            start.progress.remove()
        self.seconds_["training"] = training.seconds
        self.autoencoder_ = start.autoencoder
        self._set_model(model)
        self.labels_ = training.labels
        self.history_ = training.history

    def training_record(self):
        """The training's history and counters, as ``reproduce`` and ``run`` record them."""
        check_is_fitted(self, "history_")
        return {"history": self.history_,
                **{name: getattr(self, name + "_") for name in self._training_attributes}}

    def transform(self, X):
        """The embedding, ndarray of shape (n_samples, n_embedding)."""
        check_is_fitted(self, "model_")
        X = self._check_x(X, reset=False)
        return self.encoder_.predict(X, batch_size=PREDICT_BATCH_SIZE, verbose=0)

    def save_autoencoder_weights(self, path):
        """Write the pretrained autoencoder's weights (``.weights.h5``), for
        ``ae_weights=`` of another estimator."""
        check_is_fitted(self, "autoencoder_")
        atomic_save(os.fspath(path), self.autoencoder_.save_weights)
        return path


class DEC(_AutoencoderClustering):
    """Deep Embedded Clustering (Xie et al., 2016) as an estimator.

    ``fit`` runs the DEC tutorial's recipe: pretrain the autoencoder on
    reconstruction, K-means on its embedding for the first centres, then
    self-train encoder and centres on KL(P || Q). The defaults are the
    tutorial's.

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
        autoencoder.
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
        maxiter=8000,
        update_interval=140,
        tol=0.001,
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
        self.maxiter = maxiter
        self.update_interval = update_interval
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir

    #: Whether self-training keeps the decoder (IDEC).
    _joint = False

    def _self_train_kwargs(self):
        return {}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Pretrain (or load ``ae_weights``), initialise with K-means, self-train.

        ``y`` is not used for training; when given, ``history_`` records
        ACC / NMI / ARI at each target update.
        """
        start = self._start(X, y)
        model = dec.build_clustering_model(
            start.encoder, self.n_clusters, centres=start.centres, alpha=self.alpha,
            autoencoder=start.autoencoder if self._joint else None)
        if self.maxiter:
            start.say(f"{type(self).__name__} self-training (maxiter={self.maxiter}, "
                      f"update_interval={self.update_interval})")
        training = dec.self_train(
            model, start.X, start.y, y_pred_init=self.kmeans_labels_, maxiter=self.maxiter,
            update_interval=self.update_interval, tol=self.tol, batch_size=self.batch_size,
            optimizer=dec.clustering_optimizer(self.optimizer), verbose=min(self.verbose, 2),
            checkpoint_dir=None if start.progress is None else start.progress.self_training,
            **self._self_train_kwargs())
        self._finish(start, model, training)
        self.n_iter_ = training.n_iter
        self.converged_ = training.converged
        return self

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
        maxiter=8000,
        update_interval=140,
        tol=0.001,
        gamma=0.1,
        verbose=0,
        random_state=None,
        checkpoint_dir=None,
    ):
        super().__init__(
            n_clusters, autoencoder=autoencoder, ae_weights=ae_weights,
            pretrain_epochs=pretrain_epochs, pretrain_optimizer=pretrain_optimizer,
            batch_size=batch_size, n_init=n_init, alpha=alpha, optimizer=optimizer,
            maxiter=maxiter, update_interval=update_interval, tol=tol, verbose=verbose,
            random_state=random_state, checkpoint_dir=checkpoint_dir,
        )
        self.gamma = gamma

    def _self_train_kwargs(self):
        return {"gamma": self.gamma}


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
    def fit(self, X, y=None):
        """Pretrain (or load ``ae_weights``), K-means on the embedding, then
        fine-tune on reconstruction + the weighted cost.

        ``y`` is not used for training; when given, ``history_`` records
        ACC / NMI / ARI after every stage.
        """
        start = self._start(X, y)
        schedule, epochs_per_stage, reset = self._stages()
        model = self._cost_model(start, schedule, reset)
        start.say(f"{type(self).__name__}: {len(schedule)} stages of {epochs_per_stage} epoch(s)")
        training = kmeans_friendly.train(
            model, start.X, start.y, schedule=schedule, epochs_per_stage=epochs_per_stage,
            reset_centres=reset, kmeans_weight=self._cost_weight(start.X[0].size),
            optimizer=dec.pretrain_optimizer(self.optimizer or self.pretrain_optimizer_name()),
            batch_size=self.batch_size, seed=start.seed, verbose=self.verbose,
            checkpoint_dir=None if start.progress is None else start.progress.self_training,
            layer=self._cost_layer)
        self._finish(start, model, training)
        self.epochs_ = training.epochs
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


class DESOM(_KMeansFriendly):
    """A self-organising map on the embedding, trained with the autoencoder
    (DESOM: Forest, Lebbah, Azzag and Lacaille, ESANN 2019; :mod:`som`).

    After the recipe's pretraining, the map's prototypes start as a random
    sample of the embedded data; then every stage (one epoch) the
    autoencoder and the prototypes train on

        MSE reconstruction + gamma * SOM cost,

    the SOM cost (averaged over the units) with a Gaussian neighbourhood on
    the grid whose temperature decays exponentially from ``t_max`` to
    ``t_min``. Each
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
    ``gamma`` here weighs the mean over the units.

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
    _label_arrays = ("labels", "kmeans_labels", "units", "unit_clusters")
    _parameter_constraints = {
        **_AutoencoderClustering._parameter_constraints,
        "map_size": [tuple, list],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "t_max": [Interval(Real, 0, None, closed="neither")],
        "t_min": [Interval(Real, 0, None, closed="neither")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions({"sgd", "adam"}), None],
    }

    def __init__(self, n_clusters=10, *, map_size=(8, 8), autoencoder="dense", ae_weights=None,
                 pretrain_epochs=300, pretrain_optimizer=None, batch_size=256, n_init=20,
                 gamma=0.001, t_max=10.0, t_min=0.1, epochs=40, optimizer=None, verbose=0,
                 random_state=None, checkpoint_dir=None):
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
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir

    def _stages(self):
        return som.som_temperatures(self.epochs, self.t_max, self.t_min), 1, False

    def _cost_model(self, start, schedule, reset):
        rows, cols = tuple(self.map_size)
        return som.build_som_model(
            start.autoencoder, start.encoder, map_size=(rows, cols), temperature=schedule[0],
            prototypes=som.initial_prototypes(start.embedding, (rows, cols), seed=start.seed))

    def _cost_weight(self, n_features):
        # kmeans_friendly.train divides the weight by the features (its MSE's
        # mean); gamma weighs the cost's mean over the units (see the class).
        rows, cols = tuple(self.map_size)
        return self.gamma * n_features / (rows * cols)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Pretrain (or load ``ae_weights``), then train the map with the
        autoencoder and merge its units into ``n_clusters`` clusters.

        ``y`` is not used for training; when given, ``history_`` records
        ACC / NMI / ARI of the units after every stage.
        """
        rows, cols = som.check_map_size(self.map_size)
        if rows * cols < self.n_clusters:
            raise ValueError(
                f"n_clusters={self.n_clusters} should be <= the map's units, rows * cols = "
                f"{rows * cols} (map_size={tuple(self.map_size)}): use a larger map.")
        super().fit(X, y)
        self.units_ = self.labels_
        counts = np.bincount(self.units_, minlength=len(self.prototypes_))
        self.unit_clusters_ = som.merge_units(
            self.prototypes_, self.n_clusters, counts=counts, n_init=self.n_init,
            seed=self.random_state if isinstance(self.random_state, Integral) else None)
        self.labels_ = self.unit_clusters_[self.units_]
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


class VaDE(_AutoencoderClustering):
    """Variational Deep Embedding (Jiang et al., IJCAI 2017): a VAE with a
    Gaussian-mixture prior (:mod:`deepcluster_keras.vade`).

    After the recipe's pretraining and K-means, a diagonal Gaussian mixture
    fitted on the embedding (EM started from the K-means centres) gives the
    prior's ``pi``, means and variances; the pretrained encoder (its
    embedding layer now the posterior's mean, beside a new log-variance
    head) and decoder (under a sigmoid) become the VAE, trained on the
    negative ELBO with Adam. Clusters are ``argmax_c p(c | z_mean)``.

    Defaults and their sources: the network is the paper's for MNIST
    (784-500-500-2000-10, the DEC autoencoder), batch 100 and Adam with the
    rate decayed by 0.9 every 10 epochs down to 0.0002 are the paper's. Not
    the paper's: ``learning_rate=0.0002`` (the paper starts at 0.002, which
    from the recipe's SGD-pretrained autoencoder put every sample in one
    cluster within the first epoch: on digits ACC 0.77 -> 0.16, on
    MNIST-test seed 0 0.50 -> 0.115; at 0.0002 neither collapsed), and
    ``epochs=50`` (the paper's 3000 do not fit a CPU).

    Parameters
    ----------
    n_clusters, ae_weights, pretrain_epochs, pretrain_optimizer, n_init,
    verbose, random_state, checkpoint_dir : as :class:`DEC`.
    autoencoder : {"dense"}, default="dense"
        VaDE needs the dense autoencoder.
    batch_size : int, default=256
        Pretraining's (the recipe's).
    training_batch_size : int, default=100
        The VAE's, the paper's.
    epochs : int, default=50
    learning_rate : float, default=0.0002
        Adam's first rate, decayed by 0.9 every 10 epochs, not below 0.0002.

    Attributes
    ----------
    labels_, kmeans_labels_, history_ (one entry per epoch; ``smallest_cluster``
    is 0 if VaDE collapsed), pretrain_, seconds_, n_features_in_ : as :class:`DEC`.
    cluster_centers_, cluster_variances_ : ndarrays of shape (n_clusters,
        n_latent), the mixture's means and diagonal variances.
    mixture_weights_ : ndarray of shape (n_clusters,), ``pi``.
    epochs_ : int
    model_ : keras.Model, ``x -> [reconstruction, the prior's loss]``.
    encoder_ (``x -> z_mean``), autoencoder_ (``x -> reconstruction``).
    """

    _training_attributes = ("epochs",)
    _parameter_constraints = {
        **_AutoencoderClustering._parameter_constraints,
        "autoencoder": [StrOptions({"dense"})],
        "training_batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
    }
    del _parameter_constraints["optimizer"]

    def __init__(self, n_clusters=10, *, autoencoder="dense", ae_weights=None,
                 pretrain_epochs=300, pretrain_optimizer=None, batch_size=256, n_init=20,
                 training_batch_size=100, epochs=50, learning_rate=0.0002, verbose=0,
                 random_state=None, checkpoint_dir=None):
        self.n_clusters = n_clusters
        self.autoencoder = autoencoder
        self.ae_weights = ae_weights
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_optimizer = pretrain_optimizer
        self.batch_size = batch_size
        self.n_init = n_init
        self.training_batch_size = training_batch_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Pretrain (or load ``ae_weights``), K-means and a Gaussian mixture
        on the embedding, then train the VAE on the negative ELBO.

        ``y`` is not used for training; when given, ``history_`` records
        ACC / NMI / ARI after every epoch.
        """
        start = self._start(X, y)
        seed = start.seed
        mixture = vade.fit_mixture(start.embedding, self.n_clusters, means_init=start.centres,
                                   random_state=seed)
        model = vade.build_vade_model(start.autoencoder, start.encoder, self.n_clusters,
                                      mixture=mixture, seed=seed)
        start.say(f"VaDE: {self.epochs} epochs")
        training = vade.train(
            model, start.X, start.y, epochs=self.epochs, learning_rate_start=self.learning_rate,
            batch_size=self.training_batch_size, seed=seed, verbose=self.verbose,
            checkpoint_dir=None if start.progress is None else start.progress.self_training)
        self._finish(start, model, training)
        self.epochs_ = training.epochs
        return self

    def _set_model(self, model):
        self.model_ = model
        self._mixture = model.get_layer("mixture")
        self.encoder_ = vade.mean_encoder(model)
        self.autoencoder_ = keras.Model(model.input, model.outputs[0], name="autoencoder")
        to_numpy = keras.ops.convert_to_numpy
        self.cluster_centers_ = to_numpy(self._mixture.means)
        self.cluster_variances_ = np.exp(to_numpy(self._mixture.log_variances))
        self.mixture_weights_ = to_numpy(keras.ops.softmax(self._mixture.pi_logits))

    def predict_proba(self, X):
        """The responsibilities ``p(c | z_mean)``, shape (n_samples, n_clusters)."""
        return keras.ops.convert_to_numpy(self._mixture.responsibilities(self.transform(X)))

    def predict(self, X):
        """The most likely cluster of each sample."""
        return self.predict_proba(X).argmax(1)


class _InformationClustering(_Saved, ClusterMixin, BaseEstimator):
    """A softmax network trained on the raw data (:mod:`imsat`, :mod:`dac`): no autoencoder."""

    _training_attributes = ("epochs",)
    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 2, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "checkpoint_dir": [str, os.PathLike, None],
    }

    def _check_x(self, X, reset):
        X = check_data(X, name="X")
        return validate_data(self, X.reshape(len(X), -1), reset=reset, dtype="float32")

    def _model(self, n_features, seed):
        raise NotImplementedError

    def _train_kwargs(self, X):
        return {}

    def _train(self, model, X, y, seed, checkpoint_dir):
        """Train ``model``; RIM and IMSAT by :func:`imsat.train`."""
        return imsat.train(model, X, y, epochs=self.epochs, batch_size=self.batch_size, seed=seed,
                           verbose=self.verbose, checkpoint_dir=checkpoint_dir,
                           **self._train_kwargs(X))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the network; ``y`` is not used for training, only to
        record ACC / NMI / ARI per epoch in ``history_``."""
        X = self._check_x(X, reset=True)
        y = check_labels(y, len(X))
        check_n_samples(len(X), self.n_clusters)
        seed = _seed_everything(self.random_state)
        progress = None if self.checkpoint_dir is None else FitProgress(self, X)
        model = self._model(X.shape[1:], seed)
        start = time.perf_counter()
        training = self._train(model, X, y, seed,
                               None if progress is None else progress.self_training)
        if progress is not None:
            progress.remove()
        seconds = time.perf_counter() - start
        # IMSAT's setup (the nearest-neighbour distances) is what train did not time.
        self.seconds_ = {"setup": seconds - training.seconds, "training": training.seconds}
        self._set_model(model if len(model.inputs) == 1 else model.get_layer("softmax_net"))
        self.labels_, self.history_ = training.labels, training.history
        self.epochs_ = training.epochs
        return self

    def _set_model(self, model):
        self.model_ = model

    def training_record(self):
        """The training's history and epochs, as ``reproduce`` and ``run`` record them."""
        check_is_fitted(self, "history_")
        return {"history": self.history_, "epochs": self.epochs_}

    def predict_proba(self, X):
        """``p(y | x)``, ndarray of shape (n_samples, n_clusters)."""
        check_is_fitted(self, "model_")
        X = self._check_x(X, reset=False)
        return self.model_.predict(X, batch_size=PREDICT_BATCH_SIZE, verbose=0)

    def predict(self, X):
        """The most likely cluster of each sample."""
        return self.predict_proba(X).argmax(1)


def _check_hidden(hidden):
    """RIM's and IMSAT's hidden layer sizes."""
    if not all(isinstance(u, Integral) and u >= 1 for u in hidden):
        raise ValueError("Received an invalid value for `hidden`, expected layer sizes >= 1. "
                         f"Received: hidden={hidden!r}")
    return tuple(hidden)


class RIM(_InformationClustering):
    """Regularised information maximisation (Krause, Perona and Gomes, 2010).

    A softmax model ``p(y | x)`` trained on ``-(H(Y) - H(Y | X))`` over each
    batch plus ``weight_decay * ||W||^2``: balanced, confident clusters.

    Parameters
    ----------
    n_clusters : int >= 2, default=10
    hidden : tuple of int, default=()
        Hidden layer sizes; () is the paper's multinomial logistic model.
    weight_decay : float >= 0, default=1e-4
        The paper's c; its value for MNIST is not given there, 1e-4 is ours.
    epochs : int, default=50
    batch_size : int, default=250
    learning_rate : float, default=0.002
        Adam's; epochs, batch size and optimizer are IMSAT's, for comparison.
    verbose, random_state, checkpoint_dir : as :class:`DEC`.

    Attributes
    ----------
    labels_, history_ (per epoch), epochs_, seconds_, n_features_in_,
    model_ (the softmax network).
    """

    _parameter_constraints = {**_InformationClustering._parameter_constraints,
                              "hidden": [tuple, list],
                              "weight_decay": [Interval(Real, 0, None, closed="left")]}

    def __init__(self, n_clusters=10, *, hidden=(), weight_decay=1e-4, epochs=50, batch_size=250,
                 learning_rate=0.002, verbose=0, random_state=None, checkpoint_dir=None):
        self.n_clusters = n_clusters
        self.hidden = hidden
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir

    def _model(self, shape, seed):
        model = imsat.build_softmax_model(shape[0], self.n_clusters, _check_hidden(self.hidden),
                                          batch_norm=False, weight_decay=self.weight_decay,
                                          seed=seed)
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                      loss=imsat.information_loss(mu=1.0, weight=1.0))
        return model


class IMSAT(_InformationClustering):
    """Information maximisation with self-augmented training (Hu et al., 2017).

    An MLP ``p(y | x)`` (784-1200-1200-10, batch normalisation, ReLU)
    trained on ``lam * (H(Y | X) - mu * H(Y)) + KL(p(y | x) || p(y | x + r))``,
    ``r`` a perturbation of norm ``eps_scale`` times the distance to the
    ``n_neighbors``-th nearest neighbour: random (RPT) or adversarial (VAT,
    one power iteration with ``xi``). The defaults are the paper's for MNIST.

    Parameters
    ----------
    n_clusters : int >= 2, default=10
    hidden : tuple of int, default=(1200, 1200)
    augmentation : {"vat", "rpt"}, default="vat"
    lam : float > 0, default=0.1
    mu : float > 0, default=4.0
        The weight of the marginal entropy H(Y).
    xi : float > 0, default=10.0
    eps_scale : float > 0, default=0.25
    n_neighbors : int >= 1, default=10
    epochs : int, default=50
    batch_size : int, default=250
    learning_rate : float, default=0.002
        Adam's.
    verbose, random_state, checkpoint_dir : as :class:`DEC`.

    Attributes
    ----------
    As :class:`RIM`; VAT's perturbation is computed with the network in
    inference mode (batch normalisation with its moving statistics).
    """

    _parameter_constraints = {
        **_InformationClustering._parameter_constraints,
        "hidden": [tuple, list],
        "augmentation": [StrOptions({"vat", "rpt"})],
        "lam": [Interval(Real, 0, None, closed="neither")],
        "mu": [Interval(Real, 0, None, closed="neither")],
        "xi": [Interval(Real, 0, None, closed="neither")],
        "eps_scale": [Interval(Real, 0, None, closed="neither")],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_clusters=10, *, hidden=(1200, 1200), augmentation="vat", lam=0.1, mu=4.0,
                 xi=10.0, eps_scale=0.25, n_neighbors=10, epochs=50, batch_size=250,
                 learning_rate=0.002, verbose=0, random_state=None, checkpoint_dir=None):
        self.n_clusters = n_clusters
        self.hidden = hidden
        self.augmentation = augmentation
        self.lam = lam
        self.mu = mu
        self.xi = xi
        self.eps_scale = eps_scale
        self.n_neighbors = n_neighbors
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir

    def _model(self, shape, seed):
        model = imsat.build_softmax_model(shape[0], self.n_clusters, _check_hidden(self.hidden),
                                          perturbed_input=True, seed=seed)
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                      loss=[imsat.information_loss(mu=self.mu, weight=self.lam), "kld"])
        return model

    def _train_kwargs(self, X):
        if len(X) <= self.n_neighbors:
            raise ValueError(f"n_samples={len(X)} should be > n_neighbors={self.n_neighbors}: "
                             "give more data or lower n_neighbors.")
        return {"augmentation": self.augmentation, "xi": self.xi,
                "eps": imsat.vat_epsilon(X, self.n_neighbors, self.eps_scale)}


class DAC(_InformationClustering):
    """Deep Adaptive Clustering (Chang et al., ICCV 2017; :mod:`dac`).

    A convolutional network ``p(y | x)`` trained on pairs of images it
    labels itself: in each batch, pairs whose softmax outputs are more
    similar (cosine) than an upper threshold count as "same cluster", pairs
    less similar than a lower one as "different"; the thresholds close in
    epoch by epoch until they meet, so that more and more pairs are used.
    Batches are shifted, rotated and zoomed at random. Clusters: the argmax.

    Defaults and their sources (:mod:`dac` says more): the thresholds
    ``0.95 - lambda`` and ``0.455 + 0.1 lambda`` with ``lambda`` stepped by
    ``1.1 * 0.009`` (46 epochs until they meet), RMSprop(0.001) and batch 128
    are the paper's and its reimplementations'; the network is a lighter
    all-convolutional one than the paper's.

    Parameters
    ----------
    n_clusters : int >= 2, default=10
    image_shape : (int, int) or None, default=None
        Height and width of the images when ``X`` is flat; None: square.
        ``X`` may also be images, (n_samples, height, width[, 1]).
    epochs : int or None, default=None
        None: until the thresholds meet.
    lam_step : float > 0, default=0.0099
    batch_size : int >= 2, default=128
    learning_rate : float, default=0.001
        RMSprop's.
    verbose, random_state, checkpoint_dir : as :class:`DEC`.

    Attributes
    ----------
    labels_, history_ (per epoch: thresholds, pairs selected, loss, ACC...),
    epochs_, seconds_, n_features_in_, model_ (the network, on images).
    """

    _parameter_constraints = {
        **_InformationClustering._parameter_constraints,
        "image_shape": [tuple, list, None],
        "epochs": [Interval(Integral, 1, None, closed="left"), None],
        "lam_step": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
    }

    def __init__(self, n_clusters=10, *, image_shape=None, epochs=None, lam_step=dac.LAM_STEP,
                 batch_size=128, learning_rate=0.001, verbose=0, random_state=None,
                 checkpoint_dir=None):
        self.n_clusters = n_clusters
        self.image_shape = image_shape
        self.epochs = epochs
        self.lam_step = lam_step
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir

    def _check_x(self, X, reset):
        X = super()._check_x(X, reset)
        n_features = X.shape[1]
        if self.image_shape is not None:
            height, width = tuple(self.image_shape)
        else:
            height = width = int(round(np.sqrt(n_features)))
        if height * width != n_features:
            raise ValueError(
                f"DAC takes images: X's {n_features} features are not a "
                + ("square image" if self.image_shape is None else
                   f"{height}x{width} image (image_shape={tuple(self.image_shape)})")
                + ". Give image_shape=(height, width), or X of shape (n_samples, height, width).")
        return X.reshape(len(X), height, width, 1)

    def _model(self, shape, seed):
        return dac.build_dac_network(shape, self.n_clusters, seed=seed)

    def _train(self, model, X, y, seed, checkpoint_dir):
        return dac.train(model, X, y, epochs=self.epochs, batch_size=self.batch_size,
                         lam_step=self.lam_step, learning_rate=self.learning_rate, seed=seed,
                         verbose=self.verbose, checkpoint_dir=checkpoint_dir)
