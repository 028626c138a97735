"""The library's training speed against the DEC tutorial's own code.

Times, in one process and alternated round by round, on random data of
MNIST's shape (784 values in [0, 1]) and the tutorial's dense autoencoder:

- pretraining: the library's ``pretrain`` (SGD(1.0, 0.9), MSE, batch 256, a
  fresh order each epoch) against the tutorial's ``fit(x, x, shuffle=True)``
  under ``tf_keras`` (the Keras 2 API), in samples per second, over the
  epochs after each call's first (which traces the training function);
- self-training: the library's ``self_train`` against the tutorial's loop
  (``train_on_batch`` on KL, P refreshed every 140 batches), in iterations
  per second;
- a physical reference: a plain TensorFlow matmul's rate on this machine,
  and the share of it that each training reaches (6 floating-point
  operations per weight per sample: the forward pass, the two products of
  the backward pass).

Writes ``results/speed/<cpu>-<threads>threads.json`` with the ratios, the
machine and the thread count. Run from the repository root, e.g.::

    python benchmarks/speed.py                          # about 5 minutes on 2 cores
    TF_NUM_INTRAOP_THREADS=1 python benchmarks/speed.py --rounds 2

It needs ``tf-keras`` (in requirements.txt) and the TensorFlow backend.
"""

import argparse
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the tutorial's code: tests/tutorial_keras2.py

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from tutorial_keras2 import (TutorialClusteringLayer, tutorial_autoencoder,  # noqa: E402
                             tutorial_self_training)

from deepcluster_keras import autoencoder, build_clustering_model, self_train  # noqa: E402
from deepcluster_keras.dec import pretrain  # noqa: E402
from deepcluster_keras.machine import cpu_model, library_versions  # noqa: E402

DIMS = (784, 500, 500, 2000, 10)
BATCH = 256


class EpochClock:
    """Wall and CPU seconds of each epoch, as a callback of either Keras."""

    def __init__(self):
        self.epochs = []

    def begin(self, epoch, logs=None):
        self.start, self.cpu = time.perf_counter(), os.times()

    def end(self, epoch, logs=None):
        cpu = os.times()
        self.epochs.append({"wall": time.perf_counter() - self.start,
                            "user": cpu.user - self.cpu.user, "system": cpu.system - self.cpu.system})

    def callback(self, keras_module):
        return keras_module.callbacks.LambdaCallback(on_epoch_begin=self.begin, on_epoch_end=self.end)


def matmul_gflops(seconds=3.0):
    """A float32 matmul's rate on this machine (GFLOP/s), as TensorFlow runs it."""
    a = tf.random.uniform((BATCH, 2000))
    b = tf.random.uniform((2000, 2000))
    step = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    step().numpy()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step().numpy()
        n += 1
    return 2 * BATCH * 2000 * 2000 * n / (time.perf_counter() - start) / 1e9


def median(values):
    return float(np.median(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=35_000, help="pretraining samples (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed call (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=560, help="self-training batches per timed call")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds (default: %(default)s)")
    parser.add_argument("--out", default=str(REPO / "results" / "speed"))
    parser.add_argument("--pretraining-only", action="store_true", help="skip self-training")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.random((args.samples, DIMS[0]), dtype=np.float32)
    keras.utils.set_random_seed(0)
    ae, encoder = autoencoder(DIMS)
    tutorial_ae, tutorial_encoder = tutorial_autoencoder(DIMS)
    tutorial_ae.set_weights(ae.get_weights())
    tutorial_ae.compile(optimizer=tf_keras.optimizers.legacy.SGD(learning_rate=1.0, momentum=0.9),
                        loss="mse")
    n_weights = ae.count_params()

    def library_pretraining(clock, seed):
        pretrain(ae, x, epochs=args.epochs, batch_size=BATCH, verbose=0, seed=seed,
                 callbacks=[clock.callback(keras)])

    def tutorial_pretraining(clock, seed):
        tutorial_ae.fit(x, x, batch_size=BATCH, epochs=args.epochs, shuffle=True, verbose=0,
                        callbacks=[clock.callback(tf_keras)])

    # Self-training from the same start: centres drawn from the data's embedding.
    centres = encoder.predict(x[rng.choice(len(x), 10, replace=False)], verbose=0)
    model = build_clustering_model(encoder, 10, centres=centres)
    q = TutorialClusteringLayer(10, weights=[centres], name="clustering")(tutorial_encoder.output)
    tutorial = tf_keras.models.Model(inputs=tutorial_encoder.input, outputs=q)
    tutorial.compile(optimizer=tf_keras.optimizers.legacy.SGD(learning_rate=0.01, momentum=0.9),
                     loss="kld")

    def library_self_training():
        self_train(model, x, maxiter=args.iterations, update_interval=140, tol=0.0,
                   batch_size=BATCH, verbose=0)

    def tutorial_loop():
        tutorial_self_training(tutorial, x, args.iterations, 140, BATCH)

    timings = {"pretrain_library": [], "pretrain_tutorial": [], "self_train_library": [],
               "self_train_tutorial": []}
    if not args.pretraining_only:
        library_self_training(), tutorial_loop()  # warm-up: trace the training functions
    print(f"{cpu_model()}, {os.cpu_count()} cores; {args.samples} samples, {args.epochs} epochs "
          f"per call, {args.rounds} rounds", flush=True)
    for round_ in range(args.rounds):
        for name, pretraining in (("library", library_pretraining), ("tutorial", tutorial_pretraining)):
            clock = EpochClock()
            pretraining(clock, seed=round_)
            timings[f"pretrain_{name}"] += clock.epochs[1:]  # the first traces
        for name, loop in (("library", library_self_training), ("tutorial", tutorial_loop)):
            if args.pretraining_only:
                timings[f"self_train_{name}"].append(np.nan)
                continue
            start = time.perf_counter()
            loop()
            timings[f"self_train_{name}"].append(time.perf_counter() - start)
        print(f"round {round_ + 1}: pretraining epoch {timings['pretrain_library'][-1]['wall']:.2f} s "
              f"(tutorial {timings['pretrain_tutorial'][-1]['wall']:.2f} s), self-training "
              f"{timings['self_train_library'][-1]:.2f} s (tutorial "
              f"{timings['self_train_tutorial'][-1]:.2f} s)", flush=True)

    gflops = matmul_gflops()
    result = {"command": "python benchmarks/speed.py " + " ".join(sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d"), "machine": {"cpu": cpu_model(),
              "cores": os.cpu_count()}, "versions": library_versions(),
              "settings": vars(args) | {"out": None}, "matmul_gflops": gflops}
    for name in ("library", "tutorial"):
        epochs = timings[f"pretrain_{name}"]
        wall = median([e["wall"] for e in epochs])
        rate = args.samples / wall
        result[f"pretrain_{name}"] = {
            "samples_per_second": rate, "epoch_seconds_median": wall,
            "epoch_cpu_user_median": median([e["user"] for e in epochs]),
            "epoch_cpu_system_median": median([e["system"] for e in epochs]),
            "share_of_matmul_rate": rate * 6 * n_weights / (gflops * 1e9)}
        seconds = median(timings[f"self_train_{name}"])
        result[f"self_train_{name}"] = {"iterations_per_second": args.iterations / seconds,
                                        "seconds_median": seconds}
    result["pretrain_ratio"] = (result["pretrain_library"]["samples_per_second"]
                                / result["pretrain_tutorial"]["samples_per_second"])
    result["self_train_ratio"] = (result["self_train_library"]["iterations_per_second"]
                                  / result["self_train_tutorial"]["iterations_per_second"])
    print(f"pretraining: library {result['pretrain_library']['samples_per_second']:.0f} samples/s, "
          f"tutorial {result['pretrain_tutorial']['samples_per_second']:.0f}: ratio "
          f"{result['pretrain_ratio']:.3f} ({result['pretrain_library']['share_of_matmul_rate']:.0%} "
          f"of a plain matmul's {gflops:.0f} GFLOP/s)")
    print(f"self-training: library {result['self_train_library']['iterations_per_second']:.1f} "
          f"iterations/s, tutorial {result['self_train_tutorial']['iterations_per_second']:.1f}: "
          f"ratio {result['self_train_ratio']:.3f}")
    threads = os.environ.get("TF_NUM_INTRAOP_THREADS", str(os.cpu_count()))
    name = "".join(c if c.isalnum() else "-" for c in cpu_model()).strip("-").lower()
    path = pathlib.Path(args.out) / f"{name}-{threads}threads.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


if __name__ == "__main__":
    main()
