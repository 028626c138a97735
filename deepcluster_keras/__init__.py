"""Deep clustering with Keras 3: DEC as in the tutorials, and beyond."""

import os
import sys
import tempfile


def _import_keras_quietly():
    """Import Keras; for the command line, without TensorFlow's start-up lines.

    TensorFlow's C++ side prints CUDA probing and oneDNN notices while it
    loads, before its log level applies, so for the command line
    (``python -m deepcluster_keras``, ``deepcluster-keras``) they are held
    back (and shown if the import fails); ``TF_CPP_MIN_LOG_LEVEL=3`` hides
    the ones that come later. Other users see TensorFlow as it is.
    """
    command_line = sys.argv[:1] == ["-m"] or os.path.basename(sys.argv[0]) == "deepcluster-keras"
    if not command_line or "keras" in sys.modules:
        import keras  # noqa: F401
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import keras  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


_import_keras_quietly()

from deepcluster_keras.layers import ClusteringLayer, KMeansLayer
from deepcluster_keras.dec import (
    PretrainingCollapsed,
    build_clustering_model,
    init_centres,
    pretrain,
    self_train,
    target_distribution,
)
from deepcluster_keras.autoencoders import autoencoder, conv_autoencoder
from deepcluster_keras.datasets import load_data
from deepcluster_keras.estimator import (DAC, DEC, DESOM, DKM, IDEC, IMSAT, RIM,
                                         AlternatingKMeans, VaDE)
from deepcluster_keras import metrics

__version__ = "0.1.0"

__all__ = [
    "ClusteringLayer",
    "KMeansLayer",
    "DEC",
    "IDEC",
    "DKM",
    "AlternatingKMeans",
    "DESOM",
    "VaDE",
    "RIM",
    "IMSAT",
    "DAC",
    "target_distribution",
    "autoencoder",
    "conv_autoencoder",
    "pretrain",
    "PretrainingCollapsed",
    "init_centres",
    "build_clustering_model",
    "self_train",
    "load_data",
    "metrics",
]
