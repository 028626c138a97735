"""K-means-friendly embeddings: continuous K-means (DKM) and the alternating scheme.

Both fine-tune a pretrained autoencoder on

    reconstruction + kmeans_weight * K-means cost of the embedding,

the cost given by :class:`~deepcluster_keras.layers.KMeansLayer`, and label
each sample by its nearest centre. They differ in how the centres move:

- **DKM** (Deep k-Means; Fard, Thonet and Gaussier, 2020): the centres are
  weights, trained with the network by gradient descent batch after batch,
  and the cost's softmax sharpens as its inverse temperature ``alpha`` is
  annealed (:func:`dkm_alphas`), ending close to hard K-means.
- **Alternating** (Roy, 2024, "An Approach Towards Learning K-means-friendly
  Deep Latent Representation"): the centres are held fixed while the
  network trains for an epoch, then reset by classical K-means on the new
  embedding (warm-started from the previous centres), epoch after epoch.

:func:`train` runs either, in stages: a stage is one ``alpha`` for DKM (5
epochs by default), one epoch for the alternating scheme. The objective is
the DKM authors' (the squared reconstruction error summed over the
features, plus ``kmeans_weight`` times the cost, both averaged over the
batch) divided by the number of features: the same minimum, with gradients
on the scale of the recipe's MSE, where the recipe's pretraining optimizer
(SGD(1.0, momentum 0.9)) carries on. With the sum itself even DEC's
SGD(0.01, momentum 0.9) diverged in the first stage on MNIST-70k's 784
features (a step 784 times an MSE step).
"""


import keras
import numpy as np
from keras import ops
from sklearn.cluster import KMeans

from deepcluster_keras.training import (PREDICT_BATCH_SIZE, ShuffledBatches, check_finite,
                                        epoch_loop)
from deepcluster_keras.layers import KMeansLayer

__all__ = ["dkm_alphas", "build_kmeans_model", "train"]


def dkm_alphas(n_values=40, start=0.1):
    """The DKM authors' annealing of the inverse temperature.

    ``alpha_0 = start`` and ``alpha_i = 2 ** (1 / ln(i + 1) ** 2) * alpha_{i-1}``
    for ``i = 1, ..., n_values - 1`` (``dkm.py`` of github.com/MaziarMF/deep-k-means):
    0.1, 0.42, 0.75, 1.08, ... 28.1 for the default 40 values.
    """
    alphas = [float(start)]
    for i in range(1, int(n_values)):
        alphas.append(2 ** (1 / np.log(i + 1) ** 2) * alphas[-1])
    return alphas


@keras.saving.register_keras_serializable(package="deepcluster_keras")
def kmeans_cost(y_true, y_pred):
    """The K-means cost output by :class:`KMeansLayer`, per sample (no target)."""
    return y_pred


def build_kmeans_model(autoencoder, encoder, n_clusters, *, centres, alpha=1.0,
                       trainable_centres=True):
    """``autoencoder`` with a :class:`KMeansLayer` on its embedding.

    The model outputs ``[reconstruction, kmeans cost]``; ``encoder`` must be
    ``autoencoder``'s encoder (its output the embedding).
    """
    cost = KMeansLayer(n_clusters, weights=[centres], alpha=alpha,
                       trainable_centres=trainable_centres, name="kmeans")(encoder.output)
    return keras.Model(autoencoder.input, [autoencoder.output, cost], name="kmeans_friendly")


class _Batches(ShuffledBatches):
    """A fresh order each epoch; targets: the batch, and a dummy for the cost."""

    def __getitem__(self, index):
        batch, _ = super().__getitem__(index)
        return batch, (batch, np.zeros(len(batch), "float32"))


def train(model, x, y=None, *, schedule, epochs_per_stage, reset_centres, kmeans_weight=1.0,
          optimizer=None, batch_size=256, seed=0, verbose=1, checkpoint_dir=None,
          layer="kmeans", callbacks=None):
    """Fine-tune a :func:`build_kmeans_model` model stage by stage.

    Parameters
    ----------
    model : keras.Model from :func:`build_kmeans_model` (or
        :func:`som.build_som_model`: any model whose outputs are the
        reconstruction and a per-sample cost from a layer with centres).
    x : ndarray
    y : ndarray of shape (n_samples,), optional; only for reporting.
    schedule : list of float or None
        The value of the layer's annealed weight (``layer.annealed``:
        :class:`KMeansLayer`'s inverse temperature ``alpha``) in each stage;
        None leaves it (the hard K-means cost).
    epochs_per_stage : int
    reset_centres : bool or callable
        Before each stage (at the stage's annealed value) and after the
        last, set the centres by K-means on the embedding, warm-started
        from the current centres (the alternating scheme); the labels are
        then the last K-means'. A callable ``reset(z, layer, seed)`` sets
        them otherwise and returns the labels (``som.batch_som_reset``).
        False: the centres train with the network (DKM) and the labels are
        the nearest centres.
    kmeans_weight : float >= 0, the cost's weight (DKM's lambda).
    optimizer : default ``Adam()``, as the DKM authors' code.
    batch_size : int
    seed : int, seed of the batch orders and the K-means steps.
    verbose : 0 silent, 1 a line per stage.
    checkpoint_dir : str, optional
        Save the model (with its optimizer state) and the history after
        every stage, and continue from there when called again.
    layer : str, default="kmeans"
        Name of the cost's layer: its ``clusters`` are the centres.
    callbacks : list of keras.callbacks.Callback, optional
        Told of each stage's end (:func:`~deepcluster_keras.training.epoch_loop`).

    Returns
    -------
    :class:`~deepcluster_keras.training.EpochTraining`, whose ``history`` has one
    entry for the start (stage 0) and one per stage: ``stage``, ``epoch``
    (epochs trained so far), the annealed weight by its name (``alpha``), ``loss``, ``reconstruction`` and
    ``kmeans_cost`` (means over the stage's last epoch), ``delta_label``
    (fraction of labels changed since the previous stage), and ``acc``,
    ``nmi``, ``ari`` when labels were given.
    """
    layer = model.get_layer(layer)
    annealed = layer.annealed.name
    encoder = keras.Model(model.input, layer.input)
    # The DKM objective over the number of features (see the module's docstring).
    n_features = int(np.prod(x.shape[1:]))
    model.compile(optimizer=optimizer if optimizer is not None else keras.optimizers.Adam(),
                  loss=["mse", kmeans_cost], loss_weights=[1.0, float(kmeans_weight) / n_features])
    alphas = list(schedule)
    batches = _Batches(x, batch_size, seed=seed)
    reset = _kmeans_reset if reset_centres is True else reset_centres

    def start():  # the K-means centres' labels
        return ({"stage": 0, "epoch": 0, annealed: None, "loss": None, "reconstruction": None,
                 "kmeans_cost": None, "delta_label": 0.0}, _labels(encoder, layer, x))

    def train_stage(stage, labels):
        if alphas[stage] is not None:
            layer.annealed.assign(alphas[stage])
        if reset:
            labels = _reset_centres(encoder, layer, x, seed + stage, reset)
        epoch = stage * epochs_per_stage
        fit = model.fit(batches, epochs=epoch + epochs_per_stage, initial_epoch=epoch,
                        shuffle=False, verbose=0,
                        callbacks=[batches.epoch_callback(), keras.callbacks.TerminateOnNaN()])
        logs = {k: float(v[-1]) for k, v in fit.history.items()}
        check_finite(logs["loss"], "stage", stage + 1,
                     "Scale the data to [0, 1], lower kmeans_weight or the learning rate.")
        previous = labels
        labels = (_reset_centres(encoder, layer, x, seed + stage + 1, reset)
                  if reset and stage == len(alphas) - 1 else _labels(encoder, layer, x))
        return {"stage": stage + 1, "epoch": epoch + epochs_per_stage, annealed: alphas[stage],
                "loss": logs["loss"], "reconstruction": _output_loss(model, logs, 0),
                "kmeans_cost": _output_loss(model, logs, 1),
                "delta_label": float(np.mean(labels != previous))}, labels

    def describe(entry):
        alpha = entry[annealed]
        return ((f"  {annealed} {alpha:.3g}" if alpha is not None else "")
                + f"  loss {entry['loss']:.4f}  changed {entry['delta_label']:.4f}")

    result = epoch_loop(
        train_stage, model=model, x=x, y=y, epochs=len(alphas),
        keys=("stage", "epoch", annealed, "loss", "reconstruction", "kmeans_cost", "delta_label"),
        settings={"alphas": alphas, "epochs_per_stage": int(epochs_per_stage),
                  "reset_centres": _reset_name(reset_centres),
                  "kmeans_weight": float(kmeans_weight), "batch_size": int(batch_size),
                  "seed": int(seed)},
        checkpoint_dir=checkpoint_dir, verbose=verbose, start=start, describe=describe,
        unit="stage", callbacks=callbacks)
    result.epochs *= epochs_per_stage  # stages to epochs
    return result


def _output_loss(model, logs, index):
    """The loss of output ``index`` from ``fit``'s logs (None if Keras did not log it)."""
    return logs.get(f"{model.output_names[index]}_loss")


def _labels(encoder, layer, x):
    """The nearest centre of each sample."""
    z = encoder.predict(x, batch_size=PREDICT_BATCH_SIZE, verbose=0)
    return nearest_centres(z, ops.convert_to_numpy(layer.clusters))


def nearest_centres(z, centres):
    """Index of the nearest of ``centres`` for each row of ``z``."""
    labels = np.empty(len(z), dtype="int64")
    for begin in range(0, len(z), 4096):  # (4096, n_centres, n_features) at a time
        chunk = z[begin:begin + 4096]
        labels[begin:begin + 4096] = ((chunk[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
    return labels


def _reset_name(reset_centres):
    """How the centres are reset, for the checkpoint's settings."""
    if isinstance(reset_centres, bool):
        return reset_centres
    return getattr(reset_centres, "__name__", type(reset_centres).__name__)


def _reset_centres(encoder, layer, x, seed, reset):
    """``reset`` on the embedding of ``x``: sets the layer's centres, returns the labels."""
    return reset(encoder.predict(x, batch_size=PREDICT_BATCH_SIZE, verbose=0), layer, seed)


def _kmeans_reset(z, layer, seed):
    """K-means on ``z``, warm-started from the layer's centres; sets them."""
    kmeans = KMeans(layer.n_clusters, init=ops.convert_to_numpy(layer.clusters), n_init=1,
                    random_state=seed).fit(z)
    layer.clusters.assign(kmeans.cluster_centers_.astype("float32"))
    return kmeans.labels_
