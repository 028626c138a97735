"""DEC-DA beside the faithful DEC, seed by seed: ACC over self-training from
each one's K-means start, and the pretraining losses.

    python benchmarks/dec_da_curves.py results/mnist-dec-da results/mnist \
        --out results/mnist-dec-da/curves.png

Reads ``seed_N.json`` of both ``reproduce`` folders (the seeds the first one
has) and draws, a column per seed, DEC's ACC at every target update (the
first point is AE + K-means) for both recipes, and below it both
pretraining loss curves (DEC-DA's is measured on transformed images, so its
level is not the clean one's). Prints a line per seed: AE + K-means and DEC
of both, and the classes each mixes up. Runs in seconds.
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from deepcluster_keras import layout, metrics, plots, report  # noqa: E402
from deepcluster_keras.persistence import read_json  # noqa: E402


def seed_record(folder, seed):
    return read_json(layout.seed_file(folder, seed)) or {}


def line(seed, augmented, faithful):
    """One seed's figures, both recipes."""
    def acc(record, method):
        value = record.get("metrics", {}).get(method, {}).get("acc")
        return "   -  " if value is None else f"{value:.4f}"

    def mixed(record):
        table = record.get("confusion", {}).get("dec")
        if table is None:
            return "-"
        groups = metrics.mixed_classes(table, report.MIXED_THRESHOLD)
        return " ".join("+".join(map(str, group)) for group in groups) or "none"

    return (f"seed {seed}: AE + K-means {acc(faithful, 'ae_kmeans')} -> DEC-DA start "
            f"{acc(augmented, 'ae_kmeans')};  DEC {acc(faithful, 'dec')} -> DEC-DA "
            f"{acc(augmented, 'dec')};  mixed up: DEC {mixed(faithful)}, DEC-DA {mixed(augmented)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("augmented", help="reproduce folder of DEC-DA (--augment)")
    parser.add_argument("faithful", help="reproduce folder of the faithful recipe")
    parser.add_argument("--out", default=None, help="PNG to write")
    args = parser.parse_args()
    seeds = [s for s in layout.folder_seeds(args.augmented)
             if "dec" in seed_record(args.augmented, s).get("metrics", {})]
    if not seeds:
        raise SystemExit(f"No seed of {args.augmented} has DEC-DA's result yet.")
    _, axes = plt.subplots(2, len(seeds), figsize=(4 * len(seeds), 6.5), squeeze=False)
    for column, seed in enumerate(seeds):
        augmented, faithful = seed_record(args.augmented, seed), seed_record(args.faithful, seed)
        print(line(seed, augmented, faithful))
        for record, name, colour in ((faithful, "DEC", "tab:grey"), (augmented, "DEC-DA", "tab:blue")):
            history = record.get("training", {}).get("dec", {}).get("history", {})
            if history.get("acc"):
                axes[0, column].plot(history["iteration"], history["acc"], color=colour, label=name)
            losses = record.get("pretrain", {}).get("loss")
            if losses:
                axes[1, column].semilogy(range(1, len(losses) + 1), losses, color=colour, label=name)
        axes[0, column].set(title=f"seed {seed}", xlabel="self-training iteration", ylabel="ACC")
        axes[1, column].set(xlabel="pretraining epoch", ylabel="MSE")
        axes[0, column].legend(loc="lower right")
        axes[1, column].legend(loc="upper right")
    if args.out:
        print(f"wrote {plots.save_figure(axes[0, 0], args.out, dpi=90)}")


if __name__ == "__main__":
    main()
