"""Does a method's own objective tell its good seeds from its bad ones?

IMSAT's MNIST-70k seeds spread from 0.837 to 0.986 ACC with the same recipe.
Without labels, a user can only compare runs by what training optimised; if
the seed with the best final objective is also the most accurate, restarts
chosen by it (as K-means chooses among its n_init) get the good runs. This
reads each seed's last training epoch from ``reproduce`` folders and prints,
per seed, the final loss and mutual information I(X; Y) (RIM, IMSAT) beside
ACC, the seed each criterion picks, and Spearman's rank correlation signed
so that +1 means the better the objective, the higher the ACC.

    python benchmarks/objective_vs_accuracy.py results/information/mnist \
        results/information/mnist_test --method imsat

Reads the ``training.<method>.history`` of every ``seed_N.json``; runs in a second.
"""

import argparse

from scipy.stats import spearmanr

from deepcluster_keras import report
from deepcluster_keras.persistence import read_json

#: Per criterion: the history key, and whether larger is better.
CRITERIA = {"final loss": ("loss", False), "final I(X;Y)": ("mutual_information", True)}


def final_values(folder, method):
    """``{seed: {"acc": ..., "loss": ..., ...}}`` from the last epoch of each seed's history."""
    rows = {}
    for seed in report.folder_seeds(folder):
        run = read_json(f"{folder}/seed_{seed}.json")
        history = run.get("training", {}).get(method, {}).get("history")
        if history and method in run["metrics"]:
            rows[seed] = {"acc": run["metrics"][method]["acc"],
                          **{key: history[key][-1] for key, _ in CRITERIA.values() if key in history}}
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--method", default="imsat")
    args = parser.parse_args(argv)
    for folder in args.folders:
        rows = final_values(folder, args.method)
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
                rho = spearmanr([rows[s][key] for s in rows], [rows[s]["acc"] for s in rows])[0]
                # Signed so that +1 means: the better the objective, the higher the ACC.
                line += f", agreement with ACC (Spearman) {rho if larger else -rho:+.2f}"
            print(line)


if __name__ == "__main__":
    main()
