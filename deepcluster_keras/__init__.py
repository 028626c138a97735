"""Deep clustering with Keras 3: DEC as in the tutorials, and beyond."""

from deepcluster_keras.layers import ClusteringLayer
from deepcluster_keras.dec import (
    build_clustering_model,
    init_centres,
    pretrain,
    self_train,
    target_distribution,
)
from deepcluster_keras.autoencoders import autoencoder, conv_autoencoder
from deepcluster_keras.datasets import load_data
from deepcluster_keras.estimator import DEC, IDEC
from deepcluster_keras import metrics

__version__ = "0.1.0"

__all__ = [
    "ClusteringLayer",
    "DEC",
    "IDEC",
    "target_distribution",
    "autoencoder",
    "conv_autoencoder",
    "pretrain",
    "init_centres",
    "build_clustering_model",
    "self_train",
    "load_data",
    "metrics",
]
