"""Draw DESOM's map after a full run: its prototypes decoded, and the images per unit.

    python benchmarks/som_map.py --dataset mnist_test --data-dir ../shared/datasets \
        --ae-weights WORK/seed_0/ae_weights.weights.h5 --seed 0 \
        --out results/vade_desom/mnist_test_dense/som_map_seed_0.png

Fits :class:`DESOM` with its defaults from the given pretrained autoencoder
(the weights that ``reproduce`` leaves in its work folder, so the map is the
one its results were measured on), then writes the figure and, beside it, a
JSON file with the run's scores: ACC / NMI / ARI of the merged clusters, and
the purity and NMI of the units themselves (as DESOM's paper reports).
"""

import argparse
import os
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from deepcluster_keras import DESOM, load_data, metrics, plots, som  # noqa: E402
from deepcluster_keras.machine import cpu_model  # noqa: E402
from deepcluster_keras.persistence import atomic_write_json  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist_test")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--ae-weights", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="the figure's path (.png)")
    args = parser.parse_args(argv)

    x, y = load_data(args.dataset, data_dir=args.data_dir)
    start = time.perf_counter()
    desom = DESOM(10, ae_weights=args.ae_weights, random_state=args.seed, verbose=1).fit(x, y)
    seconds = time.perf_counter() - start
    rows, cols = desom.map_size
    counts, majority = som.unit_map(desom.units_, y, rows * cols)

    fig, axes = plt.subplots(1, 2, figsize=(13, 6))
    plots.plot_som_prototypes(desom.decode(desom.prototypes_), desom.map_size, ax=axes[0],
                              title="prototypes, decoded")
    plots.plot_som_map(counts, majority, desom.map_size, ax=axes[1],
                       title="images per unit, majority digit")
    merged = metrics.evaluate(y, desom.labels_)
    fig.suptitle(f"DESOM {rows}x{cols} on {args.dataset}, seed {args.seed}: merged ACC "
                 f"{merged['acc']:.3f}; units' purity {metrics.purity(y, desom.units_):.3f}")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=80)

    atomic_write_json(os.path.splitext(args.out)[0] + ".json", {
        "command": "python benchmarks/som_map.py " + " ".join(argv or sys.argv[1:]),
        "dataset": args.dataset, "seed": args.seed, "params": desom.get_params(),
        "merged": merged, "units_purity": metrics.purity(y, desom.units_),
        "units_nmi": metrics.evaluate(y, desom.units_)["nmi"],
        "units_used": int((counts > 0).sum()), "seconds": seconds, "cpu": cpu_model(),
        "date": time.strftime("%Y-%m-%d"),
    })
    print(f"wrote {args.out}: merged {merged}")


if __name__ == "__main__":
    main()
