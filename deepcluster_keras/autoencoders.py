"""The tutorials' autoencoders: dense (DEC) and convolutional (DCEC).

Each builder returns ``(autoencoder, encoder)``; the encoder shares its
layers with the autoencoder, so pretraining one trains the other.
"""

import os
import warnings

import h5py
import keras
from keras import layers

from deepcluster_keras.validation import check_positive_int

__all__ = [
    "DEC_DIMS",
    "tutorial_initializer",
    "autoencoder",
    "conv_autoencoder",
    "simple_autoencoder",
    "load_autoencoder_weights",
    "decoder",
    "decoder_layers",
]

#: Layer sizes of the DEC tutorial's autoencoder for MNIST.
DEC_DIMS = (784, 500, 500, 2000, 10)

#: The version of what pretraining makes from a seed. Bump it with any change
#: to the models or to pretraining that changes the weights one seed gives, so
#: that weights saved by older code are not reused as if they were current
#: (``reproduce`` refuses them). 1: one initializer instance shared by all
#: layers; 2: a fresh initializer per layer (commit c0521b6); 3: a fresh batch
#: order in every pretraining epoch (``training.ShuffledBatches``).
#: tests/test_autoencoders.py fails until it is bumped when the layers, their
#: shapes, activations or initializer settings, or the pretraining optimizers
#: change; a change in how the same settings draw (as from 1 to 2) it cannot see.
WEIGHTS_VERSION = 3


def tutorial_initializer(seed=None):
    """The DEC tutorial's kernel initialiser.

    ``VarianceScaling(scale=1/3, mode="fan_in", distribution="uniform")``:
    weights uniform in +-sqrt(1 / fan_in), the initialisation of the
    original DEC code.
    """
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform", seed=seed
    )


def autoencoder(dims=DEC_DIMS, act="relu", init=None, output_activation=None):
    """Fully connected symmetric autoencoder, as in the DEC tutorial.

    Parameters
    ----------
    dims : sequence of int
        ``dims[0]`` is the input size, ``dims[-1]`` the embedding size and
        the ones between the hidden layers of the encoder; the decoder
        mirrors them. Default: 784-500-500-2000-10.
    act : str
        Activation of the hidden layers. The embedding is linear.
    init : initializer, optional
        Kernel initialiser; default :func:`tutorial_initializer`.
    output_activation : str, optional
        Activation of the output: linear (None), as the tutorial, or e.g.
        ``"sigmoid"`` for data in [0, 1] (VaDE's own pretraining).

    Returns
    -------
    (autoencoder, encoder) : two ``keras.Model`` sharing their layers.
    """
    dims = [check_positive_int(d, "dims") for d in dims]
    if len(dims) < 2:
        raise ValueError(
            "Expected at least an input and an embedding size in `dims`. "
            f"Received: dims={dims}"
        )
    init = tutorial_initializer() if init is None else init
    layer_inits = iter(_per_layer(init, k) for k in range(2 * len(dims)))
    n_stacks = len(dims) - 1
    x = keras.Input(shape=(dims[0],), name="input")
    h = x
    for i in range(n_stacks - 1):
        h = layers.Dense(dims[i + 1], activation=act, kernel_initializer=next(layer_inits),
                         name=f"encoder_{i}")(h)
    # The embedding, where the features for clustering are read.
    embedding = layers.Dense(dims[-1], kernel_initializer=next(layer_inits),
                             name=f"encoder_{n_stacks - 1}")(h)
    h = embedding
    for i in range(n_stacks - 1, 0, -1):
        h = layers.Dense(dims[i], activation=act, kernel_initializer=next(layer_inits),
                         name=f"decoder_{i}")(h)
    h = layers.Dense(dims[0], activation=output_activation, kernel_initializer=next(layer_inits),
                     name="decoder_0")(h)
    return (
        keras.Model(inputs=x, outputs=h, name="AE"),
        keras.Model(inputs=x, outputs=embedding, name="encoder"),
    )


def _per_layer(init, index):
    """A copy of ``init`` for one layer.

    A Keras 3 initializer draws the same values at every call: one instance
    shared by several layers gives layers of the same shape identical
    weights (the tutorial's encoder_1 and decoder_1, both 500x500), and
    layers of transposed shapes the same numbers rearranged. Keras 2, which
    the tutorial ran on, drew anew for each layer; so does this. A seeded
    initializer gets seed + index, to stay reproducible.
    """
    if isinstance(init, str):
        return keras.initializers.get(init)  # a new instance, a new seed
    config = init.get_config()
    if isinstance(config.get("seed"), int):
        config["seed"] += index
    return init.__class__.from_config(config)


def conv_autoencoder(input_shape=(28, 28, 1), filters=(32, 64, 128, 10)):
    """Convolutional autoencoder of the DCEC tutorial.

    Encoder: Conv 5x5/2 -> Conv 5x5/2 -> Conv 3x3/2 (ReLU), Flatten, Dense
    embedding (linear). Decoder: Dense, Reshape and three Conv2DTranspose
    layers mirroring the encoder, linear output.

    Parameters
    ----------
    input_shape : (height, width, channels)
        Height and width divisible by 8 (e.g. 8x8 digits) or, like MNIST's
        28x28, by 4 with an odd quotient.
    filters : (int, int, int, int)
        Filters of the three convolutions and the embedding size.

    Returns
    -------
    (autoencoder, encoder) : two ``keras.Model`` sharing their layers.
    """
    if len(input_shape) != 3:
        raise ValueError(
            "The convolutional autoencoder needs input_shape=(height, width, "
            f"channels). Received: input_shape={tuple(input_shape)}"
        )
    height, width, channels = (int(v) for v in input_shape)
    f1, f2, f3, n_embedding = (check_positive_int(f, "filters") for f in filters)
    pad3 = "same" if height % 8 == 0 and width % 8 == 0 else "valid"
    x = keras.Input(shape=(height, width, channels), name="input")
    h = layers.Conv2D(f1, 5, strides=2, padding="same", activation="relu", name="conv1")(x)
    h = layers.Conv2D(f2, 5, strides=2, padding="same", activation="relu", name="conv2")(h)
    h = layers.Conv2D(f3, 3, strides=2, padding=pad3, activation="relu", name="conv3")(h)
    feature_shape = tuple(h.shape[1:])
    h = layers.Flatten(name="flatten")(h)
    embedding = layers.Dense(n_embedding, name="embedding")(h)
    h = layers.Dense(int(feature_shape[0] * feature_shape[1] * feature_shape[2]),
                     activation="relu", name="dense_decoder")(embedding)
    h = layers.Reshape(feature_shape, name="reshape")(h)
    h = layers.Conv2DTranspose(f2, 3, strides=2, padding=pad3, activation="relu", name="deconv3")(h)
    h = layers.Conv2DTranspose(f1, 5, strides=2, padding="same", activation="relu", name="deconv2")(h)
    h = layers.Conv2DTranspose(channels, 5, strides=2, padding="same", name="deconv1")(h)
    if tuple(h.shape[1:]) != (height, width, channels):
        raise ValueError(
            "The convolutional autoencoder cannot rebuild images of this size "
            "(its decoder gives shape "
            f"{tuple(h.shape[1:])}); use images whose height and width are "
            "divisible by 8, or 28x28. Received: "
            f"input_shape={(height, width, channels)}"
        )
    return (
        keras.Model(inputs=x, outputs=h, name="CAE"),
        keras.Model(inputs=x, outputs=embedding, name="encoder"),
    )


def simple_autoencoder(input_dim=784, encoding_dim=32):
    """The introductory Keras blog's autoencoder: 784 -> 32 -> 784.

    ReLU encoder, sigmoid decoder, for data in [0, 1]; the blog trains it
    with Adam on binary cross-entropy.

    Returns
    -------
    (autoencoder, encoder) : two ``keras.Model`` sharing their layers.
    """
    input_dim = check_positive_int(input_dim, "input_dim")
    encoding_dim = check_positive_int(encoding_dim, "encoding_dim")
    x = keras.Input(shape=(input_dim,), name="input")
    encoded = layers.Dense(encoding_dim, activation="relu", name="encoded")(x)
    decoded = layers.Dense(input_dim, activation="sigmoid", name="decoded")(encoded)
    return (
        keras.Model(inputs=x, outputs=decoded, name="simple_AE"),
        keras.Model(inputs=x, outputs=encoded, name="encoder"),
    )


def decoder_layers(autoencoder, encoder):
    """The layers of ``autoencoder`` after the embedding (``encoder``'s last
    layer), in order: for the autoencoders here, chains, its decoder."""
    layers_ = autoencoder.layers
    embedding = encoder.layers[-1]
    if embedding not in layers_:
        raise ValueError(f"The encoder's last layer {embedding.name!r} is not a layer of "
                         f"the autoencoder {autoencoder.name!r}.")
    return layers_[layers_.index(embedding) + 1:]


def decoder(autoencoder, encoder):
    """The decoder of ``autoencoder``: a model from the embedding (``encoder``'s
    output) to the reconstruction, sharing the autoencoder's layers."""
    z = keras.Input(shape=encoder.output.shape[1:], name="embedding")
    h = z
    for layer in decoder_layers(autoencoder, encoder):
        h = layer(h)
    return keras.Model(z, h, name="decoder")


#: The attribute of a ``.weights.h5`` file, written by
#: :func:`deepcluster_keras.persistence.save_autoencoder_weights`, that names the output activation the
#: weights were trained for: a linear and a sigmoid output have the same
#: shapes, so Keras alone would load one into the other without a word.
OUTPUT_ATTRIBUTE = "deepcluster_keras_output_activation"


def output_activation(model):
    """The name of the activation of ``model``'s output layer ("linear" for none)."""
    return model.layers[-1].get_config().get("activation") or "linear"


def load_autoencoder_weights(model, path):
    """Load pretrained weights into ``model``, checking they fit.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError``, with
    the file and the model named, when the weights belong to another
    architecture or were pretrained for another output activation (the
    mark :func:`~deepcluster_keras.persistence.save_autoencoder_weights`
    writes; files without it load unchecked).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No weights file at ae_weights={path!r}: give the path of a "
            "'.weights.h5' file written by pretraining, or leave it out to "
            "pretrain."
        )
    try:
        with h5py.File(path, "r") as f:
            saved = f.attrs.get(OUTPUT_ATTRIBUTE)
        expected = output_activation(model)
        other_output = saved is not None and str(saved) != expected
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns, then raises, on a mismatch
            if not other_output:
                model.load_weights(path)
    except Exception as error:  # OSError, ValueError or KeyError, varying by Keras version
        raise ValueError(
            f"The weights in ae_weights={path!r} cannot be loaded into the "
            f"autoencoder {model.name!r} with input shape {model.input_shape}: "
            "they come from another architecture or input size, or the file is "
            "damaged. Pretrain again, or pass the weights saved for this dataset "
            f"and autoencoder. ({type(error).__name__}: {str(error)[:200]})"
        ) from None
    if other_output:
        raise ValueError(
            f"The weights in ae_weights={path!r} were pretrained for a {saved} output, and the "
            f"autoencoder {model.name!r} has a {expected} output: the decoder "
            "would start from weights trained for another output. Pass weights pretrained for "
            "this estimator's output (VaDE(pretraining='sigmoid') makes a sigmoid output, the "
            "others a linear one), or leave ae_weights out to pretrain."
        )
