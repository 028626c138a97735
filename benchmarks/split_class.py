"""The images of one class that a clustering put with another class, beside
those it kept in the class's own cluster.

    python benchmarks/split_class.py --dataset mnist --labels LABELS --digit 7 --into 2 \
        --out results/information/mnist_dac_authors/sevens_with_twos.png

``LABELS``: a ``.npy`` of cluster labels (a run's), or an ``.npz`` holding
``y_pred_last`` (a self-training or epoch checkpoint: ``reproduce``'s work
folder). "The class's own cluster" is the cluster holding most of its images;
"with ``--into``" the one holding most of that class's. Prints the counts and
draws ``--n`` images of each group, drawn at random (seed 0). Runs in seconds.
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from deepcluster_keras import plots  # noqa: E402
from deepcluster_keras.datasets import load_data  # noqa: E402


def read_labels(path):
    if path.endswith(".npz"):
        with np.load(path) as arrays:
            return arrays["y_pred_last"]
    return np.load(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--labels", required=True, help=".npy of labels or a checkpoint's .npz")
    parser.add_argument("--digit", type=int, required=True, help="the class that is split")
    parser.add_argument("--into", type=int, required=True, help="the class whose cluster takes part of it")
    parser.add_argument("--n", type=int, default=16, help="images per group (default: %(default)s)")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args()
    x, y = load_data(args.dataset, data_dir=args.data_dir)
    labels = read_labels(args.labels)
    if len(labels) != len(y):
        raise SystemExit(f"{args.labels} holds {len(labels)} labels; {args.dataset} has {len(y)} images.")
    own = np.bincount(labels[y == args.digit]).argmax()
    other = np.bincount(labels[y == args.into]).argmax()
    if own == other:
        raise SystemExit(f"The {args.digit}s and {args.into}s share one cluster ({own}): nothing to split.")
    groups = [np.flatnonzero((y == args.digit) & (labels == c)) for c in (other, own)]
    print(f"{args.digit}s: {len(groups[0])} in the {args.into}s' cluster, {len(groups[1])} in their own, "
          f"of {int(np.sum(y == args.digit))}")
    rng = np.random.default_rng(0)
    picks = [rng.choice(g, min(args.n, len(g)), replace=False) for g in groups]
    rows = np.concatenate([np.full(len(p), i) for i, p in enumerate(picks)])
    ax = plots.plot_cluster_grid(x[np.concatenate(picks)], rows, n_per_cluster=args.n)
    ax.set_yticklabels([f"with the {args.into}s ({len(groups[0])})",
                        f"their own ({len(groups[1])})"])
    ax.set_ylabel("")
    ax.set_title(f"{args.dataset}: {args.digit}s by cluster")
    plots.save_figure(ax, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
