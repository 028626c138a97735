"""Reproduce the tutorial's MNIST figures over several seeds, resumably.

``python -m deepcluster_keras reproduce --dataset mnist --seeds 0 1 2 3 4
--out results/mnist`` runs, for each seed: K-means on raw pixels, the
tutorial's autoencoder pretraining, AE + K-means, and DEC. Every stage's
result is written (atomically) as soon as it finishes, pretraining
checkpoints every few epochs, and a rerun of the same command skips what is
done: an interruption loses at most the stage in progress (and for
pretraining, at most the epochs since the last checkpoint).

``--methods`` adds methods beyond the tutorial's three (IDEC, and classical
algorithms on the same pretrained embedding); a rerun with more methods adds
them to finished seeds without pretraining again. ``--autoencoder conv``
runs the convolutional (DCEC) variants. ``reproduce --table DIR ...`` prints
one table (mean, standard deviation, min-max) over several finished runs.

``--out`` receives the small files worth keeping (``seed_<s>.json``,
``summary.json``, ``summary.md``); weights and checkpoints go to
``--work-dir`` (default ``<out>/work``), which is not meant for git. A
partial seed whose weights are gone (a new checkout) runs its
autoencoder-based results again on a newly pretrained autoencoder, so that
one seed's row never mixes two embeddings.
"""

import argparse
import dataclasses
import hashlib
import json
import os
import warnings

import numpy as np

from deepcluster_keras import autoencoders, classical, dec, metrics, pipeline
from deepcluster_keras.io import atomic_write_json, atomic_write_text, library_versions, read_json
from deepcluster_keras.validation import check_writable_dir

#: The tutorial's three results, run by default.
METHODS = ("kmeans_raw", "ae_kmeans", "dec")
#: Everything the reproduction can run on one pretrained autoencoder.
ALL_METHODS = ("kmeans_raw",) + tuple(f"ae_{m}" for m in classical.METHODS) + ("dec", "idec")
NAMES = {"kmeans_raw": "K-means, raw data", "ae_kmeans": "AE + K-means", "ae_gmm": "AE + GMM",
         "ae_agglomerative": "AE + agglomerative", "ae_spectral": "AE + spectral",
         "ae_dbscan": "AE + DBSCAN", "dec": "DEC", "idec": "IDEC"}
#: Settings that change the results: a folder holds runs of one recipe only.
RECIPE_FIELDS = ("dataset", "autoencoder", "n_clusters", "pretrain_epochs", "pretrain_batch_size",
                 "pretrain_optimizer", "n_init", "alpha", "gamma", "optimizer", "maxiter",
                 "update_interval", "tol", "batch_size")

#: Published figures (ACC, and NMI / ARI where given), by dataset and autoencoder.
PUBLISHED = {
    ("mnist", "dense"): {
        "kmeans_raw": {"acc": 0.532, "source": "the DEC tutorial"},
        "ae_kmeans": {"acc": 0.879, "acc_range": [0.807, 0.921],
                      "source": "a public Keras port, mean (min-max) of 10 runs"},
        "dec": {"acc": 0.962, "nmi": 0.905, "ari": 0.919, "acc_range": [0.830, 0.964],
                "source": "the DEC tutorial's single run; range: a public Keras port, 10 runs"},
        "idec": {"acc": 0.881, "source": "the IDEC paper (Guo et al., 2017)"},
    },
    ("mnist", "conv"): {
        # DCEC keeps the decoder (gamma 0.1): convolutional IDEC, with Adam
        # self-training and maxiter 20000 in its code.
        "idec": {"acc": 0.890, "source": "the DCEC paper (Guo et al., 2017)"},
    },
    ("fashion_mnist", "dense"): {
        "kmeans_raw": {"acc": 0.47, "source": "a public Keras port, mean of 10 runs"},
        "ae_kmeans": {"acc": 0.61, "source": "a public Keras port, mean of 10 runs"},
        "dec": {"acc": 0.62, "source": "a public Keras port, mean of 10 runs"},
    },
}


def parser():
    from deepcluster_keras.cli import _add_training_options

    p = argparse.ArgumentParser(
        prog="python -m deepcluster_keras reproduce",
        description=__doc__.split("\n\n")[1],
    )
    _add_training_options(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                   help="seeds to run, fixed in advance (default: 0 1 2 3 4)")
    p.add_argument("--out", default="results/mnist",
                   help="folder for the per-seed JSON files and the summary (default: %(default)s)")
    p.add_argument("--work-dir", default=None,
                   help="folder for weights and checkpoints (default: <out>/work)")
    p.add_argument("--methods", nargs="+", choices=ALL_METHODS, default=list(METHODS),
                   metavar="METHOD",
                   help=f"what to run per seed, from {', '.join(ALL_METHODS)} "
                   f"(default: {' '.join(METHODS)})")
    p.add_argument("--skip-raw-kmeans", action="store_true",
                   help="leave kmeans_raw out of --methods")
    p.add_argument("--table", nargs="+", metavar="DIR", default=None,
                   help="run nothing: print one Markdown table of the summaries in these "
                   "folders (mean, standard deviation, min-max)")
    return p


def main(argv=None):
    from deepcluster_keras.cli import training_config

    args = parser().parse_args(argv)
    if args.table:
        print(comparison_table(args.table))
        return 0
    config = training_config(args, dataset=args.dataset or "mnist", out=args.out,
                             plots=False, verbose=0 if args.quiet else 2)
    methods = [m for m in args.methods if not (args.skip_raw_kmeans and m == "kmeans_raw")]
    reproduce(config, args.seeds, work_dir=args.work_dir, methods=methods)
    return 0


def reproduce(config, seeds, work_dir=None, methods=METHODS, x=None, y=None):
    """Run ``methods`` for every seed (skipping finished ones); write the summary.

    ``x`` and ``y`` replace the configured dataset when given.
    """
    config.validate()
    if not seeds:
        raise ValueError(f"Give at least one seed. Received: seeds={seeds!r}")
    methods = _check_methods(methods)
    out = check_writable_dir(config.out, name="out")
    work_dir = check_writable_dir(work_dir or os.path.join(out, "work"), name="work_dir")
    x, y, n_clusters = pipeline.prepare_data(config, x, y)
    if y is None:
        raise ValueError("The reproduction scores clusterings against labels: give y.")
    say = print if config.verbose else (lambda *a, **k: None)
    say(f"{config.dataset}: {x.shape[0]} samples, {n_clusters} clusters; seeds {list(seeds)}")
    for done, seed in enumerate(seeds):
        if not _is_complete(out, seed, methods):
            say(_time_left(out, seeds[done:], methods))
        run_seed(config, seed, x, y, n_clusters, out, work_dir, methods, say)
        say(f"== seed {seed} done ({done + 1}/{len(seeds)})")
        summary = summarize(out, seeds, dataset=config.dataset)  # the table grows seed by seed
    say(summary["markdown"])
    return summary


def _check_methods(methods):
    methods = list(dict.fromkeys(methods))  # unique, in order
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown or not methods:
        raise ValueError(f"Expected methods from {ALL_METHODS}. Received: methods={methods!r}")
    return methods


def _time_left(out, seeds_left, methods):
    """Estimate from the seeds finished so far (in any earlier run)."""
    finished = [r for r in (read_json(p) for p in _seed_files(out)) if r and r.get("complete")]
    todo = [s for s in seeds_left if not _is_complete(out, s, methods)]
    if not finished:
        return f"== {len(todo)} seed(s) to run; time left known after the first"
    per_seed = np.mean([sum(r["seconds"].values()) for r in finished])
    return f"== {len(todo)} seed(s) to run, ~{len(todo) * per_seed / 60:.0f} min left at {per_seed / 60:.0f} min a seed"


def _is_complete(out, seed, methods):
    done = (read_json(seed_path(out, seed)) or {}).get("metrics", {})
    return all(m in done for m in methods)


def _seed_files(out):
    return [os.path.join(out, f) for f in sorted(os.listdir(out))
            if f.startswith("seed_") and f.endswith(".json")]


def seed_path(out, seed):
    return os.path.join(out, f"seed_{seed}.json")


def run_seed(config, seed, x, y, n_clusters, out, work_dir, methods, say):
    """Run the ``methods`` of one seed that its JSON does not hold yet."""
    path = seed_path(out, seed)
    state = read_json(path) or {
        "seed": seed,
        "dataset": config.dataset,
        "n_samples": int(len(x)),
        "config": {**dataclasses.asdict(config), "seed": seed},
        "versions": library_versions(),
        "metrics": {},
        "seconds": {},
        "throughput": {},
        "complete": False,
    }
    _check_same_recipe(state, config, path)
    todo = [m for m in methods if m not in state["metrics"]]
    if not todo:
        say(f"== seed {seed}: already done, skipped ({path})")
        return state
    state["complete"] = False

    def save():
        atomic_write_json(path, state)

    def record(method, labels):
        state["metrics"][method] = metrics.evaluate(y, labels)
        # Clusters (rows) against classes: shows which classes a run merged.
        state.setdefault("confusion", {})[method] = metrics.confusion(y, labels).tolist()
        if np.any(labels == -1):
            state.setdefault("noise_points", {})[method] = int(np.sum(labels == -1))
        say(f"   {NAMES[method]}: " + pipeline.metrics_line(state["metrics"][method]))
        save()

    if "kmeans_raw" in todo:
        say(f"== seed {seed}: K-means (n_init={config.n_init}) on the raw data")
        record("kmeans_raw", pipeline.timed(state, "kmeans_raw", classical.cluster, x, "kmeans",
                                            n_clusters, random_state=seed, n_init=config.n_init))
    if not any(m != "kmeans_raw" for m in todo):
        return _finish(state, methods, save)

    import keras

    seed_dir = os.path.join(work_dir, f"seed_{seed}")
    os.makedirs(seed_dir, exist_ok=True)
    _check_work_folder(seed_dir, config, seed)
    weights = os.path.join(seed_dir, pipeline.AE_WEIGHTS_FILE)
    keras.utils.set_random_seed(seed)
    if os.path.isfile(weights):
        say(f"== seed {seed}: loading the pretrained autoencoder from {weights}")
        ae, encoder, _ = pipeline.pretrained_autoencoder(config, x, seed_dir, weights)
    else:
        # Results recorded from an autoencoder whose weights are gone (a new
        # checkout: work/ is not in git) would mix with results from the new
        # one in this seed's row: run them again on the new autoencoder.
        stale = [m for m in state["metrics"] if m != "kmeans_raw" and m in NAMES]
        if stale:
            say(f"== seed {seed}: {weights} is missing, so "
                f"{', '.join(NAMES[m] for m in stale)} run again on a newly pretrained autoencoder")
            for m in stale:
                for part in ("metrics", "confusion", "noise_points", "seconds"):
                    state.get(part, {}).pop(m, None)
                state.pop(_TRAINING_KEY.get(m, ""), None)
                state["throughput"].pop(_ITERATIONS_KEY.get(m, ""), None)
            todo = [m for m in methods if m not in state["metrics"]]
        say(f"== seed {seed}: pretraining the autoencoder, {config.pretrain_epochs} epochs")
        ae, encoder, info = pipeline.pretrained_autoencoder(config, x, seed_dir)
        state["pretrain"] = {k: v for k, v in info.items() if k != "weights"}
        state["pretrain"]["weights_version"] = autoencoders.WEIGHTS_VERSION
        state["seconds"]["pretrain"] = info["seconds"]
        state["throughput"]["pretrain_samples_per_second"] = info["samples_per_second"]
        save()

    # K-means on the embedding: a result of its own and DEC's / IDEC's start.
    if any(m in todo for m in ("ae_kmeans", "dec", "idec")):
        say(f"== seed {seed}: K-means (n_init={config.n_init}) on the embedding")
        # Only a run that records AE + K-means records its time (not a rerun
        # for a self-training method's start).
        timing = state if "ae_kmeans" in todo else {"seconds": {}}
        centres, y_kmeans = pipeline.timed(timing, "ae_kmeans", dec.init_centres, encoder, x,
                                           n_clusters, n_init=config.n_init, random_state=seed)
        if "ae_kmeans" in todo:
            record("ae_kmeans", y_kmeans)

    classical_methods = [m for m in todo if m.startswith("ae_") and m != "ae_kmeans"]
    if classical_methods:
        z = encoder.predict(x, batch_size=dec.PREDICT_BATCH_SIZE, verbose=0)
        for method in classical_methods:
            algorithm = method[len("ae_"):]
            say(f"== seed {seed}: {algorithm} on the embedding")
            record(method, pipeline.timed(state, method, classical.cluster, z, algorithm,
                                          n_clusters, random_state=seed, n_init=config.n_init))

    for method in (m for m in ("dec", "idec") if m in todo):
        say(f"== seed {seed}: {NAMES[method]} self-training")
        # Every self-training method starts from the same pretrained weights
        # and K-means centres, whatever ran before it.
        autoencoders.load_autoencoder_weights(ae, weights)
        keras.utils.set_random_seed(seed)
        model = dec.build_clustering_model(encoder, n_clusters, centres=centres, alpha=config.alpha,
                                           autoencoder=ae if method == "idec" else None)
        training = dec.self_train(
            model, x, y, y_pred_init=y_kmeans, maxiter=config.maxiter,
            update_interval=config.update_interval, tol=config.tol,
            batch_size=config.batch_size, gamma=config.gamma,
            optimizer=pipeline.clustering_optimizer(config.optimizer), verbose=config.verbose,
            checkpoint_dir=os.path.join(seed_dir, _self_training_checkpoint_name(method, config)))
        state["seconds"][method] = training.seconds
        details = training.to_dict()
        state["throughput"][_ITERATIONS_KEY[method]] = details["iterations_per_second"]
        state[_TRAINING_KEY[method]] = details
        record(method, training.labels)
    return _finish(state, methods, save)


def _self_training_checkpoint_name(method, config):
    """Self-training resumes from a checkpoint in the seed's work folder. Folders
    sharing a work folder (``--work-dir``) share it only when their recipes
    agree, and then their runs are the same run."""
    recipe = {k: getattr(config, k) for k in RECIPE_FIELDS}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    return f"self_training_{method}_{digest}"


# Key names of the first version of these files (DEC only), kept so that
# results made before IDEC was added still read the same.
_ITERATIONS_KEY = {"dec": "self_training_iterations_per_second",
                   "idec": "idec_iterations_per_second"}
_TRAINING_KEY = {"dec": "self_training", "idec": "self_training_idec"}


def _finish(state, methods, save):
    state["complete"] = all(m in state["metrics"] for m in methods)
    save()
    return state


WEIGHTS_STAMP = "weights_version.json"
#: Settings that decide a seed's pretrained autoencoder.
PRETRAINING_FIELDS = ("dataset", "autoencoder", "pretrain_epochs", "pretrain_batch_size",
                      "pretrain_optimizer")


def _check_work_folder(seed_dir, config, seed):
    """Refuse weights that older model code or other pretraining settings made
    (a ``--work-dir`` shared between folders); stamp a new folder."""
    stamp_path = os.path.join(seed_dir, WEIGHTS_STAMP)
    current = {"weights_version": autoencoders.WEIGHTS_VERSION,
               "pretraining": {**{k: getattr(config, k) for k in PRETRAINING_FIELDS}, "seed": seed}}
    stamp = read_json(stamp_path)
    if stamp is None:
        if any(f != WEIGHTS_STAMP for f in os.listdir(seed_dir)):
            warnings.warn(
                f"{seed_dir} has no {WEIGHTS_STAMP}: its weights were saved before the "
                "stamps existed and are reused as current. If older model code made them, "
                "delete the folder to pretrain again.", stacklevel=3)
        else:
            atomic_write_json(stamp_path, current)
        return
    if stamp.get("weights_version") != autoencoders.WEIGHTS_VERSION:
        raise ValueError(
            f"{seed_dir} holds weights of weights_version={stamp.get('weights_version')!r}, "
            f"but this code makes weights_version={autoencoders.WEIGHTS_VERSION} (see "
            "autoencoders.WEIGHTS_VERSION): reusing them would mix two models in one table. "
            f"Delete {seed_dir} to pretrain this seed again.")
    changed = _differences(stamp.get("pretraining", current["pretraining"]),
                           current["pretraining"], current["pretraining"])
    if changed:
        raise ValueError(
            f"{seed_dir} holds an autoencoder pretrained with other settings "
            f"({'; '.join(changed)}). Give these settings a --work-dir of their own, or "
            "use the settings it was pretrained with.")


def _check_same_recipe(state, config, path):
    """Refuse to mix results of different settings in one folder."""
    current = dataclasses.asdict(config)
    # A setting added after a folder was made has its default value there.
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    stored = {**defaults, **state.get("config", {})} if state.get("config") else current
    # gamma only matters to a folder that holds IDEC results.
    keys = [k for k in RECIPE_FIELDS if not (k == "gamma" and "idec" not in state["metrics"])]
    changed = _differences(stored, current, keys)
    if changed:
        raise ValueError(
            f"{path} was made with other settings ({'; '.join(changed)}). Give another --out "
            "folder for these settings, or rerun with the same ones to continue.")


def _differences(stored, current, keys):
    """``["key=<stored> there, <current> now", ...]`` for the keys that differ."""
    return [f"{k}={stored.get(k)!r} there, {current[k]!r} now" for k in keys
            if stored.get(k) != current[k]]


def summarize(out, seeds, dataset="mnist"):
    """Per method: each seed's ACC/NMI/ARI, mean / std / min / median / max,
    and the published figure; written to ``summary.json`` and ``summary.md``."""
    summary = _summary(out, seeds, dataset)
    atomic_write_json(os.path.join(out, "summary.json"), summary)
    atomic_write_text(os.path.join(out, "summary.md"), summary["markdown"] + "\n")
    return summary


def _summary(out, seeds, dataset):
    runs = {s: read_json(seed_path(out, s)) for s in seeds}
    runs = {s: r for s, r in runs.items() if r}
    recipe = _recipe(runs)
    published = PUBLISHED.get((recipe.get("dataset", dataset), recipe.get("autoencoder", "dense")), {})
    summary = {"seeds": sorted(runs), "complete_seeds": sorted(s for s, r in runs.items() if r.get("complete")),
               "recipe": recipe, "methods": {}}
    for method in ALL_METHODS:
        per_seed = {s: r["metrics"][method] for s, r in runs.items() if method in r["metrics"]}
        if not per_seed:
            continue
        stats = {}
        for key in ("acc", "nmi", "ari"):
            values = np.array([m[key] for m in per_seed.values()])
            stats[key] = {"mean": float(values.mean()), "std": float(values.std()),
                          "min": float(values.min()), "median": float(np.median(values)),
                          "max": float(values.max())}
        summary["methods"][method] = {
            "per_seed": per_seed,
            "stats": stats,
            "published": published.get(method),
            # Seeds whose JSON holds the clusters-by-classes table (not the
            # first ones made).
            "mixed_classes": {s: metrics.mixed_classes(r["confusion"][method], MIXED_THRESHOLD)
                              for s, r in runs.items() if method in r.get("confusion", {})},
        }
    summary["seconds_per_seed"] = {s: r["seconds"] for s, r in runs.items()}
    summary["throughput_per_seed"] = {s: r.get("throughput", {}) for s, r in runs.items()}
    summary["markdown"] = markdown_table(summary)
    return summary


def _recipe(runs):
    """The settings the runs share (a folder holds one recipe)."""
    for run in runs.values():
        config = run.get("config", {})
        recipe = {k: config[k] for k in RECIPE_FIELDS if k in config}
        return {**recipe, "n_samples": run.get("n_samples")}
    return {}


def _recipe_line(recipe):
    if not recipe:
        return ""
    ae = recipe.get("autoencoder", "dense")
    return (f"{recipe.get('dataset')} ({recipe.get('n_samples')} samples), {ae} autoencoder, "
            f"{recipe.get('pretrain_epochs')} pretraining epochs ({recipe.get('pretrain_optimizer')}), "
            f"self-training with {recipe.get('optimizer', 'sgd')}, maxiter {recipe.get('maxiter')}, "
            f"update_interval {recipe.get('update_interval')}, tol {recipe.get('tol')}")


def markdown_table(summary):
    # Runs recorded before confusion matrices were kept have no "classes mixed up" column.
    mixed = any(entry.get("mixed_classes") for entry in summary["methods"].values())
    lines = [f"Recipe: {_recipe_line(summary.get('recipe'))}", "",
             "| method | seeds | ACC per seed | ACC min / median / max | ACC mean ± std "
             "| NMI median | ARI median | published ACC |" + (" classes mixed up, per seed |" * mixed),
             "| --- " * (8 + mixed) + "|"]
    for method, entry in summary["methods"].items():
        accs = ", ".join(f"{s}: {m['acc']:.3f}" for s, m in sorted(entry["per_seed"].items()))
        st = entry["stats"]
        lines.append(
            f"| {NAMES[method]} | {len(entry['per_seed'])} | {accs} | "
            f"{st['acc']['min']:.3f} / {st['acc']['median']:.3f} / {st['acc']['max']:.3f} | "
            f"{st['acc']['mean']:.3f} ± {st['acc']['std']:.3f} | "
            f"{st['nmi']['median']:.3f} | {st['ari']['median']:.3f} | {_published(entry['published'])} |"
            + (f" {_mixed_line(entry.get('mixed_classes', {}))} |" if mixed else ""))
    if mixed:
        lines += ["", f"Classes mixed up: those whose matched cluster holds less than "
                  f"{MIXED_THRESHOLD:.0%} of them, with the class that holds most of the rest "
                  "(metrics.mixed_classes)."]
    stages = [k for k in ("kmeans_raw", "pretrain") + ALL_METHODS[1:]
              if any(k in seconds for seconds in summary["seconds_per_seed"].values())]
    stage_names = {**NAMES, "pretrain": "pretraining"}
    rates = {"pretrain_samples_per_second": "pretraining samples/s",
             **{key: f"{NAMES[m]} iterations/s" for m, key in _ITERATIONS_KEY.items()}}
    rates = {k: v for k, v in rates.items()
             if any(k in t for t in summary["throughput_per_seed"].values())}
    lines += ["", "| seed | " + " | ".join(f"{stage_names[k]} (min)" for k in stages)
              + "".join(f" | {v}" for v in rates.values()) + " |",
              "| --- |" + " --- |" * (len(stages) + len(rates))]
    for seed, seconds in sorted(summary["seconds_per_seed"].items()):
        throughput = summary["throughput_per_seed"].get(seed, {})
        cells = [f"{seconds[k] / 60:.1f}" if k in seconds else "" for k in stages]
        cells += [f"{throughput[k]:.0f}" if throughput.get(k) else "" for k in rates]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


MIXED_THRESHOLD = 0.8


def _mixed_line(mixed):
    return ", ".join(f"{s}: " + (" ".join("+".join(map(str, g)) for g in groups) or "none")
                     for s, groups in sorted(mixed.items()))


def _published(pub):
    if not pub:
        return ""
    return f"{pub['acc']:.3f}" + (
        f" ({pub['acc_range'][0]:.3f}-{pub['acc_range'][1]:.3f})" if "acc_range" in pub else "")


def comparison_table(folders):
    """One Markdown table over several reproduction folders: per recipe and
    method, ACC mean ± std (min-max), NMI / ARI means and the published ACC."""
    lines = ["| dataset | autoencoder, pretraining | method | seeds | ACC mean ± std (min-max) "
             "| NMI mean | ARI mean | published ACC |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    found = {}
    for folder in folders:
        if not os.path.isdir(folder):
            raise FileNotFoundError(
                f"No folder {folder!r}: give folders written by "
                "`python -m deepcluster_keras reproduce --out FOLDER`.")
        # From the seed files, so that a run still in progress shows what it has.
        seeds = sorted(int(os.path.basename(p)[len("seed_"):-len(".json")])
                       for p in _seed_files(folder))
        if seeds:
            found[folder] = seeds
        else:  # a run that has not finished its first seed yet
            warnings.warn(f"{folder!r} has no seed_N.json files yet; left out of the table.",
                          stacklevel=2)
    if not found:
        raise FileNotFoundError(
            f"No seed_N.json files in any of {list(folders)!r}: give folders written by "
            "`python -m deepcluster_keras reproduce --out FOLDER`.")
    for folder, seeds in found.items():
        summary = _summary(folder, seeds, dataset=None)
        recipe = summary.get("recipe", {})
        for method, entry in summary["methods"].items():
            st = entry["stats"]
            lines.append(
                f"| {recipe.get('dataset', '?')} | {recipe.get('autoencoder', 'dense')}, "
                f"{recipe.get('pretrain_epochs', '?')} epochs{_self_training_note(recipe)} | {NAMES[method]} | "
                f"{len(entry['per_seed'])} | {st['acc']['mean']:.3f} ± {st['acc']['std']:.3f} "
                f"({st['acc']['min']:.3f}-{st['acc']['max']:.3f}) | {st['nmi']['mean']:.3f} | "
                f"{st['ari']['mean']:.3f} | {_published(entry['published'])} |")
    return "\n".join(lines)


def _self_training_note(recipe):
    """Only self-training settings other than the tutorial's are named."""
    defaults = pipeline.Config()
    notes = []
    optimizer = recipe.get("optimizer", defaults.optimizer)
    if optimizer != defaults.optimizer:
        notes.append(f"{optimizer} self-training")
    notes += [f"{key} {recipe[key]}" for key in ("maxiter", "update_interval", "tol")
              if recipe.get(key, getattr(defaults, key)) != getattr(defaults, key)]
    return "".join(f", {note}" for note in notes)


