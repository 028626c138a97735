"""One method's training history, seed by seed, from a ``reproduce`` folder.

    python benchmarks/training_curves.py results/vade_desom/mnist --method vade \
        --out results/vade_desom/mnist/vade_training.png

Reads ``training.<method>.history`` of every ``seed_N.json`` that has one and
draws, a row per seed, ``plots.plot_training_curves``: ACC / NMI / ARI with the
loss after each epoch (or target update), and the fraction of labels changed.
Prints, per seed, the start's ACC, the best ACC and when, the last, and the
first and last loss: whether the objective and the accuracy move together.
Runs in seconds.
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from deepcluster_keras import layout, plots  # noqa: E402
from deepcluster_keras.persistence import read_json  # noqa: E402


def histories(folder, method):
    """``{seed: history}`` of the seeds of ``folder`` that trained ``method``."""
    found = {}
    for seed in layout.folder_seeds(folder):
        history = read_json(layout.seed_file(folder, seed)).get("training", {}).get(method, {})
        if history.get("history", {}).get("acc"):
            found[seed] = history["history"]
    return found


def describe(history):
    """Start, best (and where), last ACC and first / last loss, as a line."""
    steps = history.get("iteration") or history.get("epoch")
    acc = history["acc"]
    best = max(range(len(acc)), key=acc.__getitem__)
    losses = [v for v in history.get("loss", []) if v is not None]
    loss = f"  loss {losses[0]:.4g} -> {losses[-1]:.4g}" if losses else ""
    return (f"start {acc[0]:.3f}  best {acc[best]:.3f} at {steps[best]}  last {acc[-1]:.3f}"
            + loss)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--method", required=True, help="e.g. dec, vade, desom, dkm")
    parser.add_argument("--out", required=True, help="PNG file to write")
    args = parser.parse_args(argv)
    found = histories(args.folder, args.method)
    if not found:
        raise SystemExit(f"No seed in {args.folder} has a {args.method} history with ACC: "
                         "run reproduce with labels and that method first.")
    _, axes = plt.subplots(len(found), 2, figsize=(11, 3.4 * len(found)), squeeze=False)
    for row, (seed, history) in zip(axes, found.items()):
        print(f"seed {seed}: {describe(history)}")
        plots.plot_training_curves(history, axes=row)
        row[0].set_title(f"{args.method}, seed {seed}: scores and loss")
    plots.save_figure(axes[0][0], args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
