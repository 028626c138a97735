"""DAC's ACC epoch by epoch beside the run its authors' code logged.

    python benchmarks/dac_curve.py results/information/mnist_dac_authors \
        --out results/information/mnist_dac_authors/dac_curve.png [--running WORK_DIR]

Reads ``training.dac.history`` of every ``seed_N.json`` in the ``reproduce``
folder (and, with ``--running WORK_DIR``, the checkpointed history of the
seeds still training there: ``reproduce --work-dir``) and draws each seed's
ACC after every epoch (0: before training), on the whole scale and from
epoch 1 on a scale that shows the third decimal,
beside ``log_acc`` of the DAC figure in ``published.json`` (MNIST/mnist.log of
github vector-1127/DAC). Prints a line per seed: ACC after epochs 1, 3 and
the last, against the log's. Runs in seconds.
"""

import argparse
import glob
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from deepcluster_keras import layout, plots, report  # noqa: E402
from deepcluster_keras.persistence import read_json  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="reproduce folder with DAC's seeds")
    parser.add_argument("--out", default=None, help="PNG to write")
    parser.add_argument("--running", default=None, metavar="WORK_DIR",
                        help="also the seeds still training in this work folder")
    args = parser.parse_args()
    log = report.published("mnist")["dac"]["log_acc"]
    _, (ax, zoom) = plt.subplots(1, 2, figsize=(11, 4))
    curves = [("the authors' log", list(range(len(log))), log, dict(color="black", marker="o"))]
    print("log: " + ", ".join(f"epoch {e} {log[e]:.4f}" for e in (1, 3, len(log) - 1)))
    for label, history in histories(args.folder, args.running):
        epochs, acc = history["epoch"], history["acc"]
        curves.append((label, epochs, acc, dict(marker=".")))
        shown = sorted({e for e in (1, 3, epochs[-1]) if e in epochs})
        print(f"{label}: " + ", ".join(f"epoch {e} {acc[epochs.index(e)]:.4f}" for e in shown))
    for label, epochs, acc, style in curves:
        ax.plot(epochs, acc, label=label, **style)
        zoom.plot(epochs[1:], acc[1:], label=label, **style)
    ax.set(xlabel="epoch", ylabel="ACC", title="DAC on MNIST-70k", xlim=(-0.5, len(log) - 0.5),
           ylim=(0, 1))
    ax.legend(loc="lower right")
    low = min(min(acc[1:]) for _, _, acc, _ in curves if len(acc) > 1)
    zoom.set(xlabel="epoch", ylabel="ACC", title="from epoch 1", xlim=(0.5, len(log) - 0.5),
             ylim=(min(0.95, low - 0.005), 1.0))
    zoom.grid(alpha=0.3)
    for axis in (ax, zoom):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    if args.out:
        print(f"wrote {plots.save_figure(ax, args.out, dpi=90)}")


def histories(folder, running=None):
    """``[(label, history)]``: the finished seeds of ``folder``, then those
    still training in ``running`` (their last epoch checkpoint)."""
    found = {}
    for seed in layout.folder_seeds(folder):
        history = (read_json(layout.seed_file(folder, seed)) or {}).get(
            "training", {}).get("dac", {}).get("history", {})
        if history.get("acc"):
            found[seed] = (f"seed {seed}", history)
    for path in sorted(glob.glob(os.path.join(running or "", "seed_*", "self_training_dac_*",
                                              "self_training", "self_training_checkpoint.json"))
                       if running else []):
        seed = int(path.split(os.sep + "seed_")[-1].split(os.sep)[0])
        history = read_json(path)["history"]
        if seed not in found and history.get("acc"):
            found[seed] = (f"seed {seed} (running, epoch {history['epoch'][-1]})", history)
    return [found[seed] for seed in sorted(found)]


if __name__ == "__main__":
    main()
