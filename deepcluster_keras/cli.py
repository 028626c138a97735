"""Command line: ``python -m deepcluster_keras [options]``.

With no options it runs DEC on scikit-learn's 8x8 digits (offline, a few
minutes on two CPU cores). ``python -m deepcluster_keras reproduce --help``
describes the multi-seed reproduction of the tutorial's MNIST figures.
"""

import argparse
import os
import sys

from deepcluster_keras import pipeline
from deepcluster_keras.datasets import DATA_DIR_ENV, DATASETS


def _int_at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value
    return parse


_at_least_0, _at_least_1 = _int_at_least(0), _int_at_least(1)


def _add_training_options(parser):
    """Options shared by a single run and the reproduction."""
    parser.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                        help="; ".join(f"{k}: {v}" for k, v in DATASETS.items()))
    parser.add_argument("--data-dir", default=None,
                        help="folder holding the dataset's IDX .gz files (default: "
                        f"${DATA_DIR_ENV}, /usr/share/datasets, then Keras' download)")
    parser.add_argument("--autoencoder", choices=("dense", "conv"), default="dense",
                        help="dense 784-500-500-2000-10 (DEC) or convolutional 32-64-128-10 "
                        "(DCEC) autoencoder (default: %(default)s)")
    parser.add_argument("--pretrain-epochs", type=_at_least_0, default=300,
                        help="autoencoder pretraining epochs (default: %(default)s)")
    parser.add_argument("--pretrain-optimizer", choices=("sgd", "adam"), default=None,
                        help="sgd: SGD(1.0, momentum 0.9) as the DEC tutorial; adam as "
                        "DCEC (default: sgd for dense, adam for conv)")
    parser.add_argument("--maxiter", type=_at_least_0, default=8000,
                        help="most self-training batches (default: %(default)s)")
    parser.add_argument("--update-interval", type=_at_least_1, default=140,
                        help="batches between target-distribution updates (default: %(default)s)")
    parser.add_argument("--tol", type=float, default=0.001,
                        help="stop when fewer than this fraction of labels change "
                        "between updates (default: %(default)s)")
    parser.add_argument("--batch-size", type=_at_least_1, default=256,
                        help="batch size of pretraining and self-training (default: %(default)s)")
    parser.add_argument("--n-init", type=_at_least_1, default=20,
                        help="K-means restarts (default: %(default)s)")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                        help="self-training's optimizer: sgd: SGD(0.01, momentum 0.9) as the DEC "
                        "tutorial; adam: Adam() as the IDEC code for MNIST and DCEC "
                        "(default: %(default)s)")
    parser.add_argument("--gamma", type=float, default=0.1,
                        help="IDEC's weight of the clustering loss (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run_parser():
    parser = argparse.ArgumentParser(
        prog="python -m deepcluster_keras",
        description="Deep Embedded Clustering (DEC) with Keras 3: pretrain an "
        "autoencoder, initialise cluster centres with K-means, then self-train. "
        "Writes results.json, the model (.keras), the autoencoder weights and "
        "plots to --out.",
        epilog="commands:\n  reproduce   the tutorial's MNIST figures over several "
        "seeds, resumable (python -m deepcluster_keras reproduce --help)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_training_options(parser)
    parser.add_argument("--method", default="dec", choices=pipeline.METHODS,
                        help="dec (default); idec: DEC keeping the decoder (loss gamma*KL + MSE); "
                        "kmeans: K-means on the raw data; ae+ALGORITHM: a classical algorithm "
                        "on the pretrained embedding")
    parser.add_argument("--n-clusters", type=_int_at_least(2), default=None,
                        help="number of clusters (default: the number of classes)")
    parser.add_argument("--seed", type=_at_least_0, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--ae-weights", default=None,
                        help="start from these pretrained autoencoder weights "
                        "(an ae_weights.weights.h5 of an earlier run) instead of pretraining; "
                        "with --out the same as that run's, an interrupted self-training "
                        "continues from its checkpoint (one made from other weights is "
                        "refused)")
    parser.add_argument("--out", default="dec_output",
                        help="output folder (default: %(default)s)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if argv and argv[0] == "reproduce":
            from deepcluster_keras import reproduce

            return reproduce.main(argv[1:])
        args = run_parser().parse_args(argv)
        config = training_config(
            args,
            dataset=args.dataset or "digits",
            method=args.method,
            n_clusters=args.n_clusters,
            seed=args.seed,
            ae_weights=args.ae_weights,
            out=args.out,
            plots=not args.no_plots,
            verbose=0 if args.quiet else 1,
        )
        pipeline.run(config)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def training_config(args, **fields):
    """A ``pipeline.Config`` from the shared training options, plus ``fields``."""
    return pipeline.Config(
        autoencoder=args.autoencoder,
        pretrain_epochs=args.pretrain_epochs,
        pretrain_batch_size=args.batch_size,
        pretrain_optimizer=args.pretrain_optimizer,
        n_init=args.n_init,
        maxiter=args.maxiter,
        update_interval=args.update_interval,
        tol=args.tol,
        gamma=args.gamma,
        optimizer=args.optimizer,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        **fields,
    )
