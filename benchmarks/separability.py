"""Does a pretrained embedding hold the difference between two classes?

The MNIST-70k seeds of ``results/mnist`` all share the 4s and 9s between two
clusters (the ``confusion`` tables). This asks whether the autoencoder lost
the difference or whether clustering misses it: on the samples of the two
classes only, it compares a supervised linear classifier on the embedding
(3-fold cross-validated logistic regression: is the difference there?) with
2-means on the same points (does the clustering geometry find it?), and the
classifier on raw pixels for scale.

    DEEPCLUSTER_DATA_DIR=... python benchmarks/separability.py \
        --work-dir results/mnist/work --seeds 0 1 2 --classes 4 9 \
        --out results/mnist_rerun/separability_4_9.json

Reads each seed's ``ae_weights.weights.h5`` in ``--work-dir`` (made by
``python -m deepcluster_keras reproduce``); about a minute a seed on 2 cores.
"""

import argparse
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from deepcluster_keras import DEC, autoencoders, layout, load_data, metrics, training
from deepcluster_keras.machine import library_versions
from deepcluster_keras.persistence import atomic_write_json


def separability(z, y):
    """Linear-classifier accuracy and 2-means ACC on two classes' points."""
    linear = cross_val_score(LogisticRegression(max_iter=2000), z, y, cv=3).mean()
    two_means = KMeans(2, n_init=20, random_state=0).fit_predict(z)
    return {"logistic_regression_acc": float(linear), "two_means_acc": metrics.acc(y, two_means)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--classes", type=int, nargs=2, default=[4, 9])
    parser.add_argument("--out", help="JSON file for the results")
    args = parser.parse_args(argv)

    x, y = load_data(args.dataset)
    pair = np.isin(y, args.classes)
    # Raw pixels: every 4th sample keeps the logistic regression quick.
    results = {"classes": args.classes, "dataset": args.dataset, "versions": library_versions(),
               "date": time.strftime("%Y-%m-%d"),
               "raw_pixels": separability(x[pair][::4], y[pair][::4]), "seeds": {}}
    print(f"raw pixels: {results['raw_pixels']}")
    for seed in args.seeds:
        ae, encoder = DEC()._build_autoencoder(x)  # the dense autoencoder reproduce pretrains
        autoencoders.load_autoencoder_weights(ae, layout.seed_ae_weights(args.work_dir, seed))
        z = encoder.predict(x[pair], batch_size=training.PREDICT_BATCH_SIZE, verbose=0)
        results["seeds"][seed] = separability(z, y[pair])
        print(f"seed {seed} embedding: {results['seeds'][seed]}", flush=True)
    if args.out:
        atomic_write_json(args.out, results)


if __name__ == "__main__":
    main()
