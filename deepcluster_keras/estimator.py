"""scikit-learn style estimators: ``DEC`` and ``IDEC``.

They follow scikit-learn's conventions (``fit`` returns ``self``, learned
state ends in ``_``, ``get_params`` / ``set_params``, so ``clone`` and
``Pipeline`` work) and wrap the same functions as the command line.

>>> from deepcluster_keras import DEC  # doctest: +SKIP
>>> dec = DEC(n_clusters=10, pretrain_epochs=50, random_state=0).fit(x)  # doctest: +SKIP
>>> dec.predict(x_new)  # doctest: +SKIP
"""

import json
import os

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from deepcluster_keras import autoencoders, dec, pipeline
from deepcluster_keras.dec import PREDICT_BATCH_SIZE
from deepcluster_keras.io import (atomic_save, atomic_write_json, data_fingerprint, load_keras_model,
                                 read_json)
from deepcluster_keras.validation import check_data, check_writable_dir

__all__ = ["DEC", "IDEC"]


class DEC(ClusterMixin, TransformerMixin, BaseEstimator):
    """Deep Embedded Clustering (Xie et al., 2016) as an estimator.

    Parameters
    ----------
    n_clusters : int, default=10
    autoencoder : {"dense", "conv"}, default="dense"
        The tutorial's 500-500-2000-10 autoencoder, or DCEC's convolutional
        one (then ``X`` must be images, (n_samples, height, width[, channels])).
    pretrain_epochs : int, default=300
    pretrain_optimizer : {"sgd", "adam"} or None
        None: SGD(1.0, momentum 0.9) for dense as the DEC tutorial, Adam for
        conv as DCEC.
    batch_size : int, default=256
    n_init : int, default=20
        K-means restarts for the initial centres.
    alpha : float, default=1.0
        Degrees of freedom of the Student's t kernel.
    optimizer : {"sgd", "adam"}, default="sgd"
        Self-training's optimizer: SGD(0.01, momentum 0.9) as the DEC
        tutorial, or Adam as the IDEC code for MNIST and DCEC.
    maxiter, update_interval, tol : self-training's limits, as the tutorial
        (8000, 140, 0.001).
    verbose : int, default=0
    random_state : int or None
        Seeds Python, NumPy and the Keras backend (globally, as Keras does)
        and K-means.
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
    cluster_centers_ : ndarray of shape (n_clusters, n_embedding)
        Centres in the embedding space (see ``transform``).
    n_iter_ : int, self-training batches run.
    history_ : dict of lists, one entry per target update.
    model_, encoder_, autoencoder_ : the Keras models.
    """

    _joint = False

    def __init__(
        self,
        n_clusters=10,
        *,
        autoencoder="dense",
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

    def _config(self):
        config = pipeline.Config(
            autoencoder=self.autoencoder,
            n_clusters=self.n_clusters,
            seed=0 if self.random_state is None else self.random_state,
            pretrain_epochs=self.pretrain_epochs,
            pretrain_batch_size=self.batch_size,
            pretrain_optimizer=self.pretrain_optimizer,
            n_init=self.n_init,
            alpha=self.alpha,
            optimizer=self.optimizer,
            maxiter=self.maxiter,
            update_interval=self.update_interval,
            tol=self.tol,
            gamma=getattr(self, "gamma", 0.1),
            batch_size=self.batch_size,
            verbose=self.verbose,
        )
        config.validate()
        return config

    def _check_x(self, X):
        X = check_data(X, name="X", image_shaped=self.autoencoder == "conv")
        return X if self.autoencoder == "conv" else X.reshape(len(X), -1)

    def fit(self, X, y=None):
        """Pretrain, initialise with K-means and self-train on ``X``.

        ``y`` is not used for training; when given, ``history_`` records
        ACC / NMI / ARI at each target update.
        """
        config = self._config()
        X, y, _ = pipeline.prepare_data(config, X, y)  # the checks of the command line
        if self.random_state is not None:
            keras.utils.set_random_seed(self.random_state)
        ae, encoder = pipeline.build_autoencoder(config, X)
        progress = None if self.checkpoint_dir is None else _FitProgress(self, X)
        if progress is not None and progress.pretrained():
            self.pretrain_ = progress.load_pretrained(ae)
        else:
            self.pretrain_ = dec.pretrain(
                ae, X, optimizer=pipeline.pretrain_optimizer(config.pretrain_optimizer),
                epochs=self.pretrain_epochs, batch_size=self.batch_size,
                verbose=2 if self.verbose else 0,
                checkpoint_dir=None if progress is None else progress.directory,
            )
            if progress is not None:
                progress.save_pretrained(ae, self.pretrain_)
        centres, y_kmeans = dec.init_centres(encoder, X, config.n_clusters, n_init=self.n_init,
                                             random_state=self.random_state)
        model = dec.build_clustering_model(encoder, config.n_clusters, centres=centres,
                                           alpha=self.alpha, autoencoder=ae if self._joint else None)
        training = dec.self_train(model, X, y, y_pred_init=y_kmeans, maxiter=self.maxiter,
                                  update_interval=self.update_interval, tol=self.tol,
                                  batch_size=self.batch_size, verbose=2 if self.verbose else 0,
                                  optimizer=pipeline.clustering_optimizer(self.optimizer),
                                  checkpoint_dir=None if progress is None else progress.self_training,
                                  **self._self_train_kwargs())
        if progress is not None:
            progress.remove()
        self.autoencoder_ = ae
        self._set_model(model)
        self.labels_ = training.labels
        self.n_iter_ = training.n_iter
        self.history_ = training.history
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        return self

    def _self_train_kwargs(self):
        return {}

    def _set_model(self, model):
        self.model_ = model
        clustering = model.get_layer("clustering")
        self.encoder_ = keras.Model(model.input, clustering.input, name="encoder")
        self._q_model = keras.Model(model.input, model.outputs[0])
        self.cluster_centers_ = clustering.get_weights()[0]

    def predict_proba(self, X):
        """Soft assignments q, ndarray of shape (n_samples, n_clusters)."""
        check_is_fitted(self, "model_")
        return self._q_model.predict(self._check_x(X), batch_size=PREDICT_BATCH_SIZE, verbose=0)

    def predict(self, X):
        """The most likely cluster of each sample."""
        return self.predict_proba(X).argmax(1)

    def transform(self, X):
        """The embedding, ndarray of shape (n_samples, n_embedding)."""
        check_is_fitted(self, "model_")
        return self.encoder_.predict(self._check_x(X), batch_size=PREDICT_BATCH_SIZE, verbose=0)

    def save(self, folder):
        """Save to ``folder``: parameters and history as JSON, models as ``.keras``."""
        check_is_fitted(self, "model_")
        folder = check_writable_dir(folder, name="folder")
        self.model_.save(os.path.join(folder, "model.keras"))
        self.autoencoder_.save(os.path.join(folder, "autoencoder.keras"))
        np.save(os.path.join(folder, "labels.npy"), self.labels_, allow_pickle=False)
        atomic_write_json(os.path.join(folder, "estimator.json"), {
            "class": type(self).__name__,
            "params": self.get_params(),
            "n_iter": self.n_iter_,
            "n_features_in": self.n_features_in_,
            "history": self.history_,
        })
        return folder

    @classmethod
    def load(cls, folder):
        """Load an estimator written by :meth:`save`; it predicts identically."""
        path = os.path.join(os.fspath(folder), "estimator.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"No saved estimator in folder={os.fspath(folder)!r}: expected "
                "estimator.json there, written by DEC.save(folder)."
            )
        with open(path) as f:
            state = json.load(f)
        classes = {"DEC": DEC, "IDEC": IDEC}
        estimator = classes[state["class"]](**state["params"])
        if not isinstance(estimator, cls):
            raise TypeError(f"{folder!r} holds a {state['class']}, not a {cls.__name__}.")
        estimator._set_model(load_keras_model(os.path.join(folder, "model.keras"), compile=False))
        estimator.autoencoder_ = load_keras_model(os.path.join(folder, "autoencoder.keras"),
                                                  compile=False)
        estimator.labels_ = np.load(os.path.join(folder, "labels.npy"), allow_pickle=False)
        estimator.n_iter_ = state["n_iter"]
        estimator.n_features_in_ = state["n_features_in"]
        estimator.history_ = state["history"]
        return estimator


class IDEC(DEC):
    """Improved DEC (Guo et al., 2017): self-training keeps the decoder.

    The clustering model outputs ``[q, reconstruction]`` and minimises
    ``gamma * KL(P || Q) + MSE``, so the embedding keeps what it needs to
    reconstruct the data. Parameters as :class:`DEC`, plus ``gamma``
    (default 0.1).
    """

    _joint = True

    def __init__(
        self,
        n_clusters=10,
        *,
        autoencoder="dense",
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
            n_clusters, autoencoder=autoencoder, pretrain_epochs=pretrain_epochs,
            pretrain_optimizer=pretrain_optimizer, batch_size=batch_size, n_init=n_init,
            alpha=alpha, optimizer=optimizer, maxiter=maxiter, update_interval=update_interval, tol=tol,
            verbose=verbose, random_state=random_state, checkpoint_dir=checkpoint_dir,
        )
        self.gamma = gamma

    def _self_train_kwargs(self):
        return {"gamma": self.gamma}


class _FitProgress:
    """What ``fit`` keeps in ``checkpoint_dir``: a stamp naming the fit (its
    parameters and data), the pretraining checkpoints, then the pretrained
    weights, and the self-training checkpoint."""

    STAMP = "fit.json"

    def __init__(self, estimator, X):
        self.directory = check_writable_dir(estimator.checkpoint_dir, name="checkpoint_dir")
        self.stamp_path = os.path.join(self.directory, self.STAMP)
        self.weights = os.path.join(self.directory, pipeline.AE_WEIGHTS_FILE)
        self.self_training = os.path.join(self.directory, "self_training")
        params = {k: v for k, v in estimator.get_params().items()
                  if k not in ("verbose", "checkpoint_dir")}
        # As it reads back from JSON, to compare with a saved one.
        stamp = json.loads(json.dumps({"class": type(estimator).__name__, "params": params,
                                       "data": data_fingerprint(X)}))
        self.state = self._read() or {}
        if self.state:
            changed = sorted(k for k in stamp if self.state.get(k) != stamp[k])
            if changed:
                raise ValueError(
                    f"checkpoint_dir={self.directory!r} holds the progress of another fit "
                    f"({', '.join(changed)} differ). Call fit with the same data and "
                    "parameters to continue it, or use another folder (or empty this one)."
                )
        else:
            self.state = stamp
            atomic_write_json(self.stamp_path, stamp)

    def _read(self):
        return read_json(self.stamp_path)

    def pretrained(self):
        return "pretrain" in self.state and os.path.isfile(self.weights)

    def load_pretrained(self, ae):
        autoencoders.load_autoencoder_weights(ae, self.weights)
        return {**self.state["pretrain"], "loaded_from": self.weights}

    def save_pretrained(self, ae, info):
        atomic_save(self.weights, ae.save_weights)
        self.state["pretrain"] = info
        atomic_write_json(self.stamp_path, self.state)

    def remove(self):
        for path in (self.weights, self.stamp_path):
            if os.path.exists(path):
                os.remove(path)
        if not os.listdir(self.directory):
            os.rmdir(self.directory)
