"""Import Keras without TensorFlow's start-up lines.

TensorFlow's C++ side prints notices while it loads (oneDNN, "Could not find
cuda drivers", CPU instructions) before any log level applies, and on a
machine without a GPU an alarming ``failed call to cuInit ... UNKNOWN ERROR
(303)`` at its first operation. :func:`import_keras` holds the process's
standard error while Keras (and TensorFlow's device probe) start, then writes
back every line that is not one of those notices; if the import fails,
everything held is shown. ``TF_CPP_MIN_LOG_LEVEL=0`` shows them all.
"""

import os
import re
import sys
import tempfile

#: TensorFlow's start-up notices: absl's preamble, its info and warning lines
#: (``I0000 00:00:...``), the failed CUDA probe on a CPU machine, and the
#: second line of the CPU-instructions notice.
_NOTICE = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\)"
                     r"|[IW]\d{4} \d\d:\d\d:\d\d"
                     r"|E\d{4} \d\d:\d\d:\d\d.*cuInit"
                     r"|To enable the following instructions:")


def startup_notice(line):
    """Whether ``line`` is one of TensorFlow's start-up notices."""
    return bool(_NOTICE.match(line))


def import_keras():
    """``import keras`` (and probe the devices on TensorFlow) with the start-up
    notices left out of standard error; returns the module."""
    if "keras" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        import keras
        return keras
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        failed = True
        try:
            import keras
            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf
                tf.config.list_physical_devices("GPU")  # CUDA's probe speaks now, held
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines
                                     if failed or not startup_notice(line)))
    return keras
