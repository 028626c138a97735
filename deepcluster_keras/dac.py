"""Deep Adaptive Clustering (DAC; Chang, Wang, Meng, Xiang and Pan, ICCV 2017),
as its authors' released code trains it (github vector-1127/DAC, ``MNIST/mnist.py``).

Clustering as binary classification of pairs. A convolutional network maps
an image to a softmax over ``n_clusters``; the similarity of two images is
the cosine of their softmax outputs. The network labels its own pairs:

1. The data is taken in chunks of 1,000 images, in order. For each chunk
   the network, as it is, predicts the *clean* images; a pair whose cosine
   is above the threshold is labelled 1 ("same cluster"), every other pair
   0 (:func:`pair_labels`): every pair, the self-pairs too.
2. Five passes over the chunk in shuffled batches of 128 train on those
   fixed labels, each batch shifted, rotated, zoomed, channel-shifted and
   rescaled at random (:func:`augmentation`), the same transformed batch
   on both sides of the pairs; the loss is the mean squared error between
   the batch's cosine matrix and its labels (:class:`PairSimilarity`, MSE).
3. After all chunks (an epoch) the threshold is lowered, from 0.9 by
   0.02 an epoch over 20 epochs (:func:`threshold`).

The cluster of an image is the argmax of its softmax. Every batch
normalisation uses the statistics of the batch it is given, in prediction
too, with a learnt scale and offset (Keras 1's ``mode=2``,
:class:`BatchStatisticsNormalization`): a prediction depends on the batch it
is made in, so the batch sizes are the authors' (32 for the labels, 128 for
the scores). ``docs/information.md`` has the comparison line by line and
what differs.
"""

import time

import keras
import numpy as np
from keras import ops

from deepcluster_keras.augmentation import RandomTransform
from deepcluster_keras.training import check_finite, epoch_loop
from deepcluster_keras.validation import check_n_clusters

__all__ = ["threshold", "pair_labels", "cosine_similarity", "PairSimilarity",
           "BatchStatisticsNormalization", "build_dac_network", "build_pair_model", "augmentation",
           "optimizer", "predict", "train", "min_image_size", "THRESHOLD_START", "THRESHOLD_END",
           "LABEL_BATCH_SIZE", "SCORE_BATCH_SIZE"]

#: The authors' threshold: 0.9 in the first epoch, lowered by (0.9 - 0.5) / epochs each epoch.
THRESHOLD_START, THRESHOLD_END = 0.9, 0.5
#: ``cluster.predict``'s batches in the authors' code: Keras' default 32 for
#: the pair labels (``myCenter``), 128 for the scores after each epoch.
LABEL_BATCH_SIZE, SCORE_BATCH_SIZE = 32, 128


def threshold(epoch, epochs, start=THRESHOLD_START, end=THRESHOLD_END):
    """The threshold of epoch ``epoch`` (from 0): ``start - epoch (start - end) / epochs``.

    >>> [round(threshold(e, 20), 2) for e in (0, 1, 19)]
    [0.9, 0.88, 0.52]
    """
    return float(start) - int(epoch) * (float(start) - float(end)) / int(epochs)


def cosine_similarity(p):
    """The cosines between the rows of ``p`` (NumPy): ``(n, n)``."""
    p = np.asarray(p, dtype="float64")
    unit = p / np.linalg.norm(p, axis=1, keepdims=True)
    return unit @ unit.T


def pair_labels(p, th):
    """1 where the cosine of two rows of ``p`` is above ``th``, else 0, for
    every pair of rows, each row with itself too: the authors' ``myDist``."""
    return (cosine_similarity(p) > th).astype("float32")


@keras.saving.register_keras_serializable(package="deepcluster_keras")
class PairSimilarity(keras.layers.Layer):
    """The cosine of every pair of rows of a batch: ``(batch, batch)``."""

    def call(self, p):
        unit = p / ops.sqrt(ops.sum(ops.square(p), axis=1, keepdims=True))
        return ops.matmul(unit, ops.transpose(unit))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[0])


@keras.saving.register_keras_serializable(package="deepcluster_keras")
class BatchStatisticsNormalization(keras.layers.Layer):
    """Batch normalisation with the batch's own statistics, in training and
    in prediction, and a learnt scale and offset: Keras 1's
    ``BatchNormalization(mode=2)`` (epsilon 1e-3, its default), over every
    axis but the last (the features, or the channels of images)."""

    def __init__(self, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="beta")

    def call(self, x):
        axes = tuple(range(len(x.shape) - 1))
        mean, variance = ops.moments(x, axes=axes, keepdims=True)
        return (x - mean) / ops.sqrt(variance + self.epsilon) * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def _he_normal(seed):
    """Keras 1's ``he_normal``: a normal (not truncated) of std sqrt(2 / fan_in)."""
    return keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal", seed=seed)


def build_dac_network(input_shape=(28, 28, 1), n_clusters=10, *, padding="valid", seed=None):
    """The authors' MNIST network (``mnistNetwork``), images to a softmax.

    Three 3x3 convolutions of 64 channels, 2x2 max-pooling, three of 128,
    max-pooling, a 1x1 convolution to ``n_clusters`` channels, 2x2 average
    pooling, then two ``n_clusters``-unit dense layers initialised to the
    identity, and the softmax; a :class:`BatchStatisticsNormalization` after
    every convolution, pooling and dense layer, ReLU after the
    convolutions' and the dense layers'. Convolutions with a bias, He-normal
    kernels (Keras 1's, untruncated).

    ``padding="valid"`` is theirs (Keras 1's default), for images of at
    least :func:`min_image_size` pixels; ``"same"`` takes smaller ones
    (scikit-learn's 8x8 digits), where a pooling is left out once the image
    is one pixel wide.
    """
    n_clusters = check_n_clusters(n_clusters)
    if padding not in ("valid", "same"):
        raise ValueError(f"Expected padding 'valid' or 'same'. Received: padding={padding!r}")
    if len(input_shape) != 3:
        raise ValueError("The network takes images (height, width, channels). Received: "
                         f"input_shape={input_shape!r}")
    if padding == "valid" and min(input_shape[:2]) < min_image_size():
        raise ValueError(
            f"With padding='valid' the network needs images of at least {min_image_size()}x"
            f"{min_image_size()} pixels. Received: input_shape={input_shape!r}. Use "
            "padding='same' for smaller images.")
    seeds = iter(range(10**6)) if seed is None else iter(range(int(seed), int(seed) + 10**6))

    def normalise(t, name):
        return BatchStatisticsNormalization(name=name)(t)

    def conv(t, width, size, name):
        t = keras.layers.Conv2D(width, size, padding=padding,
                                kernel_initializer=_he_normal(None if seed is None else next(seeds)),
                                name=name)(t)
        return keras.layers.ReLU(name=f"{name}_relu")(normalise(t, f"{name}_bn"))

    def pool(t, layer, name):
        if min(t.shape[1:3]) < 2:
            return t
        return normalise(layer(2, name=name)(t), f"{name}_bn")

    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for block, width in enumerate((64, 128), start=1):
        for c in range(1, 4):
            x = conv(x, width, 3, f"conv_{block}_{c}")
        x = pool(x, keras.layers.MaxPooling2D, f"pool_{block}")
    x = conv(x, n_clusters, 1, "to_clusters")
    x = keras.layers.Flatten(name="flatten")(pool(x, keras.layers.AveragePooling2D, "average"))
    for d in (1, 2):
        x = keras.layers.Dense(n_clusters, kernel_initializer=keras.initializers.Identity(),
                               name=f"dense_{d}")(x)
        x = keras.layers.ReLU(name=f"dense_{d}_relu")(normalise(x, f"dense_{d}_bn"))
    outputs = keras.layers.Softmax(name="clusters")(x)
    return keras.Model(inputs, outputs, name="dac_network")


def min_image_size():
    """The smallest height and width the network takes with "valid"
    padding: 20 (three 3x3 convolutions take 6 pixels, the pooling halves,
    three more take 6 and leave at least one pixel)."""
    return 20


def augmentation(image_shape=None, seed=None):
    """The authors' ``myImageDataGenerator(rotation_range=10,
    width_shift_range=0.1, height_shift_range=0.1, channel_shift_range=0.05,
    rescale=0.975, zoom_range=[0.95, 1.05])``: Keras 1's transforms, the
    nearest pixel, then the channel shift and the rescaling
    (:class:`~deepcluster_keras.augmentation.RandomTransform`)."""
    return RandomTransform(image_shape, rotation_range=10, width_shift_range=0.1,
                           height_shift_range=0.1, zoom_range=0.05, channel_shift_range=0.05,
                           rescale=0.975, interpolation="nearest", convention="keras1",
                           seed=seed, name="augmentation")


def build_pair_model(net, transform):
    """The training model: ``transform`` (active in training only), ``net``,
    and the cosines of the batch's pairs (:class:`PairSimilarity`). The
    authors fed the same transformed batch to both sides of their two-input
    model; one input is the same."""
    inputs = keras.Input(net.input.shape[1:], name="images")
    outputs = PairSimilarity(name="similarity")(net(transform(inputs)))
    return keras.Model(inputs, outputs, name="dac_pairs")


def optimizer(learning_rate=0.001):
    """Keras 1's ``RMSprop()`` (their ``optimizer='rmsprop'``): rho 0.9,
    ``g / (sqrt(a) + 1e-8)``. Keras 3 adds epsilon inside the root,
    ``g / sqrt(a + epsilon)``: 1e-16 there is 1e-8 outside wherever it matters."""
    return keras.optimizers.RMSprop(learning_rate, rho=0.9, epsilon=1e-16)


def predict(net, x, batch_size=SCORE_BATCH_SIZE):
    """The softmax of ``net`` on ``x`` in batches of ``batch_size`` taken in
    order: with batch statistics, a prediction depends on its batch."""
    return net.predict(x, batch_size=batch_size, verbose=0)


def train(model, net, x, y=None, *, epochs=20, chunk_size=1000, passes=5, batch_size=128,
          threshold_start=THRESHOLD_START, threshold_end=THRESHOLD_END, seed=0, verbose=1,
          checkpoint_dir=None, callbacks=None, progress_seconds=60.0, checkpoint_seconds=600.0):
    """Train a :func:`build_pair_model` model as the authors' code: per epoch,
    per chunk of ``chunk_size`` images in order, the pair labels from ``net``
    on the clean chunk, then ``passes`` passes over it in shuffled batches of
    ``batch_size``. Samples after the last whole chunk are not trained on (as
    theirs), but scored.

    ``model`` must be compiled (MSE, :func:`optimizer`). The batches' orders
    are drawn from ``(seed, epoch, chunk, pass)``; the transforms from the
    model's augmentation layer, whose state is saved with it. With
    ``checkpoint_dir`` the model, its optimizer and the history are saved
    after every epoch, and inside an epoch after a chunk at most every
    ``checkpoint_seconds``; a call with the same settings continues there
    (to the same result). ``callbacks``: Keras callbacks told of each
    batch's and each epoch's end. With ``verbose``,
    an epoch that runs longer than ``progress_seconds`` (MNIST-70k's take half
    an hour on two cores) says how far it is, at most once that often.

    Returns an :class:`~deepcluster_keras.training.EpochTraining` whose
    ``history`` has one entry for the start (epoch 0) and one per epoch:
    ``epoch``, ``threshold``, ``loss`` (the mean over the epoch's batches),
    ``same_pairs`` (the fraction of pairs labelled 1, over the chunks),
    ``delta_label``, and ``acc``, ``nmi``, ``ari`` when labels were given.
    """
    n_chunks = len(x) // int(chunk_size)
    if n_chunks < 1:
        raise ValueError(f"DAC takes the data in chunks of chunk_size={chunk_size} images: give "
                         f"at least that many (got {len(x)}), or a smaller chunk_size.")

    def labels_of():
        return predict(net, x).argmax(1)

    def train_epoch(epoch, labels, part):
        th = threshold(epoch, epochs, threshold_start, threshold_end)
        done = part.resumed or {"chunks": 0, "losses": [], "same_pairs": []}
        losses, same = list(done["losses"]), list(done["same_pairs"])
        started = said = time.monotonic()
        for chunk in range(done["chunks"], n_chunks):
            if verbose and chunk and time.monotonic() - said >= progress_seconds:
                said = time.monotonic()
                print(f"     epoch {epoch + 1}: chunk {chunk}/{n_chunks}  loss "
                      f"{np.mean(losses):.4f}  {(said - started) / 60:.1f} min", flush=True)
            xs = x[chunk * chunk_size:(chunk + 1) * chunk_size]
            targets = pair_labels(predict(net, xs, LABEL_BATCH_SIZE), th)
            same.append(float(targets.mean()))
            for p in range(int(passes)):
                order = np.random.default_rng([seed, epoch, chunk, p]).permutation(len(xs))
                for begin in range(0, len(xs), batch_size):
                    index = order[begin:begin + batch_size]
                    loss = model.train_on_batch(xs[index], targets[np.ix_(index, index)])
                    losses.append(float(np.ravel(loss)[0]))
                    part.batch_end()
            part.save(chunk + 1, n_chunks, {"chunks": chunk + 1, "losses": losses,
                                             "same_pairs": same})
        loss = float(np.mean(losses))
        check_finite(loss, "epoch", epoch + 1)
        previous, labels = labels, labels_of()
        return {"epoch": epoch + 1, "threshold": th, "loss": loss,
                "same_pairs": float(np.mean(same)),
                "delta_label": 1.0 if previous is None else float(np.mean(labels != previous))
                }, labels

    return epoch_loop(
        train_epoch, model=model, x=x, y=y, epochs=int(epochs),
        keys=("epoch", "threshold", "loss", "same_pairs", "delta_label"),
        settings={"epochs": int(epochs), "chunk_size": int(chunk_size), "passes": int(passes),
                  "batch_size": int(batch_size), "threshold": [float(threshold_start),
                                                               float(threshold_end)],
                  "seed": int(seed)},
        checkpoint_dir=checkpoint_dir, verbose=verbose, callbacks=callbacks,
        part_seconds=float(checkpoint_seconds),
        start=lambda: ({"epoch": 0, "threshold": None, "loss": None, "same_pairs": None,
                        "delta_label": None}, labels_of()),
        describe=lambda e: (f"  threshold {e['threshold']:.2f}  loss {e['loss']:.4f}  "
                            f"same pairs {e['same_pairs']:.3f}"))
