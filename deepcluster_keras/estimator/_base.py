"""The base of the estimators: persistence (``save`` / ``load``), the seed, and
the recipe's start (pretraining, K-means on the embedding)."""

import json
import os
import time
import warnings
from numbers import Integral
from typing import Callable, NamedTuple

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from deepcluster_keras import autoencoders, dec, training
from deepcluster_keras.training import PREDICT_BATCH_SIZE
from deepcluster_keras.persistence import (AE_WEIGHTS_FILE, FitProgress, atomic_write_json,
                                           load_keras_model, save_autoencoder_weights)
from deepcluster_keras.validation import (check_data, check_labels, check_n_samples,
                                          check_writable_dir)

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


def _warn_if_collapsed(ae, X, source):
    """Warn when loaded weights give one output for every input of ``X``
    (pretraining checks this itself, weights written elsewhere are not
    checked there): clusters of such an embedding mean little."""
    if training.gives_one_output(ae, training.collapse_probe(X)):
        warnings.warn(
            f"The autoencoder loaded from {source} gives the same output for every input: "
            "its pretraining collapsed (see PretrainingCollapsed), so clusters found on its "
            "embedding mean little. Pretrain it again with another seed or "
            "pretrain_optimizer='adam'.", UserWarning, stacklevel=4)


def _warn_if_clusters_empty(estimator):
    """Warn when ``estimator.labels_`` use fewer than its ``n_clusters``
    clusters (a ``ConvergenceWarning``, as scikit-learn's K-means gives for
    fewer distinct clusters than asked). Seen here: DAC with a lighter
    network left four of ten empty on MNIST-test, a DKM seed one."""
    labels = np.asarray(estimator.labels_)
    used = np.unique(labels[labels >= 0])
    if len(used) >= estimator.n_clusters:
        return
    empty = sorted(set(range(estimator.n_clusters)) - set(used.tolist()))
    shown = ", ".join(map(str, empty[:10])) + (", ..." if len(empty) > 10 else "")
    warnings.warn(
        f"{type(estimator).__name__} put the {len(labels)} samples into {len(used)} of its "
        f"n_clusters={estimator.n_clusters} clusters; {len(empty)} are empty (cluster "
        f"{shown}). The labels use fewer clusters than asked: try another random_state, "
        "more pretraining or training, or a smaller n_clusters.",
        ConvergenceWarning, stacklevel=3)


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
    #: Whether the training's labels are the clusters (DESOM's are map units,
    #: merged into clusters afterwards).
    _training_labels_are_clusters = True

    #: The pretraining's loss and the autoencoder's output activation: the recipe's.
    _pretraining_loss = "mse"
    _output_activation = None

    def pretrain_optimizer_name(self):
        """``pretrain_optimizer`` with None resolved for the autoencoder."""
        if self.pretrain_optimizer is not None:
            return self.pretrain_optimizer
        return "adam" if self.autoencoder == "conv" else "sgd"

    def uses_recipe_autoencoder(self):
        """Whether the autoencoder is the recipe's (``reproduce`` then starts
        this estimator from the seed's shared weights), not one of its own."""
        return self._pretraining_loss == "mse" and self._output_activation is None

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
        self.pretrain_ = self._pretrained(ae, X, progress, say,
                                          augmentation=self._augmentation(X, seed, "pretraining"))
        self.seconds_["pretrain"] = self.pretrain_["seconds"]
        # The training goes on from these weights (DEC's trains the encoder):
        # kept for save_autoencoder_weights.
        self._pretrained_weights = (X.shape[1:], ae.get_weights())

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
        return autoencoders.autoencoder((X.shape[1],) + tuple(autoencoders.DEC_DIMS[1:]),
                                        output_activation=self._output_activation)

    def _augmentation(self, X, seed, stage):
        """The layer that transforms the batches of ``stage`` (``"pretraining"``,
        ``"self-training"``), or None: the clean data (all but DEC-DA)."""
        return None

    def _pretrained(self, ae, X, progress, say, augmentation=None):
        """Load ``ae_weights`` or the checkpointed weights, or pretrain."""
        if self.ae_weights is not None:
            say(f"Autoencoder: loading {self.ae_weights}")
            autoencoders.load_autoencoder_weights(ae, self.ae_weights)
            _warn_if_collapsed(ae, X, f"ae_weights={os.fspath(self.ae_weights)!r}")
            return {"loaded_from": os.path.abspath(self.ae_weights), "seconds": 0.0}
        if progress is not None and progress.pretrained():
            say(f"Autoencoder: loading the pretrained weights in {progress.directory}")
            info = progress.load_pretrained(ae)
            _warn_if_collapsed(ae, X, f"the checkpoint in {progress.directory}")
            return info
        say(f"Autoencoder: pretraining {self.pretrain_epochs} epochs")
        callbacks = [training.EpochProgress(self.pretrain_epochs)] if self.verbose == 1 else []
        info = training.pretrain(
            ae, X, optimizer=training.pretrain_optimizer(self.pretrain_optimizer_name()),
            loss=self._pretraining_loss, epochs=self.pretrain_epochs, batch_size=self.batch_size,
            verbose=2 if self.verbose >= 2 else 0, callbacks=callbacks,
            checkpoint_dir=None if progress is None else progress.directory,
            augmentation=augmentation)
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
        if self._training_labels_are_clusters:
            _warn_if_clusters_empty(self)

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
        """Write the pretrained autoencoder's weights (``.weights.h5``), as
        pretraining left them, before the method's training changed them:
        for ``ae_weights=`` of another estimator, which then starts where
        this one started."""
        check_is_fitted(self, "autoencoder_")
        if not hasattr(self, "_pretrained_weights"):
            raise ValueError(
                "This estimator was loaded from a folder, and save() keeps the trained model, not "
                "the pretrained autoencoder: call save_autoencoder_weights after fit, before save.")
        input_shape, weights = self._pretrained_weights
        ae, _ = self._build_autoencoder(np.zeros((1, *input_shape), "float32"))
        ae.set_weights(weights)
        return save_autoencoder_weights(ae, path)
