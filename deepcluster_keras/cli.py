"""Command line: ``python -m deepcluster_keras {run,reproduce,table}``.

A thin layer over the library: each sub-command parses its flags and calls
one function (:func:`run.run`, :func:`reproduce.reproduce`,
:func:`report.results_document`). The recipe's flags and their defaults
come from the estimators' parameters. The arguments are read before
TensorFlow starts, so ``--help`` and a mistyped flag answer at once.
"""

import argparse
import ast
import os
import shlex
import sys

from deepcluster_keras import methods
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


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _param(text):
    """``[METHOD.]NAME=VALUE`` to ``(method or None, name, value)``; the value a
    Python literal (``10``, ``0.5``, ``8,8`` or ``(8, 8)``, ``None``) or else a
    string. (``8,8`` needs no quotes in a shell.)"""
    key, sep, value = text.partition("=")
    method, _, name = key.rpartition(".")
    if not sep or not name.isidentifier() or (method and not method.isidentifier()):
        raise argparse.ArgumentTypeError(
            f"expected METHOD.NAME=VALUE, e.g. imsat.xi=10, got {text!r}")
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass  # a string, e.g. desom.prototype_update=gradient
    return method or None, name, value


def _add_param_flag(parser, example):
    parser.add_argument(
        "--param", action="append", type=_param, default=[], metavar="METHOD.NAME=VALUE",
        help="a method's own parameter (repeatable), e.g. " + example + "; the methods' "
        "estimators list them (e.g. help(deepcluster_keras.IMSAT)); recorded in the results")


#: The recipe's flags: parameter, type and help. Defaults: the estimators'.
_RECIPE_FLAGS = (
    ("autoencoder", dict(choices=("dense", "conv")),
     "dense 784-500-500-2000-10 (DEC) or convolutional 32-64-128-10 (DCEC) autoencoder"),
    ("pretrain_epochs", dict(type=_at_least_0), "autoencoder pretraining epochs"),
    ("pretrain_optimizer", dict(choices=("sgd", "adam")),
     "sgd: SGD(1.0, momentum 0.9) as the DEC tutorial; adam as DCEC (default: sgd for dense, "
     "adam for conv)"),
    ("batch_size", dict(type=_at_least_1), "batch size of pretraining and self-training"),
    ("n_init", dict(type=_at_least_1), "K-means restarts"),
    ("maxiter", dict(type=_at_least_0), "most self-training batches"),
    ("update_interval", dict(type=_at_least_1), "batches between target-distribution updates"),
    ("tol", dict(type=float),
     "stop when fewer than this fraction of labels change between updates"),
    ("optimizer", dict(choices=("sgd", "adam")),
     "self-training's optimizer: sgd: SGD(0.01, momentum 0.9) as the DEC tutorial; adam: "
     "Adam() as the IDEC code for MNIST and DCEC"),
    ("learning_rate", dict(type=_positive_float),
     "self-training's learning rate instead of the optimizer's (sgd 0.01, adam 0.001); "
     "FcIDEC-DA as its authors ran it: --method idec --augment --learning-rate 1.0"),
    ("gamma", dict(type=float), "IDEC's weight of the clustering loss"),
    ("augment", dict(action="store_true"),
     "DEC-DA: pretrain and self-train on randomly shifted and rotated images (DEC and IDEC; "
     "DEC-DA's own settings add --pretrain-epochs 500 --maxiter 20000)"),
)


def _add_recipe_flags(parser, default_dataset):
    defaults = methods.recipe_defaults()
    parser.add_argument("--dataset", choices=sorted(DATASETS), default=default_dataset,
                        help="; ".join(f"{k}: {v}" for k, v in DATASETS.items())
                        + " (default: %(default)s)")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding the dataset's IDX .gz files (default: "
                        f"${DATA_DIR_ENV}, /usr/share/datasets, then Keras' download)")
    for name, kwargs, text in _RECIPE_FLAGS:
        default = defaults[name]
        parser.add_argument("--" + name.replace("_", "-"), default=default, **kwargs,
                            help=text + ("" if default is None else " (default: %(default)s)"))
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def parser():
    main_parser = argparse.ArgumentParser(
        prog="python -m deepcluster_keras",
        description="Deep Embedded Clustering (DEC) with Keras 3: pretrain an autoencoder, "
        "initialise cluster centres with K-means, then self-train.")
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    one = commands.add_parser(
        "run", help="one method on one dataset (default: DEC on digits, a few minutes)",
        description="Fit one method and write results.json, the model (.keras), the "
        "autoencoder weights and plots to --out. Interrupted? The same command continues it.")
    _add_recipe_flags(one, "digits")
    one.add_argument("--method", default="dec", choices=methods.METHODS, metavar="METHOD",
                     help=methods.help_text() + ". The recipe's flags below set the "
                     "autoencoder's methods; the others run with their estimators' defaults "
                     "unless --param sets one")
    one.add_argument("--n-clusters", type=_int_at_least(2), default=None,
                     help="number of clusters (default: the number of classes)")
    one.add_argument("--seed", type=_at_least_0, default=0, help="random seed (default: %(default)s)")
    one.add_argument("--ae-weights", default=None,
                     help="start from these pretrained autoencoder weights (an "
                     "ae_weights.weights.h5 of an earlier run) instead of pretraining")
    one.add_argument("--out", default="dec_output", help="output folder (default: %(default)s)")
    one.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    _add_param_flag(one, "--param xi=10 with --method imsat (the method's name may be left out)")
    one.set_defaults(handler=_run)

    many = commands.add_parser(
        "reproduce", help="several methods over several seeds, resumable (the tutorial's figures)",
        description="For each seed: K-means on the raw data, the autoencoder pretraining, AE + "
        "K-means and DEC (and any other --methods, all from the seed's one pretrained "
        "autoencoder but those on the raw data and VaDE with --param vade.pretraining=sigmoid, "
        "which pretrains its own). Writes seed_N.json and summary.md to --out as each result lands; "
        "rerun the same command to continue after an interruption.")
    _add_recipe_flags(many, "mnist")
    many.add_argument("--seeds", type=_at_least_0, nargs="+", default=[0, 1, 2, 3, 4],
                      help="seeds to run, fixed in advance (default: 0 1 2 3 4)")
    many.add_argument("--methods", nargs="+", choices=methods.METHODS,
                      default=list(methods.TUTORIAL_METHODS), metavar="METHOD",
                      help=f"what to run per seed, from {', '.join(methods.METHODS)} "
                      f"(default: {' '.join(methods.TUTORIAL_METHODS)})")
    many.add_argument("--out", default="results/mnist",
                      help="folder for the per-seed JSON files and the summary (default: %(default)s)")
    many.add_argument("--work-dir", default=None,
                      help="folder for weights and checkpoints (default: <out>/work)")
    _add_param_flag(many, "--param imsat.xi=10 --param desom.map_size=10,10")
    many.set_defaults(handler=_reproduce)

    table = commands.add_parser(
        "table", help="one Markdown table over reproduce folders",
        description="Print (or write to --out) a Markdown page with one table over the "
        "given reproduce folders: per recipe and method, ACC mean ± std (min-max), NMI, ARI "
        "and the published ACC.")
    table.add_argument("folders", nargs="+", metavar="FOLDER")
    table.add_argument("--out", default=None, help="write the page to this file")
    table.set_defaults(handler=_table)
    return main_parser


def _recipe(args, default_method=None):
    recipe = {name: getattr(args, name) for name, _, _ in _RECIPE_FLAGS}
    own = {}
    for method, name, value in args.param:
        if method is None and default_method is None:
            raise ValueError(f"--param {name}=...: name the method, e.g. --param imsat.{name}=...")
        own.setdefault(method or default_method, {})[name] = value
    return {**recipe, methods.METHOD_PARAMS: own} if own else recipe


def _run(args):
    from deepcluster_keras.run import run

    run(args.method, _recipe(args, default_method=args.method), dataset=args.dataset, data_dir=args.data_dir,
        n_clusters=args.n_clusters, seed=args.seed, ae_weights=args.ae_weights, out=args.out,
        plots=not args.no_plots, verbose=0 if args.quiet else 1)


def _reproduce(args):
    from deepcluster_keras.reproduce import reproduce

    reproduce(_recipe(args), args.seeds, dataset=args.dataset, data_dir=args.data_dir,
              out=args.out, work_dir=args.work_dir, methods_=args.methods,
              verbose=0 if args.quiet else 2)


def _table(args):
    from deepcluster_keras import report
    from deepcluster_keras.persistence import atomic_write_text

    command = "python -m deepcluster_keras table " + " ".join(map(shlex.quote, args.folders))
    if args.out:
        command += f" --out {shlex.quote(args.out)}"
    page = report.results_document(args.folders, command)
    if args.out:
        atomic_write_text(args.out, page)
    else:
        print(page, end="")


def main(argv=None):
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's later notices too
    from deepcluster_keras._startup import import_keras

    import_keras()
    from deepcluster_keras.training import PretrainingCollapsed

    try:
        args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (PretrainingCollapsed, FloatingPointError) as error:  # training failed; it says why
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
