"""Pretraining loss of every seed of ``reproduce`` folders against the tutorial's log.

    python benchmarks/loss_curves.py results/mnist results/mnist_fixed_order \
        --out results/mnist/pretraining_loss.png

Reads ``pretrain.loss`` (one value per epoch) from each ``seed_N.json`` and
draws them with the loss the DEC tutorial's notebook logged (``published.json``),
all epochs on logarithmic axes and, beside them, epochs 50-300 on linear ones,
one colour per folder; prints each seed's loss at the logged epochs beside the tutorial's.
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from deepcluster_keras import layout, plots, report  # noqa: E402
from deepcluster_keras.persistence import read_json  # noqa: E402


def seeds_of(folder):
    return [read_json(p)["seed"] for p in layout.seed_files(folder)
            if len(read_json(p).get("pretrain", {}).get("loss", [])) == 300]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--out", required=True, help="PNG file to write")
    args = parser.parse_args(argv)
    reference, source = report.published_pretraining_loss()
    losses, groups = {}, {}
    for folder in args.folders:
        for path in layout.seed_files(folder):
            run = read_json(path)
            if len(run.get("pretrain", {}).get("loss", [])) == 300:
                name = f"{os.path.basename(os.path.normpath(folder))} seed {run['seed']}"
                losses[name] = run["pretrain"]["loss"]
                groups[name] = f"{folder} (seeds {', '.join(str(s) for s in seeds_of(folder))})"
    print("epoch  tutorial  " + "  ".join(losses))
    for epoch, value in sorted(reference.items()):
        print(f"{epoch:5d}  {value:.4f}    " + "  ".join(f"{v[epoch - 1]:.5f}" for v in losses.values()))
    _, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    plots.plot_pretraining_loss(losses, reference, groups, ax=axes[0],
                                title=f"MNIST pretraining; stars: {source.split(':')[0]}")
    plots.plot_pretraining_loss(losses, reference, groups, first_epoch=50, ax=axes[1],
                                title="epochs 50-300")
    plots.save_figure(axes, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
