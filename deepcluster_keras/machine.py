"""The machine a result was made on: CPU, threads, library versions.

Results on a CPU depend on how many threads share the work and on the CPU
itself, so every results file records :func:`library_versions`.
"""

import os
import platform

import keras
import numpy as np

__all__ = ["cpu_threads", "cpu_model", "library_versions", "THREAD_VARIABLES"]


def cpu_threads():
    """The CPU cores this process may run on (``taskset`` narrows them)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def cpu_model():
    """The CPU's model name (Linux's /proc/cpuinfo; else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


#: Environment variables that set how many threads TensorFlow and OpenMP use.
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")


def library_versions():
    """Versions of Python and of the libraries that shape the results."""
    import scipy
    import sklearn

    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        # Results on a CPU depend on how many threads share the work, and on
        # the CPU (IMSAT on digits: 0.827 on an AMD EPYC, 0.713 on an Intel Xeon).
        "cpu_threads": cpu_threads(),
        # cpu_threads counts the cores; a run may be held to fewer threads by these.
        "thread_variables": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
        "cpu": cpu_model(),
    }
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    elif keras.backend.backend() == "jax":
        import jax

        versions["jax"] = jax.__version__
        device = jax.devices()[0]
        versions["accelerator"] = None if device.platform == "cpu" else device.device_kind
        # A GPU multiplies float32 matrices in TF32 unless this says "highest".
        versions["jax_matmul_precision"] = jax.config.jax_default_matmul_precision
    return versions
