"""Why DKM here defaults to a constant alpha and the recipe's SGD: the variants on digits.

    OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \
        python benchmarks/kmeans_friendly_start.py --seeds 0 1 2

For each seed: one autoencoder pretrained with the recipe (30 epochs on
scikit-learn's digits scaled to [0, 1]), AE + K-means, then from those same
weights every variant below; prints a Markdown table of ACC. The DKM
authors pretrained with Adam and annealed alpha only without pretraining;
this library's recipe pretrains with SGD(1.0, momentum 0.9), so both
choices were measured rather than assumed.
"""

import argparse
import os
import tempfile

import numpy as np

from deepcluster_keras import DEC, DKM, AlternatingKMeans, load_data, metrics

VARIANTS = {
    "reconstruction alone, 1 epoch, Adam": lambda w: DKM(
        10, ae_weights=w, kmeans_weight=0.0, n_alphas=1, epochs_per_alpha=1, optimizer="adam"),
    "reconstruction alone, 1 epoch, SGD(1.0, 0.9)": lambda w: DKM(
        10, ae_weights=w, kmeans_weight=0.0, n_alphas=1, epochs_per_alpha=1, optimizer="sgd"),
    "DKM, alpha 1000 (default)": lambda w: DKM(10, ae_weights=w),
    "DKM, alpha 1000, Adam": lambda w: DKM(10, ae_weights=w, optimizer="adam"),
    "DKM, annealed": lambda w: DKM(10, ae_weights=w, alpha="annealed"),
    "DKM, annealed, kmeans_weight 0.1": lambda w: DKM(10, ae_weights=w, alpha="annealed",
                                                      kmeans_weight=0.1),
    "alternating, hard (default)": lambda w: AlternatingKMeans(10, ae_weights=w),
    "alternating, soft, alpha 1": lambda w: AlternatingKMeans(10, ae_weights=w, assignment="soft"),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    args = parser.parse_args(argv)
    x, y = load_data("digits")
    rows = {"AE + K-means": []} | {name: [] for name in VARIANTS}
    for seed in args.seeds:
        weights = os.path.join(tempfile.mkdtemp(), "ae.weights.h5")
        start = DEC(10, pretrain_epochs=args.pretrain_epochs, maxiter=0, random_state=seed).fit(x)
        start.save_autoencoder_weights(weights)
        rows["AE + K-means"].append(metrics.acc(y, start.kmeans_labels_))
        for name, make in VARIANTS.items():
            fitted = make(weights).set_params(random_state=seed).fit(x)
            rows[name].append(metrics.acc(y, fitted.labels_))
            print(f"seed {seed}  {name}: ACC {rows[name][-1]:.3f}", flush=True)
    print(f"\n| variant | ACC per seed ({', '.join(map(str, args.seeds))}) | mean |\n| --- | --- | --- |")
    for name, accs in rows.items():
        print(f"| {name} | {', '.join(f'{a:.3f}' for a in accs)} | {np.mean(accs):.3f} |")


if __name__ == "__main__":
    main()
