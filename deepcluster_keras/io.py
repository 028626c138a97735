"""Writing results so that an interrupted run never leaves a partial file."""

import hashlib
import json
import os
import platform

import numpy as np


def atomic_write_json(path, data):
    """Write ``data`` as JSON so that a reader never sees a partial file."""
    atomic_write_text(path, json.dumps(data, indent=2, default=_to_json) + "\n")


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


def _to_json(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


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
    }
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    return versions
