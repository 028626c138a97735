"""Deep clustering with Keras 3: DEC as in the tutorials, and beyond."""

import importlib
import os
import sys

__version__ = "0.1.0"

#: Where each public name lives.
_PUBLIC = {
    "ClusteringLayer": "layers", "KMeansLayer": "layers",
    "DEC": "estimator", "IDEC": "estimator", "DKM": "estimator", "AlternatingKMeans": "estimator",
    "DESOM": "estimator", "VaDE": "estimator", "RIM": "estimator", "IMSAT": "estimator",
    "DAC": "estimator",
    "target_distribution": "dec", "pretrain": "training", "PretrainingCollapsed": "training",
    "init_centres": "dec", "build_clustering_model": "dec", "self_train": "dec",
    "autoencoder": "autoencoders", "conv_autoencoder": "autoencoders",
    "load_data": "datasets",
    "metrics": None,
}

__all__ = list(_PUBLIC)


def __getattr__(name):
    """The public names, imported when first used (PEP 562)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _PUBLIC[name]
    value = importlib.import_module(f"{__name__}.{module or name}")
    if module is not None:
        value = getattr(value, name)
    globals()[name] = value
    return value


def _on_the_command_line():
    """Whether this process is ``python -m deepcluster_keras`` or the
    ``deepcluster-keras`` script: then :mod:`cli` reads the arguments before
    TensorFlow starts (``--help`` in a second, not ten)."""
    return sys.argv[:1] == ["-m"] or os.path.basename(sys.argv[0]) == "deepcluster-keras"


if not _on_the_command_line():
    from deepcluster_keras._startup import import_keras

    import_keras()
    # Importing the package registers ClusteringLayer and KMeansLayer with Keras,
    # so a saved model loads with plain keras.saving.load_model.
    for _name in __all__:
        __getattr__(_name)
    del _name
