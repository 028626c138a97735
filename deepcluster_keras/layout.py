"""Where the command line's outputs lie: the one place that names the files.

A ``run`` folder (:mod:`deepcluster_keras.run`) holds one method's fit::

    out/results.json               metrics, configuration, status
    out/ae_weights.weights.h5      the pretrained autoencoder
    out/<method>_model.keras       the trained model
    out/labels.npy                 the cluster of each sample
    out/<plot>.png                 the plots
    out/checkpoint/                an interrupted fit's progress

A ``reproduce`` folder (:mod:`deepcluster_keras.reproduce`) holds seeds::

    out/seed_<N>.json              one seed's metrics, timings and curves
    out/summary.json, summary.md   every seed's figures, summarised
    work_dir/seed_<N>/             that seed's autoencoder (ae_weights.weights.h5)
                                   and checkpoints
"""

import os
import re

from deepcluster_keras.persistence import AE_WEIGHTS_FILE

__all__ = ["AE_WEIGHTS_FILE", "RESULTS_FILE", "CHECKPOINT_DIR", "LABELS_FILE", "model_file",
           "plot_file", "seed_file", "seed_work_dir", "seed_ae_weights", "seed_files",
           "folder_seeds", "summary_files"]

RESULTS_FILE = "results.json"
CHECKPOINT_DIR = "checkpoint"
LABELS_FILE = "labels.npy"
_SEED_FILE = re.compile(r"seed_(\d+)\.json")


def model_file(out, method):
    """``out/<method>_model.keras``: a run's trained model."""
    return os.path.join(out, f"{method}_model.keras")


def plot_file(out, name):
    """``out/<name>.png``: one of a run's plots."""
    return os.path.join(out, f"{name}.png")


def seed_file(out, seed):
    """``out/seed_<seed>.json``: one seed's results."""
    return os.path.join(out, f"seed_{seed}.json")


def seed_work_dir(work_dir, seed):
    """``work_dir/seed_<seed>``: one seed's autoencoder and checkpoints."""
    return os.path.join(work_dir, f"seed_{seed}")


def seed_ae_weights(work_dir, seed):
    """``work_dir/seed_<seed>/ae_weights.weights.h5``: one seed's pretrained autoencoder."""
    return os.path.join(seed_work_dir(work_dir, seed), AE_WEIGHTS_FILE)


def _seed_files(out):
    """``{N: path}`` of the ``seed_<N>.json`` files in ``out``, by seed (10 after 9)."""
    found = (_SEED_FILE.fullmatch(f) for f in os.listdir(out))
    return dict(sorted((int(m[1]), os.path.join(out, m[0])) for m in found if m))


def seed_files(out):
    """The ``seed_<N>.json`` files in ``out``, in the order of their seeds."""
    return list(_seed_files(out).values())


def folder_seeds(out):
    """The seeds that have a ``seed_<N>.json`` in ``out``, sorted."""
    return list(_seed_files(out))


def summary_files(out):
    """``(summary.json, summary.md)`` of a reproduction folder."""
    return os.path.join(out, "summary.json"), os.path.join(out, "summary.md")
