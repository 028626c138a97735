"""Pretraining loss of every seed of ``reproduce`` folders against the tutorial's log.

    python benchmarks/loss_curves.py results/mnist results/mnist_fixed_order \
        --out results/mnist/pretraining_loss.png

Reads ``pretrain.loss`` (one value per epoch) from each ``seed_N.json`` and
draws them with the loss the DEC tutorial's notebook logged (``published.json``);
prints each seed's loss at the logged epochs beside the tutorial's.
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")

from deepcluster_keras import plots, report  # noqa: E402
from deepcluster_keras.persistence import read_json  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--out", required=True, help="PNG file to write")
    args = parser.parse_args(argv)
    reference, source = report.published_pretraining_loss()
    losses = {}
    for folder in args.folders:
        for path in report.seed_files(folder):
            run = read_json(path)
            if len(run.get("pretrain", {}).get("loss", [])) == 300:
                name = f"{os.path.basename(os.path.normpath(folder))} seed {run['seed']}"
                losses[name] = run["pretrain"]["loss"]
    print("epoch  tutorial  " + "  ".join(losses))
    for epoch, value in sorted(reference.items()):
        print(f"{epoch:5d}  {value:.4f}    " + "  ".join(f"{v[epoch - 1]:.5f}" for v in losses.values()))
    ax = plots.plot_pretraining_loss(losses, reference,
                                     title=f"MNIST pretraining; stars: {source.split(':')[0]}")
    plots.save_figure(ax, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
