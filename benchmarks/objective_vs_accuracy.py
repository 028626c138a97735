"""Does a method's own objective tell its good seeds from its bad ones?

IMSAT's MNIST-70k seeds spread from 0.837 to 0.986 ACC with the same recipe.
(What it found is in docs/information.md; ``IMSAT(n_init=k)`` acts on it.)
Without labels, a user can only compare runs by what training optimised; if
the seed with the best final objective is also the most accurate, restarts
chosen by it (as K-means chooses among its n_init) get the good runs. This
reads each seed's last training epoch from ``reproduce`` folders and prints,
per seed, the final loss and mutual information I(X; Y) (RIM, IMSAT) beside
ACC, the seed each criterion picks, and Spearman's rank correlation signed
so that +1 means the better the objective, the higher the ACC. Then, for
restarts of k seeds (every k-subset of the seeds done, k from 2 to all but
one), the mean ACC of the run each criterion would keep, beside one seed's
mean and the mean of each subset's best: what ``n_init=k`` would give.

    python benchmarks/objective_vs_accuracy.py results/information/mnist \
        results/information/mnist_test results/information/digits --method imsat \
        --out results/information/imsat_objective_vs_acc.png

Reads the ``training.<method>.history`` of every ``seed_N.json``; runs in a second.
``--out`` also draws, a panel per folder, each seed's final I(X; Y) against its ACC.
"""

import argparse
import itertools

import matplotlib
import numpy as np
from scipy.stats import spearmanr

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from deepcluster_keras import layout, plots  # noqa: E402
from deepcluster_keras.persistence import read_json  # noqa: E402

#: Per criterion: the history key, and whether larger is better.
CRITERIA = {"final loss": ("loss", False), "final I(X;Y)": ("mutual_information", True)}


def final_values(folder, method):
    """``{seed: {"acc": ..., "loss": ..., ...}}`` from the last epoch of each seed's history."""
    rows = {}
    for seed in layout.folder_seeds(folder):
        run = read_json(layout.seed_file(folder, seed))
        history = run.get("training", {}).get(method, {}).get("history")
        if history and method in run["metrics"]:
            rows[seed] = {"acc": run["metrics"][method]["acc"],
                          **{key: history[key][-1] for key, _ in CRITERIA.values() if key in history}}
    return rows


def restarts(rows, key, larger, k):
    """Over every ``k``-subset of the seeds: the mean ACC of the seed the
    criterion keeps, and the mean ACC of each subset's best seed."""
    subsets = list(itertools.combinations(rows, k))
    choose = max if larger else min
    kept = [rows[choose(subset, key=lambda s: rows[s][key])]["acc"] for subset in subsets]
    best = [max(rows[s]["acc"] for s in subset) for subset in subsets]
    return len(subsets), float(np.mean(kept)), float(np.mean(best))


def agreement(rows, key, larger):
    """Spearman's rank correlation of the criterion with ACC, signed so that
    +1 means: the better the objective, the higher the ACC."""
    rho = spearmanr([rows[s][key] for s in rows], [rows[s]["acc"] for s in rows])[0]
    return rho if larger else -rho


def plot(tables, method, path):
    """A panel per folder: each seed's final I(X; Y) (x) against its ACC (y)."""
    tables = {folder: rows for folder, rows in tables.items()
              if all("mutual_information" in row for row in rows.values())}
    if not tables:
        print(f"no {method} run records I(X;Y): no figure")
        return
    _, axes = plt.subplots(1, len(tables), figsize=(4.2 * len(tables), 3.8), squeeze=False)
    for ax, (folder, rows) in zip(axes[0], tables.items()):
        mi = [rows[s]["mutual_information"] for s in rows]
        acc = [rows[s]["acc"] for s in rows]
        ax.scatter(mi, acc)
        for seed, x, y in zip(rows, mi, acc):
            ax.annotate(str(seed), (x, y), textcoords="offset points", xytext=(4, 3),
                        fontsize="small")
        title = f"{folder}\n{method}, {len(rows)} seeds"
        if len(rows) >= 3:
            title += f", Spearman {agreement(rows, 'mutual_information', True):+.2f}"
        ax.set_title(title, fontsize="small")
        ax.set_xlabel("final I(X; Y) (nats)")
        ax.set_ylabel("ACC")
    plots.save_figure(axes[0], path)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--method", default="imsat")
    parser.add_argument("--out", help="also draw final I(X;Y) against ACC into this PNG file")
    args = parser.parse_args(argv)
    tables = {}
    for folder in args.folders:
        rows = tables[folder] = final_values(folder, args.method)
        if not rows:
            print(f"{folder}: no {args.method} history")
            continue
        criteria = {name: (key, larger) for name, (key, larger) in CRITERIA.items()
                    if all(key in row for row in rows.values())}
        print(f"{folder} ({args.method}, {len(rows)} seeds)")
        print("seed  ACC    " + "  ".join(f"{name:>13s}" for name in criteria))
        for seed, row in rows.items():
            print(f"{seed:4d}  {row['acc']:.3f}  "
                  + "  ".join(f"{row[key]:13.4f}" for key, _ in criteria.values()))
        best = max(rows, key=lambda s: rows[s]["acc"])
        for name, (key, larger) in criteria.items():
            pick = (max if larger else min)(rows, key=lambda s: rows[s][key])
            line = f"  {name}: picks seed {pick} (ACC {rows[pick]['acc']:.3f}; the best is seed {best})"
            if len(rows) >= 3:
                line += f", agreement with ACC (Spearman) {agreement(rows, key, larger):+.2f}"
            print(line)
        one = np.mean([row["acc"] for row in rows.values()])
        for k in range(2, len(rows)):
            print(f"  restarts of {k} (one seed: mean ACC {one:.3f}):")
            for name, (key, larger) in criteria.items():
                n, kept, best = restarts(rows, key, larger, k)
                print(f"    kept by {name}: mean ACC {kept:.3f} over {n} subsets "
                      f"(the best of each: {best:.3f})")
    if args.out:
        plot({folder: rows for folder, rows in tables.items() if rows}, args.method, args.out)


if __name__ == "__main__":
    main()
