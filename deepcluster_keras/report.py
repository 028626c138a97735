"""Reports of ``reproduce`` folders: per-folder summaries, tables over
folders, and the published figures they are compared with.

The published figures are data, with their sources, in ``published.json``
beside this module.
"""

import json
import os
import warnings

import numpy as np

from deepcluster_keras import layout, metrics
from deepcluster_keras.methods import (ADDED_LATER, METHOD_PARAMS, METHODS, NAMES, RAW_METHODS,
                                       recipe_defaults, recipe_differences, resolved_recipe)
from deepcluster_keras.persistence import atomic_write_json, atomic_write_text, read_json

#: A class counts as mixed up when its matched cluster holds less than this share of it.
MIXED_THRESHOLD = 0.8
PUBLISHED_FILE = os.path.join(os.path.dirname(__file__), "published.json")


def _published_data():
    with open(PUBLISHED_FILE) as f:
        return json.load(f)


def published(dataset, autoencoder="dense", params=None, augment=False, recorded=()):
    """The published figures of ``dataset`` with ``autoencoder``, by method.

    A figure that names the method's ``params`` it was made with (IMSAT's
    VAT and RPT) is left out where ``params`` (``{method: {name: value}}``,
    the parameters a run set or recorded) set them otherwise; without
    ``params``, the method's first figure. A figure marked
    ``"params_recorded": true`` (deep RIM's: RIM was linear before runs
    recorded their parameters) goes only with the methods in ``recorded``,
    those whose parameters the runs recorded. The figures of DEC-DA
    (``"augment": true``) go with ``augment`` only.
    """
    params = params or {}
    figures = {}
    for f in _published_data()["figures"]:
        own = params.get(f["method"], {})
        if (f["dataset"] == dataset and f["autoencoder"] == autoencoder
                and f.get("augment", False) == bool(augment)
                and (not f.get("params_recorded") or f["method"] in recorded)
                and all(own.get(k, v) == v for k, v in f.get("params", {}).items())):
            figures.setdefault(f["method"], f)
    return figures


def published_pretraining_loss():
    """The tutorial's logged MNIST pretraining loss: ``{epoch: loss}`` and its source."""
    entry = _published_data()["pretraining_loss"]
    return {int(e): v for e, v in entry["loss_by_epoch"].items()}, entry["source"]


def wilson_interval(successes, n, z=1.959964):
    """The Wilson score interval of a proportion (95% by default)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


def collapsed(run):
    """Whether ``run`` (a seed's JSON) records a pretraining that collapsed."""
    return "collapsed" in (run.get("pretrain") or {})


def tutorial_rates(folder):
    """How often the seeds in ``folder`` reach the tutorial's figures (DEC ACC >= 0.96,
    AE + K-means ACC >= 0.90): count, seeds, Wilson 95% interval, and Fisher's exact
    test against the public port's runs (``published.json``). A seed whose pretraining
    collapsed counts as one that did not reach them."""
    from scipy.stats import fisher_exact

    port = _published_data()["runs_reaching"]
    runs = [read_json(p) for p in layout.seed_files(folder)]
    rates = {}
    for method, threshold, key in (("dec", 0.96, "dec_acc_at_least_0.96"),
                                   ("ae_kmeans", 0.90, "ae_kmeans_acc_at_least_0.90")):
        accs = [r["metrics"][method]["acc"] for r in runs if method in r["metrics"]]
        if accs:
            accs += [0.0 for r in runs if collapsed(r)]
        k, n = sum(a >= threshold for a in accs), len(accs)
        theirs = port[key]
        rates[method] = {
            "threshold": threshold, "reached": k, "seeds": n, "interval": wilson_interval(k, n),
            "port": [theirs, port["runs"]],
            "fisher_p": float(fisher_exact([[k, n - k], [theirs, port["runs"] - theirs]])[1]),
        }
    return rates


def rate_line(folder):
    """One Markdown line per criterion of :func:`tutorial_rates`."""
    lines = []
    for method, rate in tutorial_rates(folder).items():
        if not rate["seeds"]:  # a folder without this method (other methods on the recipe)
            continue
        lo, hi = rate["interval"]
        lines.append(
            f"- {NAMES[method]} ACC >= {rate['threshold']:.2f}: {rate['reached']} of "
            f"{rate['seeds']} seeds in `{os.path.normpath(folder)}` (95% Wilson interval "
            f"{lo:.2f}-{hi:.2f}); the port: {rate['port'][0]} of {rate['port'][1]} (Fisher's exact "
            f"test p = {rate['fisher_p']:.2f})")
    return lines


def summarize(out, seeds=None):
    """Per method: each seed's ACC/NMI/ARI, mean / std / min / median / max,
    and the published figure; written to ``summary.json`` and ``summary.md``.

    ``seeds=None`` (the default) summarises every seed file in ``out``, so
    that a run of some seeds rewrites the summary of the whole folder.
    """
    summary = _summary(out, layout.folder_seeds(out) if seeds is None else seeds)
    json_path, markdown_path = layout.summary_files(out)
    atomic_write_json(json_path, summary)
    atomic_write_text(markdown_path, summary["markdown"] + "\n")
    return summary


def _summary(out, seeds):
    runs = {s: read_json(layout.seed_file(out, s)) for s in seeds}
    runs = {s: r for s, r in runs.items() if r}
    recipe = next((r["config"] for r in runs.values()), {})
    _warn_mixed_recipes(out, runs)
    recorded = {}  # {method: the parameters a run recorded (reproduce.Seed._train)}
    for run in runs.values():
        for method, values in run.get("params", {}).items():
            recorded.setdefault(method, values)
    set_params = recipe.get(METHOD_PARAMS) or {}
    figures = published(recipe.get("dataset"), recipe.get("autoencoder", "dense"),
                        {m: {**recorded.get(m, {}), **set_params.get(m, {})}
                         for m in set(recorded) | set(set_params)},
                        augment=recipe.get("augment", False), recorded=set(recorded))
    summary = {"seeds": sorted(runs), "complete_seeds": sorted(s for s, r in runs.items() if r["complete"]),
               "recipe": {**recipe, "n_samples": next((r["n_samples"] for r in runs.values()), None)},
               # Methods that pretrained an autoencoder of their own (reproduce.Seed._train).
               "own_autoencoder": sorted({m for r in runs.values() for m in r.get("own_pretrain", {})}),
               "methods": {}}
    for method in METHODS:
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
            "published": figures.get(method),
            "mixed_classes": {s: metrics.mixed_classes(r["confusion"][method], MIXED_THRESHOLD)
                              for s, r in runs.items() if method in r.get("confusion", {})},
        }
    summary["collapsed_seeds"] = {s: r["pretrain"]["collapsed"]["epoch"] for s, r in runs.items()
                                  if collapsed(r)}
    summary["seconds_per_seed"] = {s: r["seconds"] for s, r in runs.items()}
    summary["throughput_per_seed"] = {s: r["throughput"] for s, r in runs.items()}
    summary["markdown"] = markdown_table(summary)
    return summary


def _warn_mixed_recipes(out, runs):
    """A folder's table describes one recipe: say so when its seeds differ."""
    first_seed, first = next(iter(runs.items()), (None, None))
    for seed, run in runs.items():
        trained = [m for m in run["metrics"] if m in first["metrics"]]
        differs = [k for k, _, _ in recipe_differences(first["config"], run["config"], trained)]
        if differs:
            warnings.warn(
                f"{out!r}: seed {seed} was made with other settings than seed {first_seed} "
                f"({', '.join(differs)}); the summary's recipe line is seed {first_seed}'s. "
                "Keep one recipe per folder.", stacklevel=3)


def _recipe_line(recipe, methods_=(), own_autoencoder=()):
    if not recipe:
        return ""
    if methods_ and all(m in RAW_METHODS for m in methods_):
        return (f"{recipe['dataset']} ({recipe['n_samples']} samples), the raw data (no "
                "autoencoder), each method with its own defaults" + _own_params_note(recipe, ", except "))
    if methods_ and all(m in RAW_METHODS or m in own_autoencoder for m in methods_):
        return (f"{recipe['dataset']} ({recipe['n_samples']} samples), "
                + ", ".join(NAMES[m] for m in methods_ if m in own_autoencoder)
                + f" pretraining an autoencoder of its own ({recipe['autoencoder']}, "
                f"{recipe['pretrain_epochs']} epochs), each method with its own defaults"
                + _own_params_note(recipe, ", except "))
    return (f"{recipe['dataset']} ({recipe['n_samples']} samples), {recipe['autoencoder']} autoencoder, "
            f"{recipe['pretrain_epochs']} pretraining epochs ({recipe['pretrain_optimizer']}), "
            f"self-training with {recipe['optimizer']}{_learning_rate_note(recipe)}, "
            f"maxiter {recipe['maxiter']}, update_interval {recipe['update_interval']}, tol {recipe['tol']}"
            + (", images shifted and rotated in both stages (DEC-DA)" if recipe.get("augment") else "")
            + _own_params_note(recipe, "; "))


def _learning_rate_note(recipe):
    """A self-training learning rate other than the optimizer's default (FcIDEC-DA's 1.0)."""
    rate = recipe.get("learning_rate")
    return "" if rate is None else f" (learning rate {rate})"


def _own_params_note(recipe, prefix, method=None):
    """The methods' own parameters that a run set (``--param``), e.g. "IMSAT xi=10";
    ``method`` given: that method's only."""
    own = {m: p for m, p in (recipe.get(METHOD_PARAMS) or {}).items() if method in (None, m)}
    return prefix + "; ".join(f"{NAMES[m]} " + ", ".join(f"{k}={v!r}" for k, v in sorted(p.items()))
                              for m, p in sorted(own.items())) if own else ""


def markdown_table(summary):
    mixed = any(entry["mixed_classes"] for entry in summary["methods"].values())
    recipe_line = _recipe_line(summary["recipe"], summary["methods"],
                               summary.get("own_autoencoder", ()))
    lines = [f"Recipe: {recipe_line}", "",
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
            + (f" {_mixed_line(entry['mixed_classes'])} |" if mixed else ""))
    if mixed:
        lines += ["", f"Classes mixed up: those whose matched cluster holds less than "
                  f"{MIXED_THRESHOLD:.0%} of them, with the class that holds most of the rest "
                  "(metrics.mixed_classes)."]
    if summary.get("collapsed_seeds"):
        lines += ["", "Pretraining collapsed (the autoencoder gave one output for every input; no "
                  "autoencoder method ran): " + ", ".join(
                      f"seed {s} at epoch {e}" for s, e in sorted(summary["collapsed_seeds"].items()))
                  + "."]
    stages = [k for k in ("kmeans_raw", "pretrain") + METHODS[1:]
              if any(k in seconds for seconds in summary["seconds_per_seed"].values())]
    stage_names = {**NAMES, "pretrain": "pretraining"}
    rates = {"pretrain_samples_per_second": "pretraining samples/s",
             **{f"{m}_iterations_per_second": f"{NAMES[m]} iterations/s" for m in ("dec", "idec")}}
    rates = {k: v for k, v in rates.items()
             if any(k in t for t in summary["throughput_per_seed"].values())}
    if not stages and not rates:  # no method ran (every seed's pretraining collapsed)
        return "\n".join(lines)
    lines += ["", "| seed | " + " | ".join(f"{stage_names[k]} (min)" for k in stages)
              + "".join(f" | {v}" for v in rates.values()) + " |",
              "| --- |" + " --- |" * (len(stages) + len(rates))]
    for seed, seconds in sorted(summary["seconds_per_seed"].items()):
        throughput = summary["throughput_per_seed"].get(seed, {})
        cells = [f"{seconds[k] / 60:.1f}" if seconds.get(k) is not None else "" for k in stages]
        cells += [f"{throughput[k]:.0f}" if throughput.get(k) else "" for k in rates]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
    method, ACC mean ± std (min-max), NMI / ARI means and the published ACC;
    seeds whose pretraining collapsed are counted beside the autoencoder methods'."""
    lines = ["| folder | dataset | autoencoder, pretraining | method | seeds "
             "| ACC mean ± std (min-max) | NMI mean | ARI mean | published ACC |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    found = {}
    for folder in folders:
        if not os.path.isdir(folder):
            raise FileNotFoundError(
                f"No folder {folder!r}: give folders written by "
                "`python -m deepcluster_keras reproduce --out FOLDER`.")
        # From the seed files, so that a run still in progress shows what it has.
        seeds = layout.folder_seeds(folder)
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
        summary = _summary(folder, seeds)
        recipe, n_collapsed = summary["recipe"], len(summary["collapsed_seeds"])
        for method, entry in summary["methods"].items():
            st = entry["stats"]
            n_seeds = f"{len(entry['per_seed'])}" + (
                f" (+{n_collapsed} collapsed)" if n_collapsed and method not in RAW_METHODS else "")
            setting = ("raw data" if method in RAW_METHODS else f"{recipe['autoencoder']}, "
                       f"{recipe['pretrain_epochs']} epochs{_self_training_note(recipe)}"
                       + (", augmented (DEC-DA)" if recipe.get("augment") else ""))
            setting += _own_params_note(recipe, ", ", method)
            lines.append(
                f"| {os.path.normpath(folder)} | {recipe['dataset']} | {setting} | {NAMES[method]} | "
                f"{n_seeds} | {st['acc']['mean']:.3f} ± {st['acc']['std']:.3f} "
                f"({st['acc']['min']:.3f}-{st['acc']['max']:.3f}) | {st['nmi']['mean']:.3f} | "
                f"{st['ari']['mean']:.3f} | {_published(entry['published'])} |")
    return "\n".join(lines)


def _self_training_note(recipe):
    """Only self-training settings other than the tutorial's are named."""
    defaults = recipe_defaults()
    notes = [f"{recipe['optimizer']} self-training"] if recipe["optimizer"] != defaults["optimizer"] else []
    if recipe.get("learning_rate") is not None:
        notes.append(f"learning rate {recipe['learning_rate']}")
    notes += [f"{key} {recipe[key]}" for key in ("maxiter", "update_interval", "tol")
              if recipe[key] != defaults[key]]
    return "".join(f", {note}" for note in notes)


def _is_tutorial_recipe(folder):
    """Whether ``folder`` holds MNIST-70k runs of the tutorial's recipe (IDEC's gamma aside)."""
    files = layout.seed_files(folder)
    if not files:
        return False
    config = {**ADDED_LATER, **read_json(files[0])["config"]}
    tutorial = resolved_recipe({**recipe_defaults(), "n_clusters": 10})
    return config["dataset"] == "mnist" and all(config[k] == v for k, v in tutorial.items()
                                                if k != "gamma")


def results_document(folders, command):
    """The Markdown page of ``python -m deepcluster_keras table``: ``command``
    (which made it), one row per folder, recipe and method, and how often the
    folders with the tutorial's MNIST recipe reach its figures."""
    table = comparison_table(folders)  # first: it checks the folders
    rates = [line for folder in folders if _is_tutorial_recipe(folder) for line in rate_line(folder)]
    return "\n".join([
        "# Results",
        "",
        "Generated by the command below from the `seed_N.json` files of each folder; do not edit",
        "by hand (a test checks that it is current). Each folder's `summary.md` has the per-seed",
        "figures, timings and the classes each run mixed up; each `seed_N.json` the machine, thread",
        "count and library versions. Where and when the runs were made, and what they show:",
        "`docs/`.",
        "",
        "```bash",
        command,
        "```",
        "",
        table,
        "",
    ] + (["## How often the tutorial's MNIST-70k figures are reached", ""] + rates + [""]
         if rates else []))
