"""Reproduce the tutorial's figures over several seeds, resumably.

:func:`reproduce` runs, for each seed: K-means on the raw data, the
autoencoder pretraining, AE + K-means and DEC (the tutorial's three
figures), and any other method of :mod:`deepcluster_keras.methods`, every
one of a seed from the same pretrained autoencoder. Each result is written
(atomically) to ``<out>/seed_<s>.json`` as soon as it is known, and the
summary (:mod:`deepcluster_keras.report`) grows seed by seed; a rerun skips
what is done, so an interruption loses at most the stage in progress
(pretraining and self-training checkpoint as they go).

Weights and checkpoints go to ``work_dir`` (default ``<out>/work``), which
is not meant for git. A seed whose weights are gone (a new checkout) runs
its autoencoder-based results again on a newly pretrained autoencoder, so
that one seed's row never mixes two embeddings.
"""

import hashlib
import json
import os
import time

import numpy as np

from deepcluster_keras import autoencoders, classical, layout, methods, metrics, report, training
from deepcluster_keras.datasets import load_data
from deepcluster_keras.machine import library_versions
from deepcluster_keras.persistence import atomic_write_json, read_json
from deepcluster_keras.validation import check_labels, check_writable_dir

WEIGHTS_STAMP = "weights_version.json"
#: Settings that decide a seed's pretrained autoencoder.
PRETRAINING_FIELDS = ("dataset", "autoencoder", "pretrain_epochs", "batch_size", "pretrain_optimizer")


def reproduce(recipe=None, seeds=(0, 1, 2, 3, 4), *, dataset="mnist", data_dir=None,
              out="results/mnist", work_dir=None, methods_=methods.TUTORIAL_METHODS, verbose=2,
              x=None, y=None, callbacks=None):
    """Run ``methods_`` for every seed (skipping finished ones); write the summary
    of every seed in ``out``, those of earlier runs included.

    ``recipe`` overrides the estimators' defaults; ``x`` and ``y`` replace
    ``dataset`` when given; ``callbacks``: Keras callbacks of the training,
    where the method's ``fit`` takes them (:func:`methods.fit`). Returns the
    summary (see :func:`report.summarize`).
    """
    recipe = {**methods.recipe_defaults(), **(recipe or {})}
    seeds = list(seeds)
    if not seeds:
        raise ValueError(f"Give at least one seed. Received: seeds={seeds!r}")
    todo_methods = methods.check_methods(methods_)
    recipe = methods.with_method_params(recipe, todo_methods)
    for method in todo_methods:  # every setting is checked before anything runs
        methods.estimator(method, {**recipe, "n_clusters": 2})._validate_params()
    if x is None:
        x, y = load_data(dataset, data_dir=data_dir, image_shaped=recipe["autoencoder"] == "conv")
    y = check_labels(y, len(x))
    if y is None:
        raise ValueError("The reproduction scores clusterings against labels: give y.")
    out = check_writable_dir(out, name="out")  # only now: an error above leaves no folder
    work_dir = check_writable_dir(work_dir or os.path.join(out, "work"), name="work_dir")
    recipe = methods.resolved_recipe({**recipe, "n_clusters": len(np.unique(y))})
    for path in layout.seed_files(out):  # one recipe per folder, whichever seeds run now
        if state := read_json(path):
            _check_same_recipe(state, {"dataset": dataset, **recipe}, path)
    say = print if verbose else (lambda *a, **k: None)
    say(f"{dataset}: {len(x)} samples, {recipe['n_clusters']} clusters; seeds {seeds}", flush=True)
    shared = methods.shared_autoencoder_methods(recipe)
    for done, seed in enumerate(seeds):
        if not _is_complete(out, seed, todo_methods, shared):
            say(_time_left(out, seeds[done:], todo_methods, work_dir, shared), flush=True)
        Seed(recipe, dataset, seed, out, work_dir, verbose, shared, callbacks).run(
            x, y, todo_methods)
        say(f"== seed {seed} done ({done + 1}/{len(seeds)})", flush=True)
        summary = report.summarize(out)  # every seed in the folder, growing seed by seed
    say(summary["markdown"])
    return summary


class Seed:
    """One seed's results in ``<out>/seed_<seed>.json``, its weights and
    checkpoints in ``<work_dir>/seed_<seed>``."""

    def __init__(self, recipe, dataset, seed, out, work_dir, verbose, shared, callbacks=None):
        self.recipe, self.dataset, self.seed, self.verbose = recipe, dataset, seed, verbose
        self.callbacks = callbacks
        self.path = layout.seed_file(out, seed)
        self.work = layout.seed_work_dir(work_dir, seed)
        self.weights = layout.seed_ae_weights(work_dir, seed)
        self.shared = shared  # methods.shared_autoencoder_methods(recipe), worked out once

    def say(self, text):
        if self.verbose:
            print(f"== seed {self.seed}: {text}", flush=True)

    def run(self, x, y, todo_methods):
        """Run the ``todo_methods`` that the seed's JSON does not hold yet."""
        self.state = read_json(self.path) or {
            "seed": self.seed, "dataset": self.dataset, "n_samples": int(len(x)),
            "config": {"dataset": self.dataset, **self.recipe}, "versions": library_versions(),
            "metrics": {}, "seconds": {}, "throughput": {}, "training": {}, "complete": False,
        }
        # (reproduce checked its recipe against every seed file of the folder.)
        # Methods added to a finished seed record their own parameters beside the others'.
        own = {m: p for m, p in self.recipe.get(methods.METHOD_PARAMS, {}).items()
               if m not in self.state["metrics"]}
        if own:
            stored = self.state["config"].setdefault(methods.METHOD_PARAMS, {})
            stored.update(own)
        todo = [m for m in todo_methods if not _done(self.state, m, self.shared)]
        if not todo:
            self.say(f"already done, skipped ({self.path})")
            return self.state
        self.state["complete"] = False
        if "kmeans_raw" in todo:
            self.say(f"K-means (n_init={self.recipe['n_init']}) on the raw data")
            start = time.perf_counter()
            labels = classical.cluster(x.reshape(len(x), -1), "kmeans", self.recipe["n_clusters"],
                                       random_state=self.seed, n_init=self.recipe["n_init"])
            self._record("kmeans_raw", y, labels, time.perf_counter() - start)
        for method in (m for m in todo if m not in self.shared and m != "kmeans_raw"):
            os.makedirs(self.work, exist_ok=True)  # the raw data, or an autoencoder of its own
            self._train(method, x, y, ae_weights=None)
        if any(m in self.shared for m in todo):
            self._autoencoder_methods(x, y, todo_methods)
        self.state["complete"] = all(_done(self.state, m, self.shared) for m in todo_methods)
        self._save()
        return self.state

    def _autoencoder_methods(self, x, y, todo_methods):
        os.makedirs(self.work, exist_ok=True)
        _check_work_folder(self.work, {"dataset": self.dataset, **self.recipe}, self.seed)
        if not os.path.isfile(self.weights):
            self._forget_results_of_lost_weights()
        todo = [m for m in todo_methods if m not in self.state["metrics"] and m in self.shared]
        embedding_methods = [m for m in todo if m.startswith("ae_")]
        if embedding_methods or not os.path.isfile(self.weights):
            pretrained = os.path.isfile(self.weights)
            self.say("loading the pretrained autoencoder" if pretrained else
                     f"pretraining the autoencoder, {self.recipe['pretrain_epochs']} epochs")
            try:
                fitted = self._fit("ae_kmeans", x, None, "pretraining",
                                   ae_weights=self.weights if pretrained else None)
            except training.PretrainingCollapsed as collapse:
                self._record_collapse(collapse)
                return
            if not pretrained:
                fitted.save_autoencoder_weights(self.weights)
                self.state["pretrain"] = {**fitted.pretrain_,
                                          "weights_version": autoencoders.WEIGHTS_VERSION}
                self.state["seconds"]["pretrain"] = fitted.pretrain_["seconds"]
                self.state["throughput"]["pretrain_samples_per_second"] = \
                    fitted.pretrain_["samples_per_second"]
                self._save()
            for method in embedding_methods:
                self.say(f"{methods.NAMES[method]}")
                labels, seconds = methods.cluster_embedding(method, fitted, x,
                                                            self.recipe["n_clusters"], self.seed,
                                                            self.recipe["n_init"])
                self._record(method, y, labels, seconds)
        for method in (m for m in todo if m in methods.TRAINED):
            self._train(method, x, y, ae_weights=self.weights)

    def _train(self, method, x, y, ae_weights):
        """Fit a training method's estimator and record what it did."""
        self.say(f"{methods.NAMES[method]} training")
        fitted = self._fit(method, x, y, _checkpoint_name(method, _recipe_of(method, self.recipe)),
                           ae_weights=ae_weights)
        self.state["training"][method] = fitted.training_record()
        self.state.setdefault("params", {})[method] = methods.params_record(fitted)
        seconds = fitted.seconds_["training"]
        if hasattr(fitted, "n_iter_"):
            self.state["throughput"][f"{method}_iterations_per_second"] = \
                fitted.n_iter_ / seconds if seconds else None
        if method not in self.shared and hasattr(fitted, "pretrain_"):  # its own autoencoder
            self.state.setdefault("own_pretrain", {})[method] = fitted.pretrain_
            seconds += fitted.seconds_["pretrain"]
        self._record(method, y, fitted.labels_, seconds)

    def _fit(self, method, x, y, checkpoint, ae_weights):
        """The method's estimator, fitted from the seed (and its weights)."""
        fitted = methods.estimator(method, self.recipe, ae_weights=ae_weights,
                                   random_state=self.seed, verbose=min(self.verbose, 1),
                                   checkpoint_dir=os.path.join(self.work, checkpoint))
        return methods.fit(fitted, x, y, self.callbacks)

    def _record_collapse(self, collapse):
        """A seed whose pretraining collapsed keeps the record of it, and is
        done: the autoencoder methods do not run on it (rerunning would
        collapse again)."""
        self.state["pretrain"] = {"collapsed": {"epoch": collapse.epoch, "loss": collapse.loss,
                                                "data_variance": collapse.data_variance}}
        self.say(f"{collapse} The autoencoder methods do not run on this seed (recorded in "
                 f"{self.path}; delete that file to try again).")
        self._save()

    def _forget_results_of_lost_weights(self):
        """Results recorded from an autoencoder whose weights are gone (a new
        checkout: work/ is not in git) would mix with results from the new
        one in this seed's row: they run again on the new autoencoder."""
        stale = [m for m in self.state["metrics"] if m in self.shared]
        if not stale:
            return
        self.say(f"{self.weights} is missing, so {', '.join(methods.NAMES[m] for m in stale)} "
                 "run again on a newly pretrained autoencoder")
        for m in stale:
            for part in ("metrics", "confusion", "noise_points", "seconds", "training"):
                self.state.get(part, {}).pop(m, None)
            self.state["throughput"].pop(f"{m}_iterations_per_second", None)

    def _record(self, method, y, labels, seconds):
        self.state["metrics"][method] = metrics.evaluate(y, labels)
        self.state["seconds"][method] = seconds
        # Clusters (rows) against classes: shows which classes a run merged.
        self.state.setdefault("confusion", {})[method] = metrics.confusion(y, labels).tolist()
        if np.any(labels == -1):
            self.state.setdefault("noise_points", {})[method] = int(np.sum(labels == -1))
        self.say(f"{methods.NAMES[method]}: "
                 + "  ".join(f"{k.upper()} {v:.4f}" for k, v in self.state["metrics"][method].items()))
        self._save()

    def _save(self):
        atomic_write_json(self.path, self.state)


def _done(state, method, shared):
    """Whether ``state`` (a seed's JSON) holds ``method``'s result, or it cannot
    have one: a method of the ``shared`` autoencoder on a seed whose
    pretraining collapsed."""
    return method in state.get("metrics", {}) or (method in shared and report.collapsed(state))


def _is_complete(out, seed, todo_methods, shared):
    state = read_json(layout.seed_file(out, seed)) or {}
    return all(_done(state, m, shared) for m in todo_methods)


def _time_left(out, seeds_left, todo_methods, work_dir, shared):
    """Estimate the time the ``todo_methods`` still missing from ``seeds_left``
    take, from each method's mean time in the folder's seeds so far (and
    pretraining's, for a seed whose autoencoder is not in ``work_dir`` yet)."""
    runs = {r["seed"]: r for r in (read_json(p) for p in layout.seed_files(out)) if r}
    times = {}
    for run in runs.values():
        for stage, seconds in run.get("seconds", {}).items():
            if seconds:
                times.setdefault(stage, []).append(seconds)
    stages = []  # one list of stages to run per seed left
    for seed in seeds_left:
        missing = [m for m in todo_methods if not _done(runs.get(seed, {}), m, shared)]
        weights = layout.seed_ae_weights(work_dir, seed)
        if any(m in shared for m in missing) and not os.path.isfile(weights):
            missing.append("pretrain")
        if missing:
            stages.append(missing)
    unknown = sorted({stage for seed_stages in stages for stage in seed_stages} - set(times))
    if unknown:
        names = ", ".join(methods.NAMES.get(stage, "pretraining") for stage in unknown)
        return f"== {len(stages)} seed(s) to run; time left known once {names} has run on one"
    left = sum(np.mean(times[stage]) for seed_stages in stages for stage in seed_stages)
    return f"== {len(stages)} seed(s) to run, ~{left / 60:.0f} min left by the times so far"


#: Recipe parameters added after work folders were named: at the value their
#: absence means they are left out of the checkpoint's name, so that running
#: work keeps its folder. ``augment`` is named always: it was in the names
#: before ``ADDED_LATER`` listed it.
_NAMED_ONLY_WHEN_SET = {k: v for k, v in methods.ADDED_LATER.items() if k != "augment"}


def _checkpoint_name(method, recipe):
    """Self-training resumes from a checkpoint in the seed's work folder. Folders
    sharing a work folder (``work_dir``) share it only when their recipes
    agree, and then their runs are the same run."""
    recipe = {k: v for k, v in recipe.items()
              if k not in _NAMED_ONLY_WHEN_SET or v != _NAMED_ONLY_WHEN_SET[k]}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    return f"self_training_{method}_{digest}"


def _recipe_of(method, recipe):
    """``recipe`` with the own parameters of ``method`` only, so that setting
    another method's parameters keeps this one's checkpoint."""
    own = recipe.get(methods.METHOD_PARAMS, {}).get(method)
    recipe = {k: v for k, v in recipe.items() if k != methods.METHOD_PARAMS}
    return {**recipe, methods.METHOD_PARAMS: own} if own else recipe


def _check_work_folder(work, recipe, seed):
    """Refuse weights that older model code or other pretraining settings made
    (a ``work_dir`` shared between folders); stamp a new folder."""
    stamp_path = os.path.join(work, WEIGHTS_STAMP)
    current = {"weights_version": autoencoders.WEIGHTS_VERSION,
               "pretraining": {**{k: recipe[k] for k in PRETRAINING_FIELDS}, "seed": seed}}
    if recipe.get("augment"):  # DEC-DA's transformed batches (absent in older stamps: False)
        current["pretraining"]["augment"] = True
    stamp = read_json(stamp_path)
    if stamp is None:
        if os.listdir(work):
            raise ValueError(f"{work} holds files but no {WEIGHTS_STAMP}, so which code and "
                             "settings made its weights is unknown: delete it to pretrain again.")
        atomic_write_json(stamp_path, current)
        return
    if stamp["weights_version"] != autoencoders.WEIGHTS_VERSION:
        raise ValueError(
            f"{work} holds weights of weights_version={stamp['weights_version']!r}, "
            f"but this code makes weights_version={autoencoders.WEIGHTS_VERSION} (see "
            "autoencoders.WEIGHTS_VERSION): reusing them would mix two models in one table. "
            f"Delete {work} to pretrain this seed again.")
    changed = _differences(stamp["pretraining"], current["pretraining"], current["pretraining"])
    if changed:
        raise ValueError(
            f"{work} holds an autoencoder pretrained with other settings ({'; '.join(changed)}). "
            "Give these settings a work folder of their own (--work-dir), or use the settings "
            "it was pretrained with.")


def _check_same_recipe(state, recipe, path):
    """Refuse to mix results of different settings in one folder."""
    changed = methods.recipe_differences(state["config"], recipe, state["metrics"])
    if changed:
        said = "; ".join(f"{k}={a!r} there, {b!r} now" if not k.endswith(" parameters")
                         else f"{k} {a!r} there, {b!r} now" for k, a, b in changed)
        raise ValueError(
            f"{path} was made with other settings ({said}). Give another --out "
            "folder for these settings, or rerun with the same ones to continue.")


def _differences(stored, current, keys):
    """``["key=<stored> there, <current> now", ...]`` for the keys that differ."""
    return [f"{k}={stored.get(k)!r} there, {current[k]!r} now" for k in keys
            if stored.get(k) != current[k]]
