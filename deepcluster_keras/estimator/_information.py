"""RIM and IMSAT: softmax networks trained on the raw data, no autoencoder; and
the base they share with DAC (:mod:`deepcluster_keras.estimator._dac`)."""

import os
import time
from numbers import Integral, Real

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from deepcluster_keras import imsat
from deepcluster_keras.training import PREDICT_BATCH_SIZE
from deepcluster_keras.estimator._base import _Saved, _seed_everything, _warn_if_clusters_empty
from deepcluster_keras.persistence import FitProgress
from deepcluster_keras.validation import check_data, check_labels, check_n_samples


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

    def _train(self, model, X, y, seed, checkpoint_dir, callbacks=None):
        """Train ``model``; RIM and IMSAT by :func:`imsat.train`."""
        return imsat.train(model, X, y, epochs=self.epochs, batch_size=self.batch_size, seed=seed,
                           verbose=self.verbose, checkpoint_dir=checkpoint_dir,
                           callbacks=callbacks, **self._train_kwargs(X))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, callbacks=None):
        """Train the network; ``y`` is not used for training, only to
        record ACC / NMI / ARI per epoch in ``history_``. With ``n_init``
        restarts (RIM, IMSAT), the one with the highest final I(X; Y) on
        ``X`` is kept, as K-means keeps its lowest inertia. ``callbacks``:
        Keras callbacks told of the end of every epoch of every restart
        (:func:`~deepcluster_keras.training.epoch_loop`; not DAC's yet)."""
        X = self._check_x(X, reset=True)
        y = check_labels(y, len(X))
        check_n_samples(len(X), self.n_clusters)
        seed = _seed_everything(self.random_state)
        progress = None if self.checkpoint_dir is None else FitProgress(self, X)
        say = print if self.verbose else (lambda *a, **k: None)
        start = time.perf_counter()
        restarts = [] if progress is None else progress.restarts()
        best = max(restarts, key=lambda r: r["mutual_information"], default=None)
        net = labels = None
        if best is not None:  # restarts finished before an interruption
            net = progress.load_best_model()
            labels = net.predict(X, batch_size=PREDICT_BATCH_SIZE, verbose=0).argmax(1)
        seeds = _restart_seeds(seed, getattr(self, "n_init", 1))
        for index in range(len(restarts), len(seeds)):
            if index > 0:
                _seed_everything(seeds[index])
            if len(seeds) > 1:
                say(f"restart {index + 1} of {len(seeds)} (seed {seeds[index]})", flush=True)
            model = self._model(X.shape[1:], seeds[index])
            training = self._train(model, X, y, seeds[index], None if progress is None else
                                   progress.self_training + ("" if index == 0 else f"_{index}"),
                                   callbacks=callbacks)
            record = {"seed": seeds[index], "history": training.history,
                      "epochs": training.epochs, "seconds": training.seconds,
                      "mutual_information": _final_information(training.history)}
            restarts.append(record)
            kept = best is None or record["mutual_information"] > best["mutual_information"]
            if kept:
                best, labels = record, training.labels
                net = model if len(model.inputs) == 1 else model.get_layer("softmax_net")
            if progress is not None:
                progress.save_restart(record, net if kept else None)
        if progress is not None:
            progress.remove()
        seconds = time.perf_counter() - start
        training_seconds = sum(r["seconds"] for r in restarts)
        # IMSAT's setup (the nearest-neighbour distances) is what train did not time.
        self.seconds_ = {"setup": seconds - training_seconds, "training": training_seconds}
        self._set_model(net)
        self.labels_, self.history_, self.epochs_ = labels, best["history"], best["epochs"]
        if "restarts" in self._training_attributes:
            self.restarts_ = [{k: r[k] for k in ("seed", "mutual_information")}
                              | {k: r["history"][k][-1] for k in ("acc", "nmi", "ari")
                                 if k in r["history"]}
                              | {"kept": r is best} for r in restarts]
        _warn_if_clusters_empty(self)
        return self

    def _set_model(self, model):
        self.model_ = model

    def training_record(self):
        """The training's history and epochs (and restarts), as ``reproduce``
        and ``run`` record them."""
        check_is_fitted(self, "history_")
        return {name: getattr(self, name + "_") for name in ("history",) + self._training_attributes}

    def predict_proba(self, X):
        """``p(y | x)``, ndarray of shape (n_samples, n_clusters)."""
        check_is_fitted(self, "model_")
        X = self._check_x(X, reset=False)
        return self.model_.predict(X, batch_size=PREDICT_BATCH_SIZE, verbose=0)

    def predict(self, X):
        """The most likely cluster of each sample."""
        return self.predict_proba(X).argmax(1)


def _restart_seeds(seed, n_init):
    """The seed of each restart: the fit's own first, so that one restart is
    the fit without restarts, then seeds drawn from it."""
    drawn = np.random.default_rng(seed).integers(2**31 - 1, size=n_init - 1)
    return [int(seed)] + [int(s) for s in drawn]


def _final_information(history):
    """The last epoch's I(X; Y) on all the data; DAC's history has none (-inf)."""
    values = history.get("mutual_information") or [-np.inf]
    return float(values[-1])


def _check_hidden(hidden):
    """RIM's and IMSAT's hidden layer sizes."""
    if not all(isinstance(u, Integral) and u >= 1 for u in hidden):
        raise ValueError("Received an invalid value for `hidden`, expected layer sizes >= 1. "
                         f"Received: hidden={hidden!r}")
    return tuple(hidden)


class RIM(_InformationClustering):
    """Regularised information maximisation (Krause, Perona and Gomes, 2010),
    deep as the IMSAT paper's baseline "deep RIM" (Hu et al., 2017).

    A softmax model ``p(y | x)`` trained on ``-(H(Y) - H(Y | X))`` over each
    batch plus ``weight_decay * ||W||^2``: balanced, confident clusters. By
    default the network is :class:`IMSAT`'s (784-1200-1200-10, batch
    normalisation, ReLU, the IMSAT authors' initial kernels) without the
    self-augmentation: the IMSAT paper's deep RIM, whose code was not
    released (its table: ``published.json``).

    Parameters
    ----------
    n_clusters : int >= 2, default=10
    hidden : tuple of int, default=(1200, 1200)
        Hidden layer sizes, as :class:`IMSAT`'s network. ``()``: the 2010
        paper's multinomial logistic model (Glorot initial kernels, no batch
        normalisation), this library's RIM before it was made deep.
    weight_decay : float >= 0, default=1e-4
        The paper's c on every kernel. Neither paper gives its value for
        MNIST; 1e-4 is ours (1e-3 and 1e-2 measured beside it:
        ``docs/information.md``).
    epochs : int, default=50
    batch_size : int, default=250
    learning_rate : float, default=0.002
        Adam's; epochs, batch size and optimizer are IMSAT's, for comparison.
    n_init : int >= 1, default=1
        Trainings from different seeds (the first from ``random_state``
        itself); the one with the highest final I(X; Y) on the data is
        kept, as :class:`~sklearn.cluster.KMeans` keeps its lowest inertia.
        The papers train once.
    verbose, random_state, checkpoint_dir : as :class:`DEC`.

    Attributes
    ----------
    labels_, history_ (per epoch, of the run kept), epochs_, seconds_
    (training: all restarts), n_features_in_, model_ (the softmax network),
    restarts_ (per restart: seed, final I(X; Y), final ACC / NMI / ARI when
    ``y`` was given, and whether it was kept).
    """

    _training_attributes = ("epochs", "restarts")
    _parameter_constraints = {**_InformationClustering._parameter_constraints,
                              "hidden": [tuple, list],
                              "weight_decay": [Interval(Real, 0, None, closed="left")],
                              "n_init": [Interval(Integral, 1, None, closed="left")]}

    def __init__(self, n_clusters=10, *, hidden=(1200, 1200), weight_decay=1e-4, epochs=50,
                 batch_size=250, learning_rate=0.002, n_init=1, verbose=0, random_state=None,
                 checkpoint_dir=None):
        self.n_clusters = n_clusters
        self.hidden = hidden
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.n_init = n_init
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir

    def _model(self, shape, seed):
        hidden = _check_hidden(self.hidden)
        model = imsat.build_softmax_model(
            shape[0], self.n_clusters, hidden, weight_decay=self.weight_decay,
            kernel_scales=imsat.IMSAT_KERNEL_SCALES if hidden else None, seed=seed)
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                      loss=imsat.information_loss(mu=1.0, weight=1.0))
        return model


class IMSAT(_InformationClustering):
    """Information maximisation with self-augmented training (Hu et al., 2017).

    An MLP ``p(y | x)`` (784-1200-1200-10, batch normalisation, ReLU)
    trained on ``lam * (H(Y | X) - mu * H(Y)) + KL(p(y | x) || p(y | x + r))``,
    ``r`` a perturbation of norm ``eps_scale`` times the distance to the
    ``n_neighbors``-th nearest neighbour: random (RPT) or adversarial (VAT,
    one power iteration with ``xi``). The defaults are the paper's for MNIST,
    and where the paper is silent the authors' code's (github.com/weihua916/
    imsat, ``imsat_cluster.py``): the initial kernels
    (:data:`imsat.IMSAT_KERNEL_SCALES`: the output starts near uniform) and
    batch normalisation in VAT's passes, which run as in training but do not
    update the moving statistics (:func:`imsat.training_pass`).

    Parameters
    ----------
    n_clusters : int >= 2, default=10
    hidden : tuple of int, default=(1200, 1200)
    augmentation : {"vat", "rpt"}, default="vat"
    lam : float > 0, default=0.1
    mu : float > 0, default=4.0
        The weight of the marginal entropy H(Y).
    xi : float > 0, default=5.0
        The power iteration's step: the authors' 10 on pixels scaled to
        ``x / 128 - 1``, which is 5.0 on pixels in [0, 1] (the recipe's).
    eps_scale : float > 0, default=0.25
    n_neighbors : int >= 1, default=10
        The authors' code takes the 11th (``docs/information.md``: 0.843
        against 0.881 on MNIST-test over five seeds).
    batch_norm_epsilon : float > 0, default=1e-3
        Keras'; the authors' Chainer had 2e-5.
    batches : {"epoch", "random"}, default="epoch"
        ``"epoch"``: a fresh permutation every epoch; ``"random"``: a fresh
        random batch every step, as the authors' code
        (:func:`imsat.train`).
    epochs : int, default=50
    batch_size : int, default=250
    learning_rate : float, default=0.002
        Adam's.
    n_init : int >= 1, default=1
        As :class:`RIM`'s: restarts, the one with the highest final I(X; Y)
        kept. Of five MNIST-70k seeds (ACC 0.837-0.986) it picks the best;
        three restarts would keep 0.977 on average (``docs/information.md``).
    verbose, random_state, checkpoint_dir : as :class:`DEC`.

    Attributes
    ----------
    As :class:`RIM`.
    """

    _training_attributes = ("epochs", "restarts")
    _parameter_constraints = {
        **_InformationClustering._parameter_constraints,
        "hidden": [tuple, list],
        "augmentation": [StrOptions({"vat", "rpt"})],
        "lam": [Interval(Real, 0, None, closed="neither")],
        "mu": [Interval(Real, 0, None, closed="neither")],
        "xi": [Interval(Real, 0, None, closed="neither")],
        "eps_scale": [Interval(Real, 0, None, closed="neither")],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "batch_norm_epsilon": [Interval(Real, 0, None, closed="neither")],
        "batches": [StrOptions({"epoch", "random"})],
        "n_init": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_clusters=10, *, hidden=(1200, 1200), augmentation="vat", lam=0.1, mu=4.0,
                 xi=5.0, eps_scale=0.25, n_neighbors=10, batch_norm_epsilon=1e-3, batches="epoch",
                 epochs=50, batch_size=250, learning_rate=0.002, n_init=1, verbose=0,
                 random_state=None, checkpoint_dir=None):
        self.n_clusters = n_clusters
        self.hidden = hidden
        self.augmentation = augmentation
        self.lam = lam
        self.mu = mu
        self.xi = xi
        self.eps_scale = eps_scale
        self.n_neighbors = n_neighbors
        self.batch_norm_epsilon = batch_norm_epsilon
        self.batches = batches
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.n_init = n_init
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir

    def _model(self, shape, seed):
        model = imsat.build_softmax_model(shape[0], self.n_clusters, _check_hidden(self.hidden),
                                          batch_norm_epsilon=self.batch_norm_epsilon,
                                          perturbed_input=True,
                                          kernel_scales=imsat.IMSAT_KERNEL_SCALES, seed=seed)
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                      loss=[imsat.information_loss(mu=self.mu, weight=self.lam), "kld"])
        return model

    def _train_kwargs(self, X):
        if len(X) <= self.n_neighbors:
            raise ValueError(f"n_samples={len(X)} should be > n_neighbors={self.n_neighbors}: "
                             "give more data or lower n_neighbors.")
        return {"augmentation": self.augmentation, "xi": self.xi, "batches": self.batches,
                "eps": imsat.vat_epsilon(X, self.n_neighbors, self.eps_scale)}
