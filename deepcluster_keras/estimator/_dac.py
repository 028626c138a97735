"""DAC: a convolutional network trained on the image pairs it labels itself,
no autoencoder (:mod:`deepcluster_keras.dac`)."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from deepcluster_keras import dac
from deepcluster_keras.estimator._information import _InformationClustering


class DAC(_InformationClustering):
    """Deep Adaptive Clustering (Chang et al., ICCV 2017), as its authors'
    released code trains it (:mod:`deepcluster_keras.dac`).

    A convolutional network ``p(y | x)`` trained on the pairs of images it
    labels itself: per chunk of ``chunk_size`` images, a pair whose softmax
    outputs on the clean images have a cosine above the threshold is "same
    cluster", every other pair "different"; ``passes`` passes of transformed
    batches learn those labels (MSE between cosines and labels, all pairs).
    The threshold falls from 0.9 to 0.5 over the epochs. Clusters: the argmax.

    What is the authors' and what is ours: the network, its batch
    normalisation with batch statistics (in prediction too), the loss, the
    chunks and passes, the threshold schedule, RMSprop(0.001), batch 128,
    the transforms and the preprocessing (the images scaled to [0, 1] minus
    their global mean) are theirs; ours are the random streams, the
    checkpoints, and "same" padding for images under 20x20 pixels.

    Parameters
    ----------
    n_clusters : int >= 2, default=10
    image_shape : (int, int) or None, default=None
        Height and width of the images when ``X`` is flat; None: square.
        ``X`` may also be images, (n_samples, height, width[, 1]).
    epochs : int, default=20
    chunk_size : int, default=1000
        Images labelled at a time (at least this many are needed).
    passes : int, default=5
        Passes over each chunk with its labels.
    batch_size : int >= 2, default=128
    threshold_start, threshold_end : float, default=0.9, 0.5
        The threshold of the first epoch, and where it would be after the last.
    learning_rate : float, default=0.001
        RMSprop's.
    padding : {"auto", "valid", "same"}, default="auto"
        The network's convolutions' (:func:`dac.build_dac_network`): "valid"
        is the authors', for images of at least 20x20 pixels; "same" takes
        smaller ones (scikit-learn's 8x8 digits). "auto": "valid" when the
        images are large enough, else "same".
    verbose, random_state, checkpoint_dir : as :class:`DEC`; the progress is
        kept after every epoch and inside one every ten minutes (after a
        chunk), so an interrupted fit loses at most that. On TensorFlow an
        int ``random_state`` repeats a fit only when TensorFlow runs one
        operation at a time: set ``TF_NUM_INTEROP_THREADS=1`` before
        TensorFlow is imported (the command line does).

    Attributes
    ----------
    labels_, history_ (per epoch: threshold, loss, share of "same" pairs,
    ACC...), epochs_, seconds_, n_features_in_, mean_ (subtracted from the
    images), model_ (the network, on images).
    """

    _parameter_constraints = {
        **_InformationClustering._parameter_constraints,
        "image_shape": [tuple, list, None],
        "chunk_size": [Interval(Integral, 2, None, closed="left")],
        "passes": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "threshold_start": [Interval(Real, -1, 1, closed="both")],
        "threshold_end": [Interval(Real, -1, 1, closed="both")],
        "padding": [StrOptions({"auto", "valid", "same"})],
    }
    _saved_attributes = _InformationClustering._saved_attributes + ("mean",)

    def __init__(self, n_clusters=10, *, image_shape=None, epochs=20, chunk_size=1000, passes=5,
                 batch_size=128, threshold_start=dac.THRESHOLD_START,
                 threshold_end=dac.THRESHOLD_END, learning_rate=0.001, padding="auto",
                 verbose=0, random_state=None, checkpoint_dir=None):
        self.n_clusters = n_clusters
        self.image_shape = image_shape
        self.epochs = epochs
        self.chunk_size = chunk_size
        self.passes = passes
        self.batch_size = batch_size
        self.threshold_start = threshold_start
        self.threshold_end = threshold_end
        self.learning_rate = learning_rate
        self.padding = padding
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir

    def _check_x(self, X, reset):
        X = super()._check_x(X, reset)
        n_features = X.shape[1]
        if self.image_shape is not None:
            height, width = tuple(self.image_shape)
        else:
            height = width = int(round(np.sqrt(n_features)))
        if height * width != n_features:
            raise ValueError(
                f"DAC takes images: X's {n_features} features are not a "
                + ("square image" if self.image_shape is None else
                   f"{height}x{width} image (image_shape={tuple(self.image_shape)})")
                + ". Give image_shape=(height, width), or X of shape (n_samples, height, width).")
        if reset:  # the authors' preprocessing: x / 255 minus the global mean
            self.mean_ = float(X.mean())
        if reset and len(X) < self.chunk_size:
            raise ValueError(
                f"DAC labels the images in chunks of chunk_size={self.chunk_size}: X has only "
                f"{len(X)} samples. Give more samples or a smaller chunk_size.")
        return (X - np.float32(self.mean_)).reshape(len(X), height, width, 1)

    def _model(self, shape, seed):
        padding = self.padding
        if padding == "auto":
            padding = "valid" if min(shape[:2]) >= dac.min_image_size() else "same"
        return dac.build_dac_network(shape, self.n_clusters, padding=padding, seed=seed)

    def _train(self, model, X, y, seed, checkpoint_dir, callbacks=None):
        pairs = dac.build_pair_model(model, dac.augmentation(seed=seed))
        pairs.compile(optimizer=dac.optimizer(self.learning_rate), loss="mse")
        return dac.train(pairs, model, X, y, epochs=self.epochs, chunk_size=self.chunk_size,
                         passes=self.passes, batch_size=self.batch_size,
                         threshold_start=self.threshold_start, threshold_end=self.threshold_end,
                         seed=seed, verbose=self.verbose, checkpoint_dir=checkpoint_dir,
                         callbacks=callbacks)

    def predict_proba(self, X):
        """``p(y | x)``, ndarray of shape (n_samples, n_clusters): in batches
        of 128 taken in order, as the authors scored (each batch normalised
        with its own statistics, so a sample's output depends on its batch)."""
        check_is_fitted(self, "model_")
        return dac.predict(self.model_, self._check_x(X, reset=False))
