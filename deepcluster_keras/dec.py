"""Deep Embedded Clustering (Xie et al., 2016), step by step as the tutorial.

1. :func:`pretrain` the autoencoder on reconstruction (MSE).
2. :func:`init_centres`: K-means on the embedding gives the first centres.
3. :func:`build_clustering_model`: encoder + :class:`ClusteringLayer`.
4. :func:`self_train`: refine by minimising KL(P || Q), with the sharper
   :func:`target_distribution` P refreshed every ``update_interval`` batches.
"""

import sys
import time
import warnings
from dataclasses import dataclass, field

import keras
import numpy as np
from sklearn.cluster import KMeans

from deepcluster_keras import metrics
from deepcluster_keras.layers import ClusteringLayer
from deepcluster_keras.persistence import (PretrainCheckpoint, SelfTrainingCheckpoint,
                                           data_fingerprint, weights_fingerprint)

__all__ = [
    "EpochTraining",
    "PretrainingCollapsed",
    "target_distribution",
    "pretrain",
    "init_centres",
    "build_clustering_model",
    "self_train",
    "SelfTrainingHistory",
    "pretrain_optimizer",
    "clustering_optimizer",
    "augmented_model",
]

#: Batch size for ``model.predict`` over the whole dataset. Larger than the
#: training batch: prediction is cheap per sample, and fewer batches mean
#: less per-batch overhead.
PREDICT_BATCH_SIZE = 4096


def pretrain_optimizer(name="sgd"):
    """Pretraining's optimizer: ``"sgd"``, the DEC tutorial's SGD(1.0, momentum
    0.9), or ``"adam"``, Adam() as DCEC."""
    if name == "adam":
        return keras.optimizers.Adam()
    return keras.optimizers.SGD(learning_rate=1.0, momentum=0.9)


def clustering_optimizer(name="sgd"):
    """Self-training's optimizer: ``"sgd"``, the DEC tutorial's SGD(0.01,
    momentum 0.9), or ``"adam"``, Adam() as the IDEC code for MNIST and DCEC."""
    if name == "adam":
        return keras.optimizers.Adam()
    return keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)


class EpochProgress(keras.callbacks.Callback):
    """One line every ``every`` epochs: loss, elapsed time and time left."""

    def __init__(self, epochs, every=10, say=print):
        super().__init__()
        self.epochs, self.every, self.say = epochs, every, say

    def on_train_begin(self, logs=None):
        self.start, self.first = time.perf_counter(), None

    def on_epoch_end(self, epoch, logs=None):
        if self.first is None:
            self.first = epoch  # after a resume, count from there
        if (epoch + 1) % self.every and epoch + 1 != self.epochs:
            return
        elapsed = time.perf_counter() - self.start
        left = elapsed / (epoch + 1 - self.first) * (self.epochs - epoch - 1)
        self.say(f"   epoch {epoch + 1}/{self.epochs}  loss {logs['loss']:.5f}  "
                 f"elapsed {elapsed / 60:.1f} min  left ~{left / 60:.1f} min", flush=True)


class PretrainingCollapsed(RuntimeError):
    """Pretraining reached a state no further epoch can leave: the autoencoder
    gives the same output for every input.

    A too large step can leave every ReLU of one layer negative on all the
    data; that layer then passes no gradient, and the reconstruction stays
    the mean image. Attributes: ``epoch`` (1-based, when it was seen),
    ``loss`` (that epoch's) and ``data_variance`` (the loss of the mean image).
    """

    def __init__(self, epoch, loss, data_variance):
        self.epoch, self.loss, self.data_variance = int(epoch), float(loss), float(data_variance)
        super().__init__(
            f"Pretraining collapsed at epoch {self.epoch}: the autoencoder gives the same output "
            f"for every input (loss {self.loss:.5f}; the mean image's loss is "
            f"{self.data_variance:.5f}), so no gradient reaches the layers before the dead one "
            "and more epochs cannot help. The tutorial's SGD(learning_rate=1.0, momentum=0.9) "
            "does this on some seeds (Fashion-MNIST seed 1 of the 30-epoch recipe). Pretrain "
            "with another seed (random_state) or a gentler optimizer "
            "(pretrain_optimizer='adam').")


class CollapseCheck(keras.callbacks.Callback):
    """Stop ``fit`` once the autoencoder's outputs on ``probe`` (a few hundred
    samples) have varied by less than ``rtol`` times the probe's own variance
    at the end of ``patience`` epochs in a row; :attr:`collapsed` is then
    :class:`PretrainingCollapsed`, else None. One such epoch is not enough,
    not even the last: healthy runs pass through it (``python -m
    deepcluster_keras run --seed 3`` gives the mean image at epoch 3, loss
    0.0744 against its 0.0733, then 0.047 at epoch 20)."""

    def __init__(self, probe, rtol=1e-6, patience=3, autoencoder=None):
        super().__init__()
        self.probe, self.rtol, self.patience = probe, rtol, patience
        self.autoencoder = autoencoder  # None: the model being fit
        self.data_variance = _spread(probe)

    def on_train_begin(self, logs=None):
        self.in_a_row, self.collapsed = 0, None

    def on_epoch_end(self, epoch, logs=None):
        same = gives_one_output(self.autoencoder or self.model, self.probe, self.rtol)
        self.in_a_row = self.in_a_row + 1 if same else 0
        if self.in_a_row >= self.patience:
            self.collapsed = PretrainingCollapsed(epoch + 1, (logs or {}).get("loss", np.nan),
                                                  self.data_variance)
            self.model.stop_training = True


#: Samples on which :class:`CollapseCheck` looks at the autoencoder's outputs.
COLLAPSE_PROBE_SIZE = 512


def _spread(values):
    """The variance over samples, averaged over features."""
    return float(np.var(values, axis=0).mean())


def collapse_probe(x):
    """At most :data:`COLLAPSE_PROBE_SIZE` samples spread evenly over ``x``."""
    return x[:: max(len(x) // COLLAPSE_PROBE_SIZE, 1)][:COLLAPSE_PROBE_SIZE]


def gives_one_output(autoencoder, probe, rtol=1e-6):
    """Whether ``autoencoder``'s outputs on ``probe`` vary by at most ``rtol``
    times the probe's own variance (per feature, averaged): a collapsed
    autoencoder. False on constant data, where there is nothing to tell apart."""
    data_variance = _spread(probe)
    if data_variance == 0:
        return False
    return _spread(keras.ops.convert_to_numpy(autoencoder(probe, training=False))) <= (
        rtol * data_variance)


def target_distribution(q):
    """DEC's auxiliary target distribution P from soft assignments Q.

    ``p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j')`` with cluster
    frequencies ``f_j = sum_i q_ij``: squaring sharpens the assignments,
    dividing by ``f_j`` keeps large clusters from taking over.

    Parameters
    ----------
    q : ndarray of shape (n_samples, n_clusters), rows summing to 1

    Returns
    -------
    p : ndarray of shape (n_samples, n_clusters), rows summing to 1
    """
    q = np.asarray(q)
    weight = q**2 / q.sum(0)
    return (weight.T / weight.sum(1)).T


def pretrain(
    autoencoder,
    x,
    *,
    optimizer=None,
    loss="mse",
    epochs=300,
    batch_size=256,
    verbose="auto",
    checkpoint_dir=None,
    checkpoint_every=10,
    callbacks=(),
    seed=None,
    augmentation=None,
):
    """Pretrain ``autoencoder`` to reconstruct ``x``, as the tutorial does.

    The batches are taken in a fresh random order every epoch, as Keras 2's
    ``fit(shuffle=True)`` did in the tutorial (Keras 3's TensorFlow ``fit``
    repeats one order in every epoch once a global seed is set). The order
    of epoch ``e`` depends on ``seed`` and ``e`` alone, so a resumed run
    trains on the same batches as an uninterrupted one.

    Parameters
    ----------
    autoencoder : keras.Model
    x : ndarray
    optimizer : keras optimizer, default ``SGD(learning_rate=1.0, momentum=0.9)``
    loss, epochs, batch_size : the tutorial's MSE, 300 and 256 by default.
    verbose : as Keras' ``fit``; "auto" and 1 (a progress bar) write one line
        per epoch when the output is not a terminal.
    checkpoint_dir : str, optional
        Save the model (with its optimizer state) here every
        ``checkpoint_every`` epochs, atomically, and resume from it if a
        checkpoint is already there: an interrupted pretraining loses at most
        ``checkpoint_every`` epochs. The checkpoint is removed once done.
    seed : int, optional
        Seed of the batch orders; default: drawn from NumPy's global
        generator (which ``keras.utils.set_random_seed`` seeds).
    augmentation : keras layer, optional
        Transform each batch with it (e.g. :class:`RandomTransform`) and
        train the autoencoder to reconstruct the transformed batch, as
        DEC-DA (:func:`augmented_model`). None: the clean data, as the
        tutorial.

    Returns
    -------
    dict
        ``{"loss": [...per epoch...], "epochs": int, "seconds": float,
        "samples_per_second": float, "resumed_from_epoch": int}``. After a
        resume, ``loss`` and ``seconds`` include the epochs trained before
        the interruption (up to the checkpoint), ``seconds_this_run`` and
        ``samples_per_second`` only this run's.

    Raises
    ------
    PretrainingCollapsed
        When the outputs have been the same for every input three epochs in
        a row (:class:`CollapseCheck`); training stops there.
    FloatingPointError
        When the loss became NaN or infinite.
    """
    if optimizer is None:
        optimizer = pretrain_optimizer("sgd")
    trained = autoencoder if augmentation is None else augmented_model(
        autoencoder, augmentation, reconstructions=(0,))
    one_call_an_epoch = keras.backend.backend() == "tensorflow"  # see the fit below
    trained.compile(optimizer=optimizer, loss=loss,
                    steps_per_execution=-(-len(x) // batch_size) if one_call_an_epoch else 1)
    if verbose in ("auto", 1) and not sys.stdout.isatty():
        verbose = 2  # a bar redrawn in a log file is a wall of escape sequences
    if seed is None:
        seed = int(np.random.randint(2**31 - 1))
    initial_epoch, earlier = 0, {"loss": [], "seconds": 0.0, "seed": seed}
    collapse = CollapseCheck(collapse_probe(x), autoencoder=autoencoder)
    callbacks = list(callbacks) + [keras.callbacks.TerminateOnNaN(), collapse]
    checkpoint = None
    if checkpoint_dir is not None and epochs > 0:
        checkpoint = PretrainCheckpoint(checkpoint_dir, checkpoint_every, seed)
        initial_epoch, earlier = checkpoint.restore(trained)
        callbacks.append(checkpoint)
    batches = ShuffledBatches(x, batch_size, seed=earlier["seed"],
                              target="input" if augmentation is None else "zeros")
    if one_call_an_epoch:
        # The same batches, the same bits, without Python work per batch: fed
        # by tf.data, and an epoch's steps run in one call of the training
        # function (steps_per_execution). Keras 3's PyDataset adapter and its
        # per-step loop made pretraining 4-10% slower than the tutorial's code
        # on two cores (docs/speed.md); a GPU would wait on them.
        data = dict(x=batches.dataset(initial_epoch, epochs), steps_per_epoch=len(batches))
    else:
        data = dict(x=batches)
        callbacks.append(batches.epoch_callback())
    start = time.perf_counter()
    history = trained.fit(
        **data,
        shuffle=False,  # the order is ShuffledBatches'
        epochs=epochs,
        initial_epoch=initial_epoch,
        verbose=verbose,
        callbacks=callbacks,
    )
    seconds = time.perf_counter() - start
    losses = [float(v) for v in history.history.get("loss", [])]
    if losses and not np.isfinite(losses[-1]):
        raise FloatingPointError(
            f"Pretraining diverged at epoch {initial_epoch + len(losses)} "
            f"(loss={losses[-1]}). Scale the data to [0, 1] or lower the learning rate."
        )
    if collapse.collapsed is not None:
        raise collapse.collapsed
    if checkpoint is not None and len(losses) == epochs - initial_epoch:
        checkpoint.remove()
    trained_epochs = max(epochs - initial_epoch, 0)
    return {
        "loss": earlier["loss"] + losses,
        "epochs": int(epochs),
        "resumed_from_epoch": int(initial_epoch),
        "seconds": earlier["seconds"] + seconds,
        "seconds_this_run": seconds,
        "samples_per_second": trained_epochs * len(x) / seconds if seconds > 0 else None,
        "seed": int(earlier["seed"]),
    }


class ShuffledBatches(keras.utils.PyDataset):
    """Batches of ``(x, x)`` in a fresh random order every epoch.

    What Keras 2's ``fit(x, x, shuffle=True)`` gave the tutorial: before each
    epoch a new permutation of all samples, cut into batches of
    ``batch_size`` (the last one smaller). Epoch ``e``'s permutation is drawn
    from ``(seed, e)`` alone, so it does not depend on earlier epochs having
    run in this process. ``fit`` must be told the epoch: pass it
    :meth:`epoch_callback` (and ``shuffle=False``).

    ``target="zeros"`` gives ``(x, 0)`` instead, for a model whose output is
    its own reconstruction error (:func:`augmented_model`).
    """

    def __init__(self, x, batch_size, *, seed, target="input"):
        super().__init__()
        self.x, self.batch_size, self.seed = x, int(batch_size), int(seed)
        self.target = target
        self.set_epoch(0)

    def set_epoch(self, epoch):
        """Take the order of ``epoch`` from now on."""
        self.epoch = int(epoch)
        self.order = self.permutation(self.epoch)

    def epoch_callback(self):
        """A callback that sets the epoch ``fit`` is about to train."""
        return keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs=None: self.set_epoch(epoch))

    def permutation(self, epoch):
        """The order of the samples in ``epoch``."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        batch = self.x[self.order[index * self.batch_size:(index + 1) * self.batch_size]]
        return batch, batch if self.target == "input" else np.zeros_like(batch)

    def dataset(self, first_epoch, epochs):
        """The batches of epochs ``first_epoch`` to ``epochs - 1``, one epoch
        after the other, as one ``tf.data.Dataset`` (TensorFlow backend):
        the same batches as :meth:`__getitem__` gives epoch by epoch, with no
        Python work per batch (one permutation per epoch). ``fit`` it with
        ``steps_per_epoch=len(self)``, which keeps one iterator across epochs.
        """
        import tensorflow as tf

        with tf.device("/CPU:0"):  # an input pipeline's data stays in host memory
            x = tf.constant(self.x)
        orders = tf.data.Dataset.from_generator(
            lambda: (self.permutation(epoch) for epoch in range(first_epoch, epochs)),
            output_signature=tf.TensorSpec((len(self.x),), tf.int64))
        batches = orders.flat_map(
            lambda order: tf.data.Dataset.from_tensor_slices(order).batch(self.batch_size))
        def pairs(index):
            batch = tf.gather(x, index)
            return batch, batch if self.target == "input" else tf.zeros_like(batch)

        return batches.map(pairs).prefetch(2)


def augmented_model(model, augmentation, *, reconstructions=()):
    """``model`` trained on transformed copies of its inputs (DEC-DA).

    The returned model applies ``augmentation`` (a layer active in training
    only, as :class:`RandomTransform`) to its input, then ``model``, whose
    weights it shares. The outputs at the indices ``reconstructions``
    reconstruct the input (the autoencoder's, IDEC's second): they become
    their error on the *transformed* input, ``reconstruction - transformed``,
    to be trained towards zeros with MSE, which is MSE between the two, so
    that the autoencoder learns to reconstruct the images it was given, as
    DEC-DA's generator gave each transformed batch as its own target. The
    other outputs keep their targets (DEC's P, computed on the clean data).
    Outside training it gives ``model``'s outputs on the clean input, the
    reconstructions' error against it.
    """
    inputs = keras.Input(model.input.shape[1:], name="images")
    transformed = augmentation(inputs)
    outputs = model(transformed)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    for i in reconstructions:
        outputs[i] = keras.layers.Subtract(name=f"reconstruction_error_{i}")(
            [outputs[i], transformed])
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0],
                       name=f"{model.name}_augmented")


def init_centres(encoder, x, n_clusters, *, n_init=20, random_state=None):
    """K-means (``n_init=20``) on the embedding: the first cluster centres.

    Returns
    -------
    centres : ndarray of shape (n_clusters, n_embedding)
    y_pred : ndarray of shape (n_samples,), the K-means labels
    """
    features = encoder.predict(x, batch_size=PREDICT_BATCH_SIZE, verbose=0)
    return kmeans_centres(features, n_clusters, n_init=n_init, random_state=random_state)


def kmeans_centres(features, n_clusters, *, n_init=20, random_state=None):
    """:func:`init_centres` on an embedding already computed: ``(centres, y_pred)``."""
    kmeans = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=random_state)
    y_pred = kmeans.fit_predict(features)
    return kmeans.cluster_centers_.astype("float32"), y_pred


def build_clustering_model(encoder, n_clusters, *, centres=None, alpha=1.0, autoencoder=None):
    """The DEC model: ``encoder`` followed by a ``ClusteringLayer``.

    With ``autoencoder`` (whose encoder is ``encoder``) the model keeps the
    decoder and has two outputs, ``[q, reconstruction]``: the tutorial's
    variant that minimises clustering and reconstruction loss together
    (IDEC, Guo et al., 2017). :func:`self_train` then trains on both.
    """
    clustering = ClusteringLayer(
        n_clusters,
        weights=None if centres is None else [centres],
        alpha=alpha,
        name="clustering",
    )(encoder.output)
    if autoencoder is None:
        return keras.Model(inputs=encoder.input, outputs=clustering, name="DEC")
    return keras.Model(
        inputs=encoder.input, outputs=[clustering, autoencoder.output], name="IDEC"
    )


@dataclass
class SelfTrainingHistory:
    """What :func:`self_train` did.

    Attributes
    ----------
    history : dict of lists, one entry per target update: ``iteration``,
        ``loss`` (mean training loss over the batches since the previous
        update: KL, or gamma * KL + MSE for a two-output model),
        ``delta_label`` (fraction of labels changed), and ``acc``, ``nmi``,
        ``ari`` when labels were given.
    labels : ndarray of shape (n_samples,), the final cluster of each sample.
    n_iter : number of batches trained.
    converged : whether it stopped on ``tol`` rather than ``maxiter``.
    seconds : wall time of the loop.
    """

    history: dict = field(default_factory=dict)
    labels: np.ndarray = None
    n_iter: int = 0
    converged: bool = False
    seconds: float = 0.0

    def to_dict(self):
        return {
            "history": self.history,
            "n_iter": self.n_iter,
            "converged": self.converged,
            "seconds": self.seconds,
            "iterations_per_second": self.n_iter / self.seconds if self.seconds else None,
        }


@dataclass
class EpochTraining:
    """What an epoch-based training did (:func:`kmeans_friendly.train`,
    :func:`imsat.train`).

    Attributes
    ----------
    history : dict of lists, one entry per stage or epoch (see the training function).
    labels : ndarray of shape (n_samples,), the final cluster of each sample.
    epochs : epochs trained.
    seconds : wall time.
    """

    history: dict = field(default_factory=dict)
    labels: np.ndarray = None
    epochs: int = 0
    seconds: float = 0.0

    def to_dict(self):
        return {"history": self.history, "epochs": self.epochs, "seconds": self.seconds}


def append_epoch(history, entry, y=None, labels=None):
    """Add ``entry`` to ``history`` (a dict of lists), with ACC / NMI / ARI
    of ``labels`` when ``y`` is given; returns ``entry``. The epoch loops'
    (:func:`kmeans_friendly.train`, :func:`imsat.train`, ...) bookkeeping."""
    if y is not None:
        entry.update(metrics.evaluate(y, labels))
    for k in history:
        history[k].append(entry[k])
    return entry


def scores_text(entry):
    """``"  ACC 0.9000  NMI ..."`` for the scores that ``entry`` holds."""
    return "".join(f"  {k.upper()} {entry[k]:.4f}" for k in ("acc", "nmi", "ari") if k in entry)


def self_train(
    model,
    x,
    y=None,
    *,
    y_pred_init=None,
    optimizer=None,
    loss="kld",
    maxiter=8000,
    update_interval=140,
    tol=0.001,
    batch_size=256,
    gamma=0.1,
    verbose=1,
    checkpoint_dir=None,
    checkpoint_every=5,
    augmentation=None,
):
    """DEC's self-training loop, as in the tutorial.

    Every ``update_interval`` batches: predict Q on all of ``x``, compute
    the target P, record metrics, and stop once fewer than ``tol`` of the
    labels changed since the previous update. Between updates, one
    ``train_on_batch`` per batch of ``batch_size`` samples, taken in order
    and wrapping around (the tutorial skipped the wrap when ``n_samples``
    was a multiple of ``batch_size`` and trained on an empty batch).

    Parameters
    ----------
    model : keras.Model whose output is Q, e.g. from :func:`build_clustering_model`.
    x : ndarray
    y : ndarray of shape (n_samples,), optional; only for reporting.
    y_pred_init : the K-means labels, to measure the first label change.
    optimizer : default ``SGD(learning_rate=0.01, momentum=0.9)``.
    loss : the clustering loss, ``"kld"``.
    gamma : weight of the clustering loss for a two-output model
        ``[q, reconstruction]`` (see :func:`build_clustering_model`), trained
        on ``[kld, mse]`` with loss weights ``[gamma, 1]``.
    verbose : 0 silent, 1 progress bar (one line per update, as 2, when the
        output is not a terminal), 2 one line per update.
    checkpoint_dir : str, optional
        Save the model (with its optimizer state) and the loop's state here
        at every ``checkpoint_every``-th target update, and resume from it
        if a checkpoint is already there: an interrupted run continues
        where it was saved and ends as the uninterrupted one would. The
        checkpoint's weights replace the model's, so resume from the same
        start (pretrained weights and centres); a checkpoint made with other
        data, model shapes, settings or pretrained weights (the model's
        weights other than the centres) is refused. Removed once done.
    augmentation : keras layer, optional
        Train on each batch transformed by it (e.g. :class:`RandomTransform`),
        the target P still computed on the clean ``x``, as DEC-DA; a
        two-output model reconstructs the transformed batch
        (:func:`augmented_model`). None: the clean batches, as the tutorial.

    Returns
    -------
    SelfTrainingHistory
    """
    if optimizer is None:
        optimizer = clustering_optimizer("sgd")
    if verbose == 1 and not sys.stdout.isatty():
        verbose = 2  # a bar redrawn in a log file is a wall of escape sequences
    joint = len(model.outputs) == 2
    q_model = keras.Model(model.input, model.outputs[0]) if joint else model
    trained = model if augmentation is None else augmented_model(
        model, augmentation, reconstructions=(1,) if joint else ())
    if joint:
        trained.compile(optimizer=optimizer, loss=[loss, "mse"], loss_weights=[gamma, 1.0])
    else:
        trained.compile(optimizer=optimizer, loss=loss)
    n_samples = x.shape[0]
    keys = ["iteration", "loss", "delta_label"] + (["acc", "nmi", "ari"] if y is not None else [])
    result = SelfTrainingHistory(history={k: [] for k in keys})
    progress = keras.utils.Progbar(maxiter, verbose=1, stateful_metrics=keys[1:]) if verbose == 1 else None
    y_pred_last = None if y_pred_init is None else np.asarray(y_pred_init)
    batch_losses = []
    index = 0
    p = None
    start = time.perf_counter()
    ite = first = 0
    earlier_seconds = 0.0
    checkpoint = None
    if checkpoint_dir is not None:
        checkpoint = SelfTrainingCheckpoint(checkpoint_dir, {
            "data": data_fingerprint(x), "n_samples": int(n_samples), "batch_size": int(batch_size),
            "update_interval": int(update_interval), "loss": str(loss),
            "gamma": float(gamma) if joint else None,
            "optimizer": type(trained.optimizer).__name__,
            "model": [list(w.shape) for w in trained.weights],
            "pretrained_weights": weights_fingerprint(model)})
        saved = checkpoint.restore(trained)
        if saved is not None:
            first, index, earlier_seconds = saved["iteration"], saved["index"], saved["seconds"]
            y_pred_last, batch_losses = saved["y_pred_last"], saved["batch_losses"]
            result.history = saved["history"]
            if verbose:
                print(f"Resuming self-training from the checkpoint at iteration {first}.")
            if progress is not None:
                progress.update(first)
    for ite in range(first, int(maxiter)):
        if ite % update_interval == 0:
            if (checkpoint is not None and ite > first
                    and (ite // update_interval) % max(int(checkpoint_every), 1) == 0):
                checkpoint.save(trained, {
                    "iteration": ite, "index": index, "batch_losses": batch_losses,
                    "history": result.history,
                    "seconds": earlier_seconds + time.perf_counter() - start,
                }, y_pred_last)
            q = q_model.predict(x, batch_size=PREDICT_BATCH_SIZE, verbose=0)
            p = target_distribution(q)
            y_pred = q.argmax(1)
            delta_label = 1.0 if y_pred_last is None else float(np.mean(y_pred != y_pred_last))
            y_pred_last = y_pred
            row = {
                "iteration": ite,
                "loss": float(np.mean(batch_losses)) if batch_losses else None,
                "delta_label": delta_label,
            }
            if y is not None:
                row.update(metrics.evaluate(y, y_pred))
            batch_losses = []
            for k in keys:
                result.history[k].append(row[k])
            if verbose == 2:
                print("  ".join(f"{k}={_fmt(row[k])}" for k in keys), flush=True)
            if progress is not None:
                progress.update(ite, [(k, row[k]) for k in keys[1:] if row[k] is not None])
            if ite > 0 and delta_label < tol:
                result.converged = True
                if verbose:
                    print(f"\ndelta_label {delta_label:.5f} < tol {tol}: converged at iteration {ite}.")
                break
        idx = slice(index * batch_size, min((index + 1) * batch_size, n_samples))
        reconstructed = x[idx] if augmentation is None else np.zeros_like(x[idx])
        target = [p[idx], reconstructed] if joint else p[idx]
        batch_loss = float(np.asarray(trained.train_on_batch(x[idx], target)).reshape(-1)[0])
        if not np.isfinite(batch_loss):
            raise FloatingPointError(
                f"Self-training diverged (loss={batch_loss}) at iteration {ite}. Scale "
                "the data to [0, 1] (the tutorial's setting) or pass a smaller learning "
                "rate in `optimizer`."
            )
        batch_losses.append(batch_loss)
        index = index + 1 if (index + 1) * batch_size < n_samples else 0
        if progress is not None:
            progress.update(ite + 1)  # the bar and its time left move with every batch
    else:
        ite = int(maxiter)
    result.n_iter = ite
    result.seconds = earlier_seconds + time.perf_counter() - start
    result.labels = q_model.predict(x, batch_size=PREDICT_BATCH_SIZE, verbose=0).argmax(1)
    if checkpoint is not None:
        checkpoint.remove()
    if progress is not None and not result.converged:
        progress.update(ite, finalize=True)
    if not result.converged and maxiter > 0:
        warnings.warn(
            f"Self-training stopped at maxiter={maxiter} before fewer than "
            f"tol={tol} of the labels changed between updates; raise "
            "maxiter or tol.",
            RuntimeWarning,
            stacklevel=2,
        )
    return result


def _fmt(value):
    return f"{value:.5f}" if isinstance(value, float) else str(value)
