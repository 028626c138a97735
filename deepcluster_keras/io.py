"""Writing results so that an interrupted run never leaves a partial file."""

import hashlib
import json
import os
import platform
import zipfile

import numpy as np


def atomic_write_json(path, data):
    """Write ``data`` as JSON so that a reader never sees a partial file."""
    text = json.dumps(_finite(data), indent=2, default=_to_json, allow_nan=False)
    atomic_write_text(path, text + "\n")


def atomic_write_text(path, text):
    """Write ``text`` so that a reader never sees a partial file."""
    atomic_save(path, lambda tmp: _write_text(tmp, text))


def atomic_save(path, save):
    """Call ``save(tmp)``, then move ``tmp`` onto ``path`` in one step.

    An interrupted save leaves the old ``path`` intact. ``tmp`` sits in the
    same folder and keeps the file name's ending, which Keras checks
    (``.keras``, ``.weights.h5``) and NumPy relies on (``.npz``).
    """
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, "tmp_" + name)
    save(tmp)
    os.replace(tmp, path)


def _write_text(path, text):
    with open(path, "w") as f:
        f.write(text)


def load_keras_model(path, compile=True):
    """``keras.saving.load_model(path)``, with errors that name the file.

    Keras reports a damaged ``.keras`` file (one cut short by a full disk or
    an interrupted copy) as "File not found"; this says what is wrong.
    """
    import keras

    import deepcluster_keras.layers  # noqa: F401  registers ClusteringLayer

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file at {path!r}.")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is damaged: a .keras file is a zip archive and this one is incomplete "
            "or not one. Save the model again (or delete the file to start afresh).")
    try:
        return keras.saving.load_model(path, compile=compile)
    except Exception as error:
        raise ValueError(
            f"{path} cannot be loaded ({type(error).__name__}: {str(error)[:200]}): it is "
            "damaged or was saved from another model. Save it again.") from error


def read_json(path):
    """The JSON in ``path``, or None when there is no such file."""
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def data_fingerprint(x):
    """A short digest of an array, so a checkpoint is not resumed on other data."""
    data = np.ascontiguousarray(x)
    digest = hashlib.sha256(str((data.shape, data.dtype.str)).encode())
    digest.update(data.tobytes())
    return digest.hexdigest()[:16]


def _finite(value):
    """``value`` with NaN and infinities as None: strict JSON has no NaN."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return None
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    return value


def _to_json(value):
    if isinstance(value, np.generic):
        return value.item()
    return str(value)  # arrays never get here: _finite made them lists


def cpu_threads():
    """The CPU cores this process may run on (``taskset`` narrows them)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def library_versions():
    """Versions of Python and of the libraries that shape the results."""
    import keras
    import scipy
    import sklearn

    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        # Results on a CPU depend on how many threads share the work.
        "cpu_threads": cpu_threads(),
    }
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    return versions
