"""Deep Adaptive Clustering (DAC; Chang, Wang, Meng, Xiang and Pan, ICCV 2017).

Clustering as binary classification of pairs. A convolutional network maps
an image ``x_i`` to a softmax over ``n_clusters``; L2-normalised, that is
its label feature ``l_i``, and the similarity of two images is the cosine
``l_i . l_j`` in [0, 1]. The network labels its own pairs: within a batch,
a pair more similar than ``u(lambda)`` is taken as "same cluster"
(``r_ij = 1``), one less similar than ``l(lambda)`` as "different"
(``r_ij = 0``), and the pairs in between are left out. The loss is the
binary cross-entropy ``-r log(s) - (1 - r) log(1 - s)`` of the selected
pairs. As training goes on ``lambda`` grows and the thresholds close in, so
that more and more pairs are used; training ends when they meet. The
cluster of an image is the argmax of its softmax.

:func:`train` runs it a batch at a time, with the batch shifted, rotated
and zoomed at random (:func:`augmentation`) before each step.

Where the defaults come from
----------------------------
- Thresholds ``u(lambda) = 0.95 - lambda``, ``l(lambda) = 0.455 + 0.1 lambda``
  and ``eta = 0.009`` for MNIST: the paper, as issue 20 states it and as in
  HongtaoYang/DAC-tensorflow, a TensorFlow reimplementation. That code
  steps ``lamda += 1.1 * 0.009``: ``eta`` times ``-d(u - l) / d lambda``,
  a gradient step on the ``u(lambda) - l(lambda)`` term of the paper's
  objective. So :data:`LAM_STEP` is ``1.1 * 0.009`` and the thresholds
  meet (at 0.5) after 46 steps. We step once per pass over the data; the
  reimplementation steps every 1000 batches of 128 (about 2.3 passes over
  its 55,000 images).
- RMSprop(0.001) and batches of 128: the authors' code and the
  reimplementation.
- Augmentation: the authors' Keras ``ImageDataGenerator`` (rotations up to
  10 degrees, shifts up to 0.1 of the size, zoom 0.95 to 1.05, nearest
  fill). Their channel shift and rescaling are left out. The
  reimplementation does not augment.
- The network: the reimplementation's MNIST network (:func:`build_dac_network`),
  every batch normalisation without a learnt scale or offset as there.
- Ours: the loss is the mean over the selected pairs (the paper sums
  ``v_ij L(r_ij, l_i . l_j)``; the reimplementation divides the positive
  and the negative sums each by all ``n^2`` pairs); an image is not paired
  with itself (:func:`select_pairs`); batch normalisation with momentum
  0.9, and after each epoch its moving statistics set to those of the whole
  data (:func:`recalibrate_batch_norm`; the authors' networks and the
  reimplementation normalised with batch statistics when predicting too); a last batch of one image
  (no pair) is skipped.

What we could not check
-----------------------
The paper's text was not at hand: the formulas and ``eta`` are as issue 20
states them and as the reimplementation has them, and whether the paper steps
``lambda`` after each pass over the data or after a number of batches is
not confirmed. The code the authors released (vector-1127/DAC, Keras 1
with Theano) is not the paper's algorithm: for MNIST it lowers a single
threshold from 0.9 to 0.5 over 20 epochs and labels the pairs before
augmenting them. Our result on MNIST has not been measured against the
paper's (ACC about 0.978, as we recall it).
"""

import hashlib
import json
import math

import keras
import numpy as np
from keras import ops

from deepcluster_keras.training import PREDICT_BATCH_SIZE, EpochTraining, append_epoch, scores_text
from deepcluster_keras.persistence import EpochCheckpoint
from deepcluster_keras.validation import check_n_clusters, check_positive_int

__all__ = ["thresholds", "epochs_until_thresholds_meet", "pairwise_similarity", "select_pairs",
           "pair_loss", "threshold_targets", "DACLoss", "selected_fraction", "build_dac_network",
           "augmentation", "recalibrate_batch_norm", "train", "min_image_size", "ETA",
           "LAM_STEP"]

#: The paper's step size for MNIST.
ETA = 0.009
#: ``lambda``'s step per epoch: ``eta`` times ``-d(u - l) / d lambda = 1.1``.
LAM_STEP = 1.1 * ETA
#: Similarities are clipped into [_EPS, 1 - _EPS] before the logarithms.
_EPS = 1e-7


def thresholds(lam):
    """The paper's thresholds at ``lam``: ``(u, l) = (0.95 - lam, 0.455 + 0.1 lam)``.

    Parameters
    ----------
    lam : float
        The adaptive parameter ``lambda`` (0 at the start of training).

    Returns
    -------
    upper, lower : float
        Pairs more similar than ``upper`` count as "same cluster", pairs less
        similar than ``lower`` as "different". They meet at 0.5 when
        ``lam = 0.45``.

    Examples
    --------
    >>> thresholds(0.0)
    (0.95, 0.455)
    """
    lam = float(lam)
    return 0.95 - lam, 0.455 + 0.1 * lam


def epochs_until_thresholds_meet(lam_step=LAM_STEP):
    """How many epochs :func:`train` runs before ``upper <= lower``.

    Epoch ``e`` (from 0) trains at ``lambda = e * lam_step``; the first epoch
    whose thresholds have met is not run. 46 for :data:`LAM_STEP`.
    """
    _check_lam_step(lam_step)
    epochs = max(math.floor(0.45 / lam_step) - 1, 0)
    while _thresholds_open(epochs, lam_step):
        epochs += 1
    return epochs


def _check_lam_step(lam_step):
    if not np.isfinite(lam_step) or lam_step <= 0:
        raise ValueError("Received an invalid value for `lam_step`, expected a positive number "
                         "(lambda must grow for the thresholds to meet). "
                         f"Received: lam_step={lam_step!r}")


def _thresholds_open(epoch, lam_step):
    upper, lower = thresholds(epoch * lam_step)
    return upper > lower


def pairwise_similarity(p):
    """Cosines ``l_i . l_j`` of the L2-normalised rows of ``p``.

    Parameters
    ----------
    p : tensor of shape (n, n_clusters)
        Softmax outputs (non-negative), so the cosines lie in [0, 1].

    Returns
    -------
    tensor of shape (n, n)
    """
    p = ops.cast(p, "float32")
    features = p / ops.sqrt(ops.maximum(ops.sum(p * p, axis=-1, keepdims=True), 1e-12))
    return ops.matmul(features, ops.transpose(features))


def select_pairs(similarity, upper, lower):
    """The pairs DAC trains on, and the label it gives each.

    Parameters
    ----------
    similarity : tensor of shape (n, n)
    upper, lower : float or scalar tensor
        The thresholds, ``upper >= lower`` (:func:`thresholds`).

    Returns
    -------
    targets : tensor of shape (n, n)
        1 where ``similarity > upper`` (same cluster), 0 elsewhere.
    weights : tensor of shape (n, n)
        1 where the pair is selected (``similarity > upper`` or
        ``similarity < lower``), 0 where it is left out.

    Notes
    -----
    The diagonal (an image with itself) is never selected: its similarity
    is 1 whatever the network, so it has no gradient and would only count
    in the mean. The paper sums over all pairs of the batch, itself
    included; for the loss this changes only the divisor.
    """
    similarity = ops.convert_to_tensor(similarity)
    dtype = similarity.dtype
    off_diagonal = 1.0 - ops.eye(ops.shape(similarity)[0], dtype=dtype)
    same = similarity > upper
    targets = ops.cast(same, dtype) * off_diagonal
    weights = ops.cast(ops.logical_or(same, similarity < lower), dtype) * off_diagonal
    return targets, weights


def pair_loss(p, upper, lower):
    """DAC's loss of a batch: the mean binary cross-entropy of its selected pairs.

    Parameters
    ----------
    p : tensor of shape (n, n_clusters)
        The batch's softmax outputs.
    upper, lower : float or scalar tensor

    Returns
    -------
    scalar tensor
        ``sum_ij w_ij BCE(r_ij, s_ij) / sum_ij w_ij`` with ``s`` the
        similarities clipped into [1e-7, 1 - 1e-7] and ``r``, ``w`` from
        :func:`select_pairs`; 0 when no pair is selected. The selection
        carries no gradient.
    """
    similarity = pairwise_similarity(p)
    targets, weights = select_pairs(ops.stop_gradient(similarity), upper, lower)
    s = ops.clip(similarity, _EPS, 1.0 - _EPS)
    entropy = -(targets * ops.log(s) + (1.0 - targets) * ops.log(1.0 - s))
    return ops.sum(weights * entropy) / ops.maximum(ops.sum(weights), 1.0)


def threshold_targets(n, upper, lower):
    """The ``y`` to give :class:`DACLoss` for a batch of ``n``: every row ``(upper, lower)``.

    Returns
    -------
    ndarray of shape (n, 2), float32
    """
    return np.tile(np.float32([[upper, lower]]), (int(n), 1))


def _thresholds_of(y_true):
    return y_true[0, 0], y_true[0, 1]


@keras.saving.register_keras_serializable(package="deepcluster_keras")
class DACLoss(keras.losses.Loss):
    """:func:`pair_loss` of the batch, with the thresholds passed as ``y_true``.

    ``y_true`` is the array of :func:`threshold_targets`: its rows hold
    ``(upper, lower)``. The thresholds travel with the data, not as state of
    the loss, because a compiled train step keeps what it read when it was
    traced: on JAX even a ``keras.Variable`` held by the loss (it is not
    one of the model's variables) is frozen at its first value, and on any
    backend a Python float is. As data they are read afresh at every
    ``train_on_batch`` or ``evaluate``, on every backend.
    """

    def __init__(self, name="dac_pairs", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        upper, lower = _thresholds_of(y_true)
        # One value for the whole batch, given to every sample: the mean is that value.
        return ops.ones_like(y_pred[:, 0], dtype="float32") * pair_loss(y_pred, upper, lower)


@keras.saving.register_keras_serializable(package="deepcluster_keras")
def selected_fraction(y_true, y_pred):
    """The fraction of the batch's pairs (an image with itself left out) that
    :func:`select_pairs` selects; a metric, with ``y_true`` as for :class:`DACLoss`."""
    upper, lower = _thresholds_of(y_true)
    _, weights = select_pairs(pairwise_similarity(y_pred), upper, lower)
    n = ops.cast(ops.shape(y_pred)[0], "float32")
    fraction = ops.sum(weights) / ops.maximum(n * (n - 1.0), 1.0)
    return ops.ones_like(y_pred[:, 0], dtype="float32") * fraction


def build_dac_network(input_shape=(28, 28, 1), n_clusters=10, *, filters=(64, 128),
                      convs_per_block=3, padding="valid", seed=None):
    """The paper's network for MNIST, from images to an ``n_clusters``-way softmax.

    Each entry of ``filters`` is a block of ``convs_per_block`` 3x3
    convolutions, each followed by batch normalisation and ReLU, then a 2x2
    max-pooling (while the image is at least 2 pixels wide) and batch
    normalisation. Then a 1x1 convolution to ``n_clusters`` channels with
    batch normalisation and ReLU, average pooling over what is left of the
    image, batch normalisation, and two dense ``n_clusters``-unit layers
    (identity-initialised), each with batch normalisation and ReLU, before
    the softmax. With the defaults on 28x28 images: the MNIST network of the
    TensorFlow reimplementation (HongtaoYang/DAC-tensorflow, ACC 0.973 on
    MNIST), as the paper and the authors' code describe it.

    Every batch normalisation only standardises (no learnt scale or offset,
    as in that reimplementation): each cluster's logit has zero mean and unit
    spread over a batch, so no cluster can be switched off by an offset and
    the softmax, after the ReLU, stays soft. On MNIST-test (seed 0, the
    whole 46-epoch schedule; docs/information.md) this network ends at ACC
    0.66 with every cluster in use and under a tenth of the labels changing
    per epoch; the lighter one used before (same padding, no dense layers,
    a learnt scale and offset in every batch normalisation) ended at 0.47
    with four of ten clusters empty and a third of its labels changing per
    epoch, and fixing only its last normalisation kept it near 0.5.

    Parameters
    ----------
    input_shape : tuple of 3 ints, default=(28, 28, 1)
        (height, width, channels). The network takes images; flat vectors
        (784 for MNIST) must be reshaped by the caller.
    n_clusters : int >= 2, default=10
    filters : tuple of int, default=(64, 128)
        Channels of each block; smaller ones make a cheaper network.
    convs_per_block : int >= 1, default=3
    padding : {"valid", "same"}, default="valid"
        The convolutions' padding. "valid" (the paper's) takes images of at
        least 20x20 pixels with the default blocks (:func:`min_image_size`); "same" takes any size
        (scikit-learn's 8x8 digits).
    seed : int, optional
        Seeds the convolutions' initialisers (He normal, as the authors').

    Returns
    -------
    keras.Model
        A functional model named ``"dac_network"``, of plain Keras layers
        (it loads with ``keras.saving.load_model`` alone).
    """
    n_clusters = check_n_clusters(n_clusters)
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError("Received an invalid value for `input_shape`, expected "
                         "(height, width, channels) of positive sizes. "
                         f"Received: input_shape={input_shape!r}")
    if not filters or not all(int(f) >= 1 for f in filters) or int(convs_per_block) < 1:
        raise ValueError("Received an invalid value for `filters` or `convs_per_block`, expected "
                         f"positive sizes. Received: filters={filters!r}, "
                         f"convs_per_block={convs_per_block!r}")
    if padding not in ("valid", "same"):
        raise ValueError("Received an invalid value for `padding`, expected 'valid' or 'same'. "
                         f"Received: padding={padding!r}")
    smallest = min_image_size(filters, convs_per_block) if padding == "valid" else 1
    if min(input_shape[:2]) < smallest:
        raise ValueError(
            f"DAC's network with padding='valid' takes images of at least {smallest}x{smallest} "
            f"pixels (filters={tuple(filters)}, convs_per_block={convs_per_block}). Received: "
            f"input_shape={input_shape!r}. Use padding='same' for smaller images.")
    seeds = iter(range(10**6)) if seed is None else iter(range(int(seed), int(seed) + 10**6))

    def kernel_init():
        return keras.initializers.HeNormal(None if seed is None else next(seeds))

    def standardise(t, name):
        return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, center=False,
                                               scale=False, name=name)(t)

    inputs = keras.Input(input_shape, name="images")
    x, size = inputs, min(input_shape[:2])
    for b, width in enumerate(filters):
        for c in range(int(convs_per_block)):
            name = f"conv_{b + 1}_{c + 1}"
            x = keras.layers.Conv2D(int(width), 3, padding=padding, use_bias=False,
                                    kernel_initializer=kernel_init(), name=name)(x)
            x = keras.layers.ReLU(name=f"{name}_relu")(standardise(x, f"{name}_bn"))
        size, pools = _block_width(size, convs_per_block, padding)
        if pools:
            x = keras.layers.MaxPooling2D(2, name=f"pool_{b + 1}")(x)
            x = standardise(x, f"pool_{b + 1}_bn")
    x = keras.layers.Conv2D(n_clusters, 1, use_bias=False, kernel_initializer=kernel_init(),
                            name="to_clusters")(x)
    x = keras.layers.ReLU(name="to_clusters_relu")(standardise(x, "to_clusters_bn"))
    x = standardise(keras.layers.GlobalAveragePooling2D(name="average")(x), "average_bn")
    for d in (1, 2):
        x = keras.layers.Dense(n_clusters, use_bias=False,
                               kernel_initializer=keras.initializers.Identity(),
                               name=f"dense_{d}")(x)
        x = keras.layers.ReLU(name=f"dense_{d}_relu")(standardise(x, f"dense_{d}_bn"))
    outputs = keras.layers.Softmax(name="clusters")(x)
    return keras.Model(inputs, outputs, name="dac_network")


def min_image_size(filters=(64, 128), convs_per_block=3):
    """The smallest height (and width) :func:`build_dac_network` takes with
    ``padding="valid"``: each 3x3 convolution takes 2 pixels off, each
    block's pooling halves what is left (20 with the defaults)."""
    def left(size):  # what is left of the image after the blocks, 0 when nothing
        for _ in filters:
            size, _ = _block_width(size, convs_per_block, "valid")
            if size < 1:
                return 0
        return size

    size = 1
    while not left(size):
        size += 1
    return size


def _block_width(size, convs_per_block, padding):
    """The image width after one block of :func:`build_dac_network` and
    whether the block pools: each "valid" 3x3 convolution takes 2 pixels
    off, the pooling halves what is left when it is at least 2 pixels wide.
    A width under 1 means the image is too small for the block."""
    if padding == "valid":
        size -= 2 * int(convs_per_block)
    pools = size >= 2
    return (size // 2 if pools else size), pools


def augmentation(seed=None, *, shift=0.1, rotation=10.0, zoom=0.05):
    """Random shifts, rotations and zooms of a batch of images (training only).

    Parameters
    ----------
    seed : int, optional
        Seeds the three layers (``seed``, ``seed + 1``, ``seed + 2``): the
        same seed gives the same sequence of transforms.
    shift : float, default=0.1
        Largest shift, as a fraction of the height and of the width.
    rotation : float, default=10.0
        Largest rotation, in degrees either way.
    zoom : float, default=0.05
        Zoom in or out by up to this fraction.

    Returns
    -------
    keras.Sequential
        Call it as ``augment(images, training=True)``; edges are filled with
        the nearest pixel, as the authors' ``ImageDataGenerator`` did.
    """
    def layer_seed(i):
        return None if seed is None else int(seed) + i

    return keras.Sequential([
        keras.layers.RandomTranslation(shift, shift, fill_mode="nearest", seed=layer_seed(0)),
        keras.layers.RandomRotation(rotation / 360.0, fill_mode="nearest", seed=layer_seed(1)),
        keras.layers.RandomZoom(zoom, fill_mode="nearest", seed=layer_seed(2)),
    ], name="augmentation")


def recalibrate_batch_norm(model, x, batch_size=1024):
    """Set the moving statistics of ``model``'s batch normalisation to those of ``x``.

    One pass over ``x`` in training mode, with the weights as they are:
    each :class:`keras.layers.BatchNormalization` layer's moving mean and
    variance become the averages of those of the chunks (of ``batch_size``
    samples, taken at a stride through ``x`` so that sorted data is mixed),
    weighted by their sizes. Afterwards ``model.predict`` normalises as a
    batch of all of ``x`` would be normalised.

    Why: the moving averages trail the weights by some tens of batches, a
    large part of an epoch of a small data set, and the labels predicted
    from them then change by a quarter from one epoch to the next (measured
    on scikit-learn's digits; under a tenth once recalibrated). The authors'
    networks normalised with the batch's own statistics when predicting
    too (Keras 1's ``mode=2``).
    """
    layers = [layer for layer in _all_layers(model)
              if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    n_chunks = -(-len(x) // batch_size)
    seen = 0
    try:
        for i in range(n_chunks):
            chunk = x[i::n_chunks]
            for layer in layers:
                layer.momentum = seen / (seen + len(chunk))
            model(chunk, training=True)
            seen += len(chunk)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum


def _all_layers(model):
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from _all_layers(layer)


def _check_train_args(model, x, epochs, batch_size, lam_step, learning_rate):
    _check_lam_step(lam_step)
    check_positive_int(batch_size, "batch_size", minimum=2)  # pairs within a batch
    if epochs is not None:
        check_positive_int(epochs, "epochs")
    if not np.isfinite(learning_rate) or learning_rate <= 0:
        raise ValueError("Received an invalid value for `learning_rate`, expected a positive "
                         f"number. Received: learning_rate={learning_rate!r}")
    expected = tuple(model.input_shape[1:])
    if np.ndim(x) != 4 or tuple(x.shape[1:]) != expected:
        shape = ", ".join(map(str, expected))
        raise ValueError(f"DAC's network takes images of shape (n_samples, {shape}) (height, "
                         f"width, channels); reshape flat data: x.reshape(-1, {shape}). "
                         f"Received: x.shape={np.shape(x)}")


def _architecture(model):
    """A digest of ``model``'s layers (kinds, sizes, shapes): a checkpoint of
    another network is refused rather than half loaded."""
    layers = [(type(layer).__name__, layer.count_params(), str(layer.output.shape))
              for layer in _all_layers(model)]
    return hashlib.sha256(json.dumps(layers).encode()).hexdigest()[:12]


def _monitored(n, monitor_size, seed):
    """The sorted indices of the images labelled each epoch; None: all ``n``."""
    if monitor_size is None or monitor_size >= n:
        return None
    # A stream of its own: the epochs' orders are drawn from (seed, epoch).
    rng = np.random.default_rng([seed, 2**31])
    return np.sort(rng.choice(n, size=int(monitor_size), replace=False))


def _labels(model, x):
    """The clusters of ``x``, once the moving statistics are ``x``'s."""
    recalibrate_batch_norm(model, x)
    return model.predict(x, batch_size=PREDICT_BATCH_SIZE, verbose=0).argmax(1)


def train(model, x, y=None, *, epochs=None, batch_size=128, lam_step=LAM_STEP,
          learning_rate=0.001, seed=0, monitor_size=None, verbose=1, checkpoint_dir=None):
    """Train a :func:`build_dac_network` network by DAC, a batch at a time.

    Compiles ``model`` with RMSprop(``learning_rate``) and :class:`DACLoss`.
    Epoch ``e`` (from 0) trains at ``lambda = e * lam_step`` with the
    :func:`thresholds` of that ``lambda``, on batches in a fresh permutation
    drawn from ``(seed, e)``, each augmented (:func:`augmentation`, seeded
    from the same draw) before its ``train_on_batch``. After each epoch the
    batch normalisation's moving statistics are set to those of ``x``
    (:func:`recalibrate_batch_norm`) and the labels are the argmax of the
    network's predictions on ``x`` as it is (not augmented). These two
    passes take about 0.7 of the time of an epoch's training steps (28x28
    images, two CPU cores); ``monitor_size`` makes them a fixed sample's,
    and all of ``x``'s once at the end.

    Parameters
    ----------
    model : keras.Model
        From :func:`build_dac_network`; its weights are trained in place.
    x : ndarray of shape (n_samples, height, width, channels)
        Images scaled to [0, 1] (or of a similar range).
    y : ndarray of shape (n_samples,), optional
        True labels: only to record ACC, NMI and ARI each epoch (on the
        sample's images, with ``monitor_size``).
    epochs : int, optional
        At most this many epochs; None (default) runs until the thresholds
        meet (:func:`epochs_until_thresholds_meet`, 46 epochs with the
        default ``lam_step``), which also ends a longer ``epochs``.
    batch_size : int >= 2, default=128
    lam_step : float > 0, default=LAM_STEP (1.1 * 0.009)
        ``lambda``'s increase per epoch.
    learning_rate : float, default=0.001
    seed : int, default=0
        The batch orders and the augmentation.
    monitor_size : int, optional
        Compute each epoch's labels (and so ``delta_label`` and the scores)
        on a fixed random sample of this many images (drawn from ``seed``)
        instead of all of ``x``; the labels returned are of all of ``x``,
        after the last epoch. Training is the same either way: the moving
        statistics of batch normalisation, which the labels use, play no
        part in training steps. None (default), or not less than
        ``len(x)``: all of ``x`` every epoch.
    verbose : int, default=1
        One line per epoch when true.
    checkpoint_dir : path, optional
        Save the model, its optimizer, the labels and the history there
        after every epoch; a call with the same data and settings continues
        from there. Removed once training is done.

    Returns
    -------
    EpochTraining
        ``history`` has per epoch: ``epoch`` (from 1), ``lambda``, ``upper``,
        ``lower``, ``loss`` (mean over the batches), ``selected`` (mean over
        the batches of the fraction of pairs selected), ``delta_label``
        (labels changed since the epoch before, 1.0 after the first) and
        ``acc``, ``nmi``, ``ari`` when ``y`` was given.

    Raises
    ------
    FloatingPointError
        When the loss becomes NaN or infinite.
    """
    x = np.asarray(x)
    _check_train_args(model, x, epochs, batch_size, lam_step, learning_rate)
    if monitor_size is not None:
        check_positive_int(monitor_size, "monitor_size", minimum=2)
    monitored = _monitored(len(x), monitor_size, seed)
    scored, scored_y = (x, y) if monitored is None else (
        x[monitored], None if y is None else np.asarray(y)[monitored])
    say = print if verbose else (lambda *a, **k: None)
    last = epochs_until_thresholds_meet(lam_step)
    if epochs is not None:
        last = min(int(epochs), last)
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate), loss=DACLoss(),
                  metrics=[selected_fraction])
    history = {k: [] for k in ("epoch", "lambda", "upper", "lower", "loss", "selected",
                               "delta_label")}
    if y is not None:
        history.update(acc=[], nmi=[], ari=[])
    settings = {
        "epochs": None if epochs is None else int(epochs), "batch_size": int(batch_size),
        "lam_step": float(lam_step), "learning_rate": float(learning_rate), "seed": int(seed)}
    if monitored is not None:  # (so that checkpoints made before the option still resume)
        settings["monitor_size"] = len(monitored)
    settings["network"] = _architecture(model)
    progress = EpochCheckpoint(checkpoint_dir, x, settings, model)
    first, history, labels = progress.resume(history, say, "epoch", last)
    if monitored is not None:
        say(f"   labels and scores each epoch: on {len(monitored)} of the {len(x)} images")
    for epoch in range(first, last):
        lam = epoch * lam_step
        upper, lower = thresholds(lam)
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(x))
        augment = augmentation(seed=int(rng.integers(2**31 - 3)))
        losses, fractions = [], []
        for begin in range(0, len(x), batch_size):
            batch = x[order[begin:begin + batch_size]]
            if len(batch) < 2:
                continue  # no pair to learn from
            images = ops.convert_to_numpy(augment(batch, training=True))
            logs = model.train_on_batch(images, threshold_targets(len(batch), upper, lower),
                                        return_dict=True)
            if not np.isfinite(logs["loss"]):
                raise FloatingPointError(
                    f"DAC's loss became {logs['loss']} in epoch {epoch + 1}, batch "
                    f"{begin // batch_size + 1}: training diverged. Scale the images to [0, 1] "
                    f"or lower learning_rate (it is {learning_rate}).")
            losses.append(logs["loss"])
            fractions.append(logs["selected_fraction"])
        previous, labels = labels, _labels(model, scored)
        entry = {"epoch": epoch + 1, "lambda": lam, "upper": upper, "lower": lower,
                 "loss": float(np.mean(losses)), "selected": float(np.mean(fractions)),
                 "delta_label": 1.0 if previous is None else float(np.mean(labels != previous))}
        append_epoch(history, entry, scored_y, labels)
        say(f"   epoch {epoch + 1}/{last}  u {upper:.3f}  l {lower:.3f}  loss {entry['loss']:.4f}"
            f"  selected {entry['selected']:.3f}  changed {entry['delta_label']:.4f}"
            + scores_text(entry),
            flush=True)
        progress.save(epoch + 1, history, labels)
    progress.done()
    if monitored is not None:  # the sample's labels: now those of all of x
        labels = _labels(model, x)
    elif labels is None:  # no epoch to run
        labels = model.predict(x, batch_size=PREDICT_BATCH_SIZE, verbose=0).argmax(1)
    return EpochTraining(history=history, labels=labels, epochs=len(history["epoch"]),
                         seconds=progress.seconds())
