"""One run into an output folder: ``python -m deepcluster_keras run``.

:func:`run` fits one method (see :mod:`deepcluster_keras.methods`) on a
dataset with the estimators' recipe and writes into ``out``:

- ``results.json``: metrics, configuration, the trained estimator's
  parameters (``params``), timings, versions, seed, and
  ``status`` (``running``, ``done``, ``interrupted`` or ``failed``);
- ``ae_weights.weights.h5``: the pretrained autoencoder, reusable with
  ``ae_weights=...`` (``--ae-weights``);
- ``<method>_model.keras`` (e.g. ``dec_model.keras``): the trained model (loads with plain
  ``keras.saving.load_model`` once ``deepcluster_keras`` is imported);
- ``labels.npy``: the cluster of each sample;
- PNG plots: confusion matrix, cluster image grids, training curves, and a
  t-SNE map of the embedding.

An interrupted run keeps its progress in ``out/checkpoint``: the same call
again continues it.
"""

import os
import time

import numpy as np

from deepcluster_keras import classical, layout, metrics, methods
from deepcluster_keras.datasets import load_data
from deepcluster_keras.machine import library_versions
from deepcluster_keras.persistence import atomic_write_json, saved_progress
from deepcluster_keras.validation import check_labels, check_n_clusters, check_writable_dir

def run(method="dec", recipe=None, *, dataset="digits", data_dir=None, n_clusters=None, seed=0,
        ae_weights=None, out="dec_output", plots=True, verbose=1, x=None, y=None,
        callbacks=None):
    """Fit ``method`` and write its results into ``out``; returns the ``results.json`` dict.

    ``recipe`` overrides the estimators' defaults (``methods.recipe_defaults()``);
    ``x`` and ``y`` replace ``dataset`` when given. ``n_clusters`` None: the
    number of classes in the labels. ``callbacks``: Keras callbacks of the
    training, where the method's ``fit`` takes them (:func:`methods.fit`).
    """
    methods.check_methods([method])
    recipe = methods.with_method_params({**methods.recipe_defaults(), **(recipe or {})}, [method])
    if n_clusters is not None:
        recipe["n_clusters"] = check_n_clusters(n_clusters)
    # Every setting is checked before the data is read or anything trained.
    methods.estimator(method, recipe, ae_weights=ae_weights)._validate_params()
    if x is None:
        x, y = load_data(dataset, data_dir=data_dir, image_shaped=recipe["autoencoder"] == "conv")
    y = check_labels(y, len(x))
    if n_clusters is None:
        if y is None:
            raise ValueError("Give n_clusters when the data has no labels.")
        n_clusters = len(np.unique(y))
    recipe["n_clusters"] = check_n_clusters(n_clusters)
    out = check_writable_dir(out, name="out")  # only now: an error above leaves no folder
    say = print if verbose else (lambda *a, **k: None)
    results = {"status": "running", "method": method, "dataset": dataset, "seed": seed,
               "config": methods.resolved_recipe(recipe), "n_samples": int(len(x)),
               "n_clusters": int(n_clusters), "versions": library_versions(), "metrics": {},
               "seconds": {}}
    results_path = os.path.join(out, layout.RESULTS_FILE)
    checkpoint = os.path.join(out, layout.CHECKPOINT_DIR)
    try:
        if method == "kmeans_raw":
            say(f"K-means (n_init={recipe['n_init']}) on the raw data")
            start = time.perf_counter()
            labels = classical.cluster(x.reshape(len(x), -1), "kmeans", n_clusters,
                                       random_state=seed, n_init=recipe["n_init"])
            results["seconds"]["clustering"] = time.perf_counter() - start
            _record(results, method, x.reshape(len(x), -1), y, labels, say)
            fitted = None
        elif method in methods.RAW_METHODS:  # a network on the raw data
            fitted = methods.fit(methods.estimator(method, recipe, random_state=seed,
                                                   verbose=verbose, checkpoint_dir=checkpoint),
                                 x, y, callbacks)
            results["seconds"].update(fitted.seconds_)
            results["training"] = fitted.training_record()
            results["params"] = methods.params_record(fitted)
            fitted.model_.save(layout.model_file(out, method))
            labels = fitted.labels_
            _record(results, method, x.reshape(len(x), -1), y, labels, say)
        else:
            fitted = methods.estimator(method, recipe, ae_weights=ae_weights, random_state=seed,
                                       verbose=verbose, checkpoint_dir=checkpoint)
            methods.fit(fitted, x, y, callbacks)
            results["pretrain"] = fitted.pretrain_
            results["seconds"].update(fitted.seconds_)
            if ae_weights is None:
                fitted.save_autoencoder_weights(os.path.join(out, layout.AE_WEIGHTS_FILE))
            z = fitted.transform(x)
            if method in methods.TRAINED:
                _record(results, "ae_kmeans", z, y, fitted.kmeans_labels_, say, silhouette=False)
                results["training"] = fitted.training_record()
                results["params"] = methods.params_record(fitted)
                fitted.model_.save(layout.model_file(out, method))
                labels = fitted.labels_
            else:
                say(f"{methods.NAMES[method]} on the embedding")
                labels, results["seconds"]["clustering"] = methods.cluster_embedding(
                    method, fitted, x, n_clusters, seed, recipe["n_init"])
            _record(results, method, z, y, labels, say)
        np.save(os.path.join(out, layout.LABELS_FILE), labels)
        if plots:
            results["plots"] = save_plots(out, x, y, labels, fitted)
        results["status"] = "done"
    except KeyboardInterrupt:
        results["status"] = "interrupted"
        if saved_progress(checkpoint):
            say(f"\nInterrupted; the progress is in {checkpoint}: rerun the same command to "
                "continue it.", flush=True)
        else:
            say("\nInterrupted before the first checkpoint (pretraining saves one every 10 "
                "epochs): nothing was kept, so the same command starts from the beginning.",
                flush=True)
        raise
    except Exception as error:
        results["status"] = "failed"
        results["error"] = f"{type(error).__name__}: {error}"
        raise
    finally:
        atomic_write_json(results_path, results)
    say(f"Results in {results_path}")
    return results


def _record(results, key, space, y, labels, say, silhouette=True):
    """Scores of a clustering: against labels when given, and the silhouette
    of ``space`` (the data or the embedding it was clustered in)."""
    if silhouette:
        results["silhouette"] = metrics.silhouette(space, labels, random_state=0)
        n_noise = int(np.sum(labels == -1))
        results["n_clusters_found"] = int(len(np.unique(labels[labels != -1])))
        if n_noise:
            results["n_noise"] = n_noise
    if y is not None:
        results["metrics"][key] = {**metrics.evaluate(y, labels), "purity": metrics.purity(y, labels)}
        say(f"{methods.NAMES[key]}: " + metrics_line(results["metrics"][key]))
    if silhouette:
        say(f"silhouette {results['silhouette']:.4f}, {results['n_clusters_found']} clusters"
            + (f", {results['n_noise']} noise points" if results.get("n_noise") else ""))


def metrics_line(scores):
    return "  ".join(f"{k.upper()} {v:.4f}" for k, v in scores.items())


def save_plots(out, x, y, labels, fitted=None):
    """Confusion matrix, cluster image grids, training curves and a t-SNE map
    of the embedding as PNG files in ``out``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from deepcluster_keras import plots

    paths = {}
    trained = fitted is not None and getattr(fitted, "maxiter", 1) > 0
    if trained and len(fitted.history_["delta_label"]) > 1:
        axes = plots.plot_training_curves(fitted.history_, tol=getattr(fitted, "tol", None))
        paths["training_curves"] = plots.save_figure(axes, layout.plot_file(out, "training_curves"))
    if y is not None:
        ax = plots.plot_confusion_matrix(y, labels, title="clusters vs classes")
        paths["confusion_matrix"] = plots.save_figure(ax, layout.plot_file(out, "confusion_matrix"))
    if hasattr(fitted, "transform"):
        ax = plots.plot_embedding(fitted.transform(x), labels)
        paths["embedding_tsne"] = plots.save_figure(ax, layout.plot_file(out, "embedding_tsne"))
    grids = [("cluster_grid", labels)]
    if trained and hasattr(fitted, "kmeans_labels_"):
        grids.append(("cluster_grid_kmeans", fitted.kmeans_labels_))
    for name, grid_labels in grids:
        try:
            ax = plots.plot_cluster_grid(x, grid_labels, title=name.replace("_", " "))
        except ValueError:  # not images: no grid
            continue
        paths[name] = plots.save_figure(ax, layout.plot_file(out, name))
    return paths
