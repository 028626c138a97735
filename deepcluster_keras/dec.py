"""Deep Embedded Clustering (Xie et al., 2016), step by step as the tutorial.

1. :func:`pretrain` the autoencoder on reconstruction (MSE), in
   :mod:`deepcluster_keras.training` with what the other methods share.
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
from deepcluster_keras.persistence import (SelfTrainingCheckpoint, data_fingerprint,
                                           weights_fingerprint)
# Step 1 of the tutorial, shared by every method with an autoencoder.
from deepcluster_keras.training import (PREDICT_BATCH_SIZE, augmented_model,
                                        clustering_optimizer, pretrain)

__all__ = [
    "target_distribution",
    "pretrain",
    "init_centres",
    "build_clustering_model",
    "self_train",
    "SelfTrainingHistory",
]

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
    callbacks=None,
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
    callbacks : list of keras.callbacks.Callback, optional
        Told of the loop as Keras' ``fit`` tells them of its own:
        ``on_train_batch_end(iteration, {"loss": ...})`` after every batch,
        ``on_epoch_end(update, row)`` at every target update (``row`` as a
        line of ``history``), ``on_train_begin`` / ``on_train_end``. A
        callback that sets ``model.stop_training = True`` stops the loop at
        the next target update.

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
    callbacks = keras.callbacks.CallbackList(list(callbacks or ()), model=trained)
    trained.stop_training = False
    callbacks.on_train_begin()
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
            callbacks.on_epoch_end(ite // update_interval, dict(row))
            if trained.stop_training:
                break  # a callback's decision, neither convergence nor maxiter
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
        callbacks.on_train_batch_end(ite, {"loss": batch_loss})
        index = index + 1 if (index + 1) * batch_size < n_samples else 0
        if progress is not None:
            progress.update(ite + 1)  # the bar and its time left move with every batch
    else:
        ite = int(maxiter)
    callbacks.on_train_end()
    result.n_iter = ite
    result.seconds = earlier_seconds + time.perf_counter() - start
    result.labels = q_model.predict(x, batch_size=PREDICT_BATCH_SIZE, verbose=0).argmax(1)
    if checkpoint is not None:
        checkpoint.remove()
    if progress is not None and not result.converged:
        progress.update(ite, finalize=True)
    if not result.converged and maxiter > 0 and not trained.stop_training:
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
