"""The whole run behind the command line: data in, results out.

:func:`run` checks everything first, then pretrains (or loads) the
autoencoder, initialises the centres with K-means, self-trains (DEC, or
IDEC), or instead clusters the embedding with a classical algorithm
(``method="ae+gmm"`` and so on), and writes into the output folder:

- ``results.json``: metrics, configuration, timings, versions, seed;
- ``ae_weights.weights.h5``: the pretrained autoencoder, reusable with
  ``ae_weights=...`` (``--ae-weights``);
- ``dec_model.keras``: the trained clustering model (loads with plain
  ``keras.saving.load_model``);
- ``labels.npy``: the cluster of each sample;
- PNG plots: confusion matrix, cluster image grids, training curves, and a
  t-SNE map of the embedding.
"""

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from typing import Optional

import keras
import numpy as np

from deepcluster_keras import autoencoders, classical, dec, metrics
from deepcluster_keras.datasets import load_data
from deepcluster_keras.io import atomic_save, atomic_write_json, library_versions
from deepcluster_keras.validation import (
    check_data,
    check_labels,
    check_n_clusters,
    check_n_samples,
    check_positive_int,
    check_writable_dir,
)

#: What ``run`` can do: DEC, IDEC (DEC keeping the decoder), K-means on the raw
#: data, or a classical algorithm on the pretrained embedding.
METHODS = ("dec", "idec", "kmeans") + tuple(f"ae+{m}" for m in classical.METHODS)

AE_WEIGHTS_FILE = "ae_weights.weights.h5"
MODEL_FILE = "dec_model.keras"
SELF_TRAINING_CHECKPOINT = "self_training_checkpoint"
RESULTS_FILE = "results.json"


@dataclass
class Config:
    """Settings of one run; the defaults are the DEC tutorial's."""

    dataset: str = "digits"
    method: str = "dec"  # see METHODS
    autoencoder: str = "dense"
    n_clusters: Optional[int] = None  # None: the number of classes in the labels
    seed: int = 0
    pretrain_epochs: int = 300
    pretrain_batch_size: int = 256
    # "sgd": SGD(1.0, 0.9) as the DEC tutorial; "adam" as DCEC. None: sgd for the
    # dense autoencoder, adam for the convolutional one.
    pretrain_optimizer: Optional[str] = None
    n_init: int = 20
    alpha: float = 1.0
    gamma: float = 0.1  # IDEC's weight of the clustering loss
    # Self-training's optimizer. "sgd": SGD(0.01, 0.9) as the DEC tutorial;
    # "adam": Adam(), as the IDEC code for MNIST and DCEC.
    optimizer: str = "sgd"
    maxiter: int = 8000
    update_interval: int = 140
    tol: float = 0.001
    batch_size: int = 256
    ae_weights: Optional[str] = None
    data_dir: Optional[str] = None
    out: str = "dec_output"
    plots: bool = True
    verbose: int = 1

    def __post_init__(self):
        if self.pretrain_optimizer is None:
            self.pretrain_optimizer = "adam" if self.autoencoder == "conv" else "sgd"

    def validate(self):
        if self.method not in METHODS:
            raise ValueError(
                f"Received an invalid value for `method`, expected one of {METHODS}. "
                f"Received: method={self.method!r}"
            )
        if not self.gamma > 0:
            raise ValueError(f"Expected gamma > 0. Received: gamma={self.gamma!r}")
        if self.autoencoder not in ("dense", "conv"):
            raise ValueError(
                "Received an invalid value for `autoencoder`, expected 'dense' or "
                f"'conv'. Received: autoencoder={self.autoencoder!r}"
            )
        for name in ("pretrain_optimizer", "optimizer"):
            if getattr(self, name) not in ("sgd", "adam"):
                raise ValueError(
                    f"Received an invalid value for `{name}`, expected 'sgd' "
                    f"or 'adam'. Received: {name}={getattr(self, name)!r}"
                )
        if self.n_clusters is not None:
            check_n_clusters(self.n_clusters)
        for name in ("pretrain_batch_size", "batch_size", "update_interval", "n_init"):
            check_positive_int(getattr(self, name), name)
        for name in ("pretrain_epochs", "maxiter", "seed"):
            check_positive_int(getattr(self, name), name, minimum=0)
        if not 0 <= self.tol < 1:
            raise ValueError(f"Expected 0 <= tol < 1. Received: tol={self.tol!r}")
        if self.ae_weights is not None and not os.path.isfile(self.ae_weights):
            raise FileNotFoundError(
                f"No weights file at ae_weights={self.ae_weights!r}: give the path "
                f"of an '{AE_WEIGHTS_FILE}' written by an earlier run, or leave it "
                "out to pretrain."
            )


def prepare_data(config, x=None, y=None):
    """Load (or take) the data and check it against the configuration.

    Returns ``(x, y, n_clusters)``.
    """
    image_shaped = config.autoencoder == "conv"
    if x is None:
        x, y = load_data(config.dataset, data_dir=config.data_dir, image_shaped=image_shaped)
    x = check_data(x, image_shaped=image_shaped)
    if not image_shaped and x.ndim > 2:
        x = x.reshape(len(x), -1)
    y = check_labels(y, len(x))
    if config.n_clusters is not None:
        n_clusters = config.n_clusters
    elif y is not None:
        n_clusters = len(np.unique(y))
    else:
        raise ValueError("Give n_clusters when the data has no labels.")
    check_n_samples(len(x), n_clusters)
    return x, y, n_clusters


def build_autoencoder(config, x):
    """The autoencoder for ``x``: the tutorial's dims with x's input size."""
    if config.autoencoder == "conv":
        return autoencoders.conv_autoencoder(input_shape=x.shape[1:])
    dims = (x.shape[1],) + tuple(autoencoders.DEC_DIMS[1:])
    return autoencoders.autoencoder(dims)


def pretrain_optimizer(name):
    if name == "adam":
        return keras.optimizers.Adam()
    return keras.optimizers.SGD(learning_rate=1.0, momentum=0.9)


def clustering_optimizer(name):
    """Self-training's optimizer: the DEC tutorial's SGD(0.01, 0.9), or Adam."""
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


def pretrained_autoencoder(config, x, out, weights_path=None):
    """Pretrain, or load ``weights_path`` when given; save the weights in ``out``.

    Pretraining checkpoints into ``out`` so that a rerun after an
    interruption continues where it stopped.
    """
    ae, encoder = build_autoencoder(config, x)
    if weights_path is not None:
        autoencoders.load_autoencoder_weights(ae, weights_path)
        info = {"loaded_from": os.path.abspath(weights_path), "seconds": 0.0}
    else:
        try:
            info = dec.pretrain(
                ae,
                x,
                optimizer=pretrain_optimizer(config.pretrain_optimizer),
                epochs=config.pretrain_epochs,
                batch_size=config.pretrain_batch_size,
                verbose=0,
                checkpoint_dir=out,
                callbacks=[EpochProgress(config.pretrain_epochs)] if config.verbose else [],
            )
        except KeyboardInterrupt:
            if config.verbose and os.path.isfile(os.path.join(out, "pretrain_checkpoint.json")):
                print(f"\nPretraining checkpointed in {out} (every 10 epochs): rerun the same "
                      "command to continue it.", flush=True)
            raise
        path = os.path.join(out, AE_WEIGHTS_FILE)
        atomic_save(path, ae.save_weights)
        info["weights"] = path
    return ae, encoder, info


def run(config, x=None, y=None):
    """Run the configured method end to end; returns the ``results.json`` dict.

    ``x`` and ``y`` replace the configured dataset when given.
    """
    config.validate()
    out = check_writable_dir(config.out, name="out")
    x, y, n_clusters = prepare_data(config, x, y)
    keras.utils.set_random_seed(config.seed)
    results = {
        "status": "running",
        "config": dataclasses.asdict(config),
        "n_samples": int(len(x)),
        "n_clusters": int(n_clusters),
        "seed": config.seed,
        "versions": library_versions(),
        "metrics": {},
        "seconds": {},
    }
    results_path = os.path.join(out, RESULTS_FILE)
    say = print if config.verbose else (lambda *a, **k: None)
    method = config.method
    try:
        if method == "kmeans":
            say(f"K-means (n_init={config.n_init}) on the raw data")
            labels = timed(results, "clustering", classical.cluster, x, "kmeans", n_clusters,
                            random_state=config.seed, n_init=config.n_init)
            _record(results, "kmeans", x, y, labels, say)
            initial, history, z = None, None, None
        else:
            stages = 1 if method.startswith("ae+") else 3
            say(f"[1/{stages}] autoencoder: "
                + (f"loading {config.ae_weights}" if config.ae_weights
                   else f"pretraining {config.pretrain_epochs} epochs"))
            ae, encoder, info = pretrained_autoencoder(config, x, out, config.ae_weights)
            results["pretrain"] = info
            results["seconds"]["pretrain"] = info["seconds"]
            if method.startswith("ae+"):
                algorithm = method[len("ae+"):]
                z = encoder.predict(x, batch_size=dec.PREDICT_BATCH_SIZE, verbose=0)
                say(f"{algorithm} on the embedding")
                labels = timed(results, "clustering", classical.cluster, z, algorithm, n_clusters,
                                random_state=config.seed, n_init=config.n_init)
                _record(results, method.replace("+", "_"), z, y, labels, say)
                initial, history = None, None  # z: the embedding, from above
            else:
                labels, initial, history, z = _dec_stages(config, results, x, y, n_clusters, ae,
                                                          encoder, out, say)
        np.save(os.path.join(out, "labels.npy"), labels)
        if config.plots:
            results["plots"] = save_plots(out, x, y, labels, initial, history, config.tol, z)
        results["status"] = "done"
    except KeyboardInterrupt:
        results["status"] = "interrupted"
        say(f"\nInterrupted; what was finished is in {out}.")
        raise
    except Exception as error:
        results["status"] = "failed"
        results["error"] = f"{type(error).__name__}: {error}"
        raise
    finally:
        atomic_write_json(results_path, results)
    say(f"Results in {results_path}")
    return results


def _dec_stages(config, results, x, y, n_clusters, ae, encoder, out, say):
    """K-means initialisation and self-training (DEC, or IDEC keeping the decoder)."""
    say(f"[2/3] K-means (n_init={config.n_init}) on the embedding")
    centres, y_kmeans = timed(results, "kmeans", dec.init_centres, encoder, x, n_clusters,
                               n_init=config.n_init, random_state=config.seed)
    if y is not None:
        results["metrics"]["ae_kmeans"] = metrics.evaluate(y, y_kmeans)
        say("      AE + K-means: " + metrics_line(results["metrics"]["ae_kmeans"]))
    name = config.method.upper()
    say(f"[3/3] {name} self-training (maxiter={config.maxiter}, "
        f"update_interval={config.update_interval})")
    model = dec.build_clustering_model(encoder, n_clusters, centres=centres, alpha=config.alpha,
                                       autoencoder=ae if config.method == "idec" else None)
    # Resumable from the same start only: a run that pretrained anew drops
    # the checkpoint of an earlier one.
    checkpoint = os.path.join(out, SELF_TRAINING_CHECKPOINT)
    if config.ae_weights is None and os.path.isdir(checkpoint):
        shutil.rmtree(checkpoint)
    try:
        training = dec.self_train(
            model, x, y, y_pred_init=y_kmeans, maxiter=config.maxiter,
            update_interval=config.update_interval, tol=config.tol, batch_size=config.batch_size,
            gamma=config.gamma, optimizer=clustering_optimizer(config.optimizer),
            verbose=config.verbose, checkpoint_dir=checkpoint,
        )
    except KeyboardInterrupt:
        if os.path.isdir(checkpoint):
            # A run that pretrained would pretrain again: it continues from its saved weights.
            how = ("the same command" if config.ae_weights is not None else
                   f"the same command plus --ae-weights {os.path.join(out, AE_WEIGHTS_FILE)}")
            say(f"\nSelf-training checkpointed in {checkpoint}: rerun {how} to continue it.")
        raise
    results["self_training"] = training.to_dict()
    results["seconds"]["self_training"] = training.seconds
    model.save(os.path.join(out, MODEL_FILE))
    z = encoder.predict(x, batch_size=dec.PREDICT_BATCH_SIZE, verbose=0)
    _record(results, config.method, z, y, training.labels, say)
    return training.labels, y_kmeans, training.history, z


def timed(results, stage, function, *args, **kwargs):
    """``function(*args, **kwargs)``, its wall time stored in ``results["seconds"][stage]``."""
    start = time.perf_counter()
    value = function(*args, **kwargs)
    results["seconds"][stage] = time.perf_counter() - start
    return value


def _record(results, key, space, y, labels, say):
    """Scores of a clustering: against labels when given, and the silhouette
    of ``space`` (the data or the embedding it was clustered in)."""
    results["silhouette"] = metrics.silhouette(space, labels, random_state=0)
    n_noise = int(np.sum(labels == -1))
    results["n_clusters_found"] = int(len(np.unique(labels[labels != -1])))
    if n_noise:
        results["n_noise"] = n_noise
    if y is not None:
        results["metrics"][key] = {**metrics.evaluate(y, labels), "purity": metrics.purity(y, labels)}
        say(f"{key.replace('_', ' + ').upper()}: " + metrics_line(results["metrics"][key]))
    say(f"silhouette {results['silhouette']:.4f}, {results['n_clusters_found']} clusters"
        + (f", {n_noise} noise points" if n_noise else ""))


def metrics_line(scores):
    return "  ".join(f"{k.upper()} {v:.4f}" for k, v in scores.items())


def save_plots(out, x, y, labels, initial_labels=None, history=None, tol=None, z=None):
    """Confusion matrix, cluster image grids, training curves and a t-SNE map
    of the embedding ``z`` as PNG files in ``out``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from deepcluster_keras import plots

    paths = {}
    if history is not None and len(history["iteration"]) > 1:
        axes = plots.plot_training_curves(history, tol=tol)
        paths["training_curves"] = plots.save_figure(axes, os.path.join(out, "training_curves.png"))
    if y is not None:
        ax = plots.plot_confusion_matrix(y, labels, title="clusters vs classes")
        paths["confusion_matrix"] = plots.save_figure(ax, os.path.join(out, "confusion_matrix.png"))
    if z is not None:
        ax = plots.plot_embedding(z, labels)
        paths["embedding_tsne"] = plots.save_figure(ax, os.path.join(out, "embedding_tsne.png"))
    grids = [("cluster_grid", labels)]
    if initial_labels is not None:
        grids.append(("cluster_grid_kmeans", initial_labels))
    for name, grid_labels in grids:
        try:
            ax = plots.plot_cluster_grid(x, grid_labels, title=name.replace("_", " "))
        except ValueError:  # not images: no grid
            continue
        paths[name] = plots.save_figure(ax, os.path.join(out, name + ".png"))
    return paths
