import hashlib
import json

import h5py
import keras
import numpy as np
import pytest

from deepcluster_keras import DEC, autoencoder, conv_autoencoder, training
from deepcluster_keras.autoencoders import (OUTPUT_ATTRIBUTE, WEIGHTS_VERSION,
                                            load_autoencoder_weights, output_activation)
from deepcluster_keras.persistence import save_autoencoder_weights


def test_dense_autoencoder_is_the_tutorials():
    ae, encoder = autoencoder()
    dense = [layer for layer in ae.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [500, 500, 2000, 10, 2000, 500, 500, 784]
    assert [layer.name for layer in dense[:4]] == ["encoder_0", "encoder_1", "encoder_2", "encoder_3"]
    activations = [layer.activation.__name__ for layer in dense]
    assert activations == ["relu"] * 3 + ["linear"] + ["relu"] * 3 + ["linear"]
    init = dense[0].kernel_initializer
    assert isinstance(init, keras.initializers.VarianceScaling)
    assert (init.scale, init.mode, init.distribution) == (pytest.approx(1 / 3), "fan_in", "uniform")
    # Uniform in +-sqrt(1 / fan_in): sqrt(3 * scale / fan_in) with scale 1/3.
    kernel = dense[0].get_weights()[0]
    assert np.abs(kernel).max() <= np.sqrt(1 / 784) + 1e-7
    assert encoder.output_shape == (None, 10)
    assert encoder.layers[1] is ae.layers[1], "encoder and autoencoder share layers"


@pytest.mark.parametrize("shape,feature", [((28, 28, 1), (3, 3, 128)), ((8, 8, 1), (1, 1, 128))])
def test_conv_autoencoder_shapes(shape, feature):
    ae, encoder = conv_autoencoder(shape)
    assert ae.output_shape == (None,) + shape
    assert encoder.output_shape == (None, 10)
    assert ae.get_layer("conv3").output.shape[1:] == feature
    assert [ae.get_layer(n).filters for n in ("conv1", "conv2", "conv3")] == [32, 64, 128]
    x = np.random.default_rng(0).random((2,) + shape).astype("float32")
    assert ae.predict(x, verbose=0).shape == x.shape


def test_conv_autoencoder_rejects_sizes_it_cannot_rebuild():
    with pytest.raises(ValueError, match=r"cannot rebuild images.*input_shape=\(10, 10, 1\)"):
        conv_autoencoder((10, 10, 1))
    with pytest.raises(ValueError, match="input_shape"):
        conv_autoencoder((784,))


def test_weights_round_trip_and_mismatch(tmp_path):
    ae, _ = autoencoder((64, 32, 8))
    path = tmp_path / "ae.weights.h5"
    ae.save_weights(path)
    again, _ = autoencoder((64, 32, 8))
    load_autoencoder_weights(again, path)
    for a, b in zip(ae.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    other, _ = autoencoder((100, 32, 8))
    with pytest.raises(ValueError, match=r"ae_weights=.*ae.weights.h5.*cannot be loaded.*'AE'"):
        load_autoencoder_weights(other, path)
    with pytest.raises(FileNotFoundError, match="No weights file at ae_weights="):
        load_autoencoder_weights(other, tmp_path / "missing.weights.h5")


def test_weights_for_another_output_are_refused(tmp_path):
    """A linear and a sigmoid output have the same shapes: the saved weights
    name theirs, and loading them into the other output is an error."""
    sigmoid, _ = autoencoder((64, 32, 8), output_activation="sigmoid")
    linear, _ = autoencoder((64, 32, 8))
    assert (output_activation(sigmoid), output_activation(linear)) == ("sigmoid", "linear")
    assert output_activation(conv_autoencoder((28, 28, 1))[0]) == "linear"
    path = save_autoencoder_weights(sigmoid, tmp_path / "sigmoid.weights.h5")
    again, _ = autoencoder((64, 32, 8), output_activation="sigmoid")
    load_autoencoder_weights(again, path)
    for a, b in zip(sigmoid.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"sigmoid.weights.h5' were pretrained for a sigmoid "
                                         r"output, and the autoencoder 'AE' has a linear output"):
        load_autoencoder_weights(linear, path)
    # Weights saved by Keras alone (older runs) carry no mark and load as before.
    linear.save_weights(tmp_path / "plain.weights.h5")
    load_autoencoder_weights(again, tmp_path / "plain.weights.h5")
    with h5py.File(path, "r") as f:
        assert f.attrs[OUTPUT_ATTRIBUTE] == "sigmoid"


def test_layers_start_from_independent_weights():
    # Keras 3 initializers repeat their values at every call; shared by the
    # layers, the tutorial's one initializer made encoder_1 == decoder_1.
    keras.utils.set_random_seed(0)
    ae, _ = autoencoder()
    w = {layer.name: layer.get_weights()[0] for layer in ae.layers if layer.weights}
    assert not np.allclose(w["encoder_1"], w["decoder_1"])
    correlation = np.corrcoef(w["encoder_0"].ravel(), w["decoder_0"].ravel())[0, 1]
    assert abs(correlation) < 0.01
    keras.utils.set_random_seed(0)
    again, _ = autoencoder()
    for a, b in zip(ae.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)  # still reproducible under a seed
    seeded = keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform", seed=7)
    ae1, _ = autoencoder((20, 20, 20, 20), init=seeded)
    ae2, _ = autoencoder((20, 20, 20, 20), init=seeded)
    k1 = [layer.get_weights()[0] for layer in ae1.layers if layer.weights]
    assert not np.allclose(k1[0], k1[1])
    np.testing.assert_array_equal(k1[0], ae2.layers[1].get_weights()[0])


def _what_a_seed_makes():
    """What decides the weights pretraining makes from a seed: the models'
    layers, shapes, activations and initializers, and the pretraining
    optimizers. Plain values only, so it does not change with Keras' version."""
    def layer(lay):
        init = getattr(lay, "kernel_initializer", None)
        activation = getattr(lay, "activation", None)
        return [type(lay).__name__, lay.name, [list(w.shape) for w in lay.weights],
                getattr(activation, "__name__", None),
                None if init is None else [type(init).__name__] + [
                    init.get_config().get(k) for k in ("scale", "mode", "distribution", "seed")]]

    models = [autoencoder()[0], conv_autoencoder()[0], conv_autoencoder((8, 8, 1))[0]]
    optimizers = {}
    for name in ("sgd", "adam"):
        opt = training.pretrain_optimizer(name)
        optimizers[name] = [type(opt).__name__, float(opt.learning_rate),
                            {k: getattr(opt, k, None) for k in ("momentum", "nesterov", "beta_1",
                                                                 "beta_2", "epsilon")}]
    dense, conv = DEC(), DEC(autoencoder="conv")
    return {"models": [[layer(lay) for lay in m.layers] for m in models],
            "optimizers": optimizers,
            "pretraining": [dense.pretrain_epochs, dense.batch_size,
                            dense.pretrain_optimizer_name(), conv.pretrain_optimizer_name()]}


#: The first 16 hex digits of the sha256 of _what_a_seed_makes(), by WEIGHTS_VERSION.
# 3 changed how pretraining orders the batches, which this fingerprint cannot see.
FINGERPRINTS = {2: "4d09569716f916cc", 3: "4d09569716f916cc"}


def test_weights_version_is_bumped_with_the_models():
    text = json.dumps(_what_a_seed_makes(), sort_keys=True)
    fingerprint = hashlib.sha256(text.encode()).hexdigest()[:16]
    assert FINGERPRINTS.get(WEIGHTS_VERSION) == fingerprint, (
        "The autoencoders or their pretraining changed, so a seed now gives other weights. "
        "Bump autoencoders.WEIGHTS_VERSION (reproduce then refuses weights saved by older "
        f"code) and record FINGERPRINTS[{WEIGHTS_VERSION + 1}] = {fingerprint!r} here; or, "
        f"if the weights do not change, record FINGERPRINTS[{WEIGHTS_VERSION}] = {fingerprint!r}.")
