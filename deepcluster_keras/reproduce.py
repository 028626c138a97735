"""Reproduce the tutorial's MNIST figures over several seeds, resumably.

``python -m deepcluster_keras reproduce --dataset mnist --seeds 0 1 2 3 4
--out results/mnist`` runs, for each seed: K-means on raw pixels, the
tutorial's autoencoder pretraining, AE + K-means, and DEC. Every stage's
result is written (atomically) as soon as it finishes, pretraining
checkpoints every few epochs, and a rerun of the same command skips what is
done: an interruption loses at most the stage in progress (and for
pretraining, at most the epochs since the last checkpoint).

``--out`` receives the small files worth keeping (``seed_<s>.json``,
``summary.json``, ``summary.md``); weights and checkpoints go to
``--work-dir`` (default ``<out>/work``), which is not meant for git.
"""

import argparse
import dataclasses
import json
import os
import time

import numpy as np

from deepcluster_keras import dec, metrics, pipeline
from deepcluster_keras.io import atomic_write_json, library_versions
from deepcluster_keras.validation import check_writable_dir

METHODS = ("kmeans_raw", "ae_kmeans", "dec")

#: Published MNIST-70k figures (ACC, and NMI / ARI where given).
PUBLISHED = {
    "kmeans_raw": {"acc": 0.532, "source": "the DEC tutorial"},
    "ae_kmeans": {"acc": 0.879, "acc_range": [0.807, 0.921],
                  "source": "a public Keras port, mean (min-max) of 10 runs"},
    "dec": {"acc": 0.962, "nmi": 0.905, "ari": 0.919, "acc_range": [0.830, 0.964],
            "source": "the DEC tutorial's single run; range: a public Keras port, 10 runs"},
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
    p.add_argument("--skip-raw-kmeans", action="store_true",
                   help="skip K-means on raw pixels")
    return p


def main(argv=None):
    from deepcluster_keras.cli import training_config

    args = parser().parse_args(argv)
    config = training_config(args, dataset=args.dataset or "mnist", out=args.out, plots=False,
                             verbose=0 if args.quiet else 2)
    reproduce(config, args.seeds, work_dir=args.work_dir,
              raw_kmeans=not args.skip_raw_kmeans)
    return 0


def reproduce(config, seeds, work_dir=None, raw_kmeans=True, x=None, y=None):
    """Run every seed (skipping finished stages) and write the summary.

    ``x`` and ``y`` replace the configured dataset when given.
    """
    config.validate()
    if not seeds:
        raise ValueError(f"Give at least one seed. Received: seeds={seeds!r}")
    out = check_writable_dir(config.out, name="out")
    work_dir = check_writable_dir(work_dir or os.path.join(out, "work"), name="work_dir")
    x, y, n_clusters = pipeline.prepare_data(config, x, y)
    if y is None:
        raise ValueError("The reproduction scores clusterings against labels: give y.")
    say = print if config.verbose else (lambda *a, **k: None)
    say(f"{config.dataset}: {x.shape[0]} samples, {n_clusters} clusters; seeds {list(seeds)}")
    for done, seed in enumerate(seeds):
        if not _is_complete(out, seed):
            say(_time_left(out, seeds[done:]))
        run_seed(config, seed, x, y, n_clusters, out, work_dir, raw_kmeans, say)
        say(f"== seed {seed} done ({done + 1}/{len(seeds)})")
        summary = summarize(out, seeds, dataset=config.dataset)  # the table grows seed by seed
    say(summary["markdown"])
    return summary


def _time_left(out, seeds_left):
    """Estimate from the seeds finished so far (in any earlier run)."""
    finished = [r for r in (_read_json(p) for p in _seed_files(out)) if r and r.get("complete")]
    todo = [s for s in seeds_left if not _is_complete(out, s)]
    if not finished:
        return f"== {len(todo)} seed(s) to run; time left known after the first"
    per_seed = np.mean([sum(r["seconds"].values()) for r in finished])
    return f"== {len(todo)} seed(s) to run, ~{len(todo) * per_seed / 60:.0f} min left at {per_seed / 60:.0f} min a seed"


def _is_complete(out, seed):
    return bool((_read_json(seed_path(out, seed)) or {}).get("complete"))


def _seed_files(out):
    return [os.path.join(out, f) for f in sorted(os.listdir(out))
            if f.startswith("seed_") and f.endswith(".json")]


def seed_path(out, seed):
    return os.path.join(out, f"seed_{seed}.json")


def run_seed(config, seed, x, y, n_clusters, out, work_dir, raw_kmeans, say):
    path = seed_path(out, seed)
    state = _read_json(path) or {
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
    if state.get("complete"):
        say(f"== seed {seed}: already done, skipped ({path})")
        return state

    def save():
        atomic_write_json(path, state)

    seed_dir = os.path.join(work_dir, f"seed_{seed}")
    os.makedirs(seed_dir, exist_ok=True)
    import keras

    if raw_kmeans and "kmeans_raw" not in state["metrics"]:
        say(f"== seed {seed}: K-means (n_init={config.n_init}) on raw pixels")
        from sklearn.cluster import KMeans

        start = time.perf_counter()
        y_pred = KMeans(n_clusters, n_init=config.n_init, random_state=seed).fit_predict(
            x.reshape(len(x), -1))
        state["seconds"]["kmeans_raw"] = time.perf_counter() - start
        state["metrics"]["kmeans_raw"] = metrics.evaluate(y, y_pred)
        say("   " + pipeline.metrics_line(state["metrics"]["kmeans_raw"]))
        save()

    weights = os.path.join(seed_dir, pipeline.AE_WEIGHTS_FILE)
    keras.utils.set_random_seed(seed)
    if os.path.isfile(weights):
        say(f"== seed {seed}: loading the pretrained autoencoder from {weights}")
        ae, encoder, _ = pipeline.pretrained_autoencoder(config, x, seed_dir, weights)
    else:
        say(f"== seed {seed}: pretraining the autoencoder, {config.pretrain_epochs} epochs")
        ae, encoder, info = pipeline.pretrained_autoencoder(config, x, seed_dir)
        state["pretrain"] = {k: v for k, v in info.items() if k != "weights"}
        state["seconds"]["pretrain"] = info["seconds"]
        state["throughput"]["pretrain_samples_per_second"] = info["samples_per_second"]
        save()

    say(f"== seed {seed}: K-means (n_init={config.n_init}) on the embedding")
    start = time.perf_counter()
    centres, y_kmeans = dec.init_centres(encoder, x, n_clusters, n_init=config.n_init,
                                         random_state=seed)
    state["seconds"]["ae_kmeans"] = time.perf_counter() - start
    state["metrics"]["ae_kmeans"] = metrics.evaluate(y, y_kmeans)
    say("   " + pipeline.metrics_line(state["metrics"]["ae_kmeans"]))
    save()

    say(f"== seed {seed}: DEC self-training")
    model = dec.build_clustering_model(encoder, n_clusters, centres=centres, alpha=config.alpha)
    training = dec.self_train(
        model, x, y, y_pred_init=y_kmeans, maxiter=config.maxiter,
        update_interval=config.update_interval, tol=config.tol,
        batch_size=config.batch_size, verbose=config.verbose)
    state["metrics"]["dec"] = metrics.evaluate(y, training.labels)
    state["self_training"] = training.to_dict()
    state["seconds"]["dec"] = training.seconds
    state["throughput"]["self_training_iterations_per_second"] = training.to_dict()[
        "iterations_per_second"]
    state["complete"] = True
    say("   " + pipeline.metrics_line(state["metrics"]["dec"]))
    save()
    return state


def summarize(out, seeds, dataset="mnist"):
    """Per method: each seed's ACC/NMI/ARI, min/median/max, published figure."""
    runs = {s: _read_json(seed_path(out, s)) for s in seeds}
    runs = {s: r for s, r in runs.items() if r}
    summary = {"seeds": sorted(runs), "complete_seeds": sorted(s for s, r in runs.items() if r.get("complete")),
               "methods": {}}
    for method in METHODS:
        per_seed = {s: r["metrics"][method] for s, r in runs.items() if method in r["metrics"]}
        if not per_seed:
            continue
        stats = {}
        for key in ("acc", "nmi", "ari"):
            values = np.array([m[key] for m in per_seed.values()])
            stats[key] = {"min": float(values.min()), "median": float(np.median(values)),
                          "max": float(values.max())}
        summary["methods"][method] = {
            "per_seed": per_seed,
            "stats": stats,
            "published": PUBLISHED.get(method) if dataset == "mnist" else None,
        }
    summary["seconds_per_seed"] = {s: r["seconds"] for s, r in runs.items()}
    summary["throughput_per_seed"] = {s: r.get("throughput", {}) for s, r in runs.items()}
    summary["markdown"] = markdown_table(summary)
    atomic_write_json(os.path.join(out, "summary.json"), summary)
    with open(os.path.join(out, "summary.md.tmp"), "w") as f:
        f.write(summary["markdown"] + "\n")
    os.replace(os.path.join(out, "summary.md.tmp"), os.path.join(out, "summary.md"))
    return summary


def markdown_table(summary):
    names = {"kmeans_raw": "K-means, raw pixels", "ae_kmeans": "AE + K-means", "dec": "DEC"}
    lines = ["| method | seeds | ACC per seed | ACC min / median / max | NMI median | ARI median | published ACC |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for method, entry in summary["methods"].items():
        accs = ", ".join(f"{s}: {m['acc']:.3f}" for s, m in sorted(entry["per_seed"].items()))
        st = entry["stats"]
        pub = entry["published"] or {}
        published = "" if not pub else f"{pub['acc']:.3f}" + (
            f" ({pub['acc_range'][0]:.3f}-{pub['acc_range'][1]:.3f})" if "acc_range" in pub else "")
        lines.append(
            f"| {names[method]} | {len(entry['per_seed'])} | {accs} | "
            f"{st['acc']['min']:.3f} / {st['acc']['median']:.3f} / {st['acc']['max']:.3f} | "
            f"{st['nmi']['median']:.3f} | {st['ari']['median']:.3f} | {published} |")
    lines += ["", "| seed | K-means raw (min) | pretraining (min) | AE + K-means (min) | DEC (min) "
              "| pretraining samples/s | DEC iterations/s |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for seed, seconds in sorted(summary["seconds_per_seed"].items()):
        throughput = summary["throughput_per_seed"].get(seed, {})
        cells = [f"{seconds[k] / 60:.1f}" if k in seconds else "" for k in
                 ("kmeans_raw", "pretrain", "ae_kmeans", "dec")]
        cells += [f"{throughput[k]:.0f}" if throughput.get(k) else "" for k in
                  ("pretrain_samples_per_second", "self_training_iterations_per_second")]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _read_json(path):
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


