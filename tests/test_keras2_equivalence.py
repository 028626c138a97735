"""The port against the tutorial's own code, step for step.

The tutorial ran on Keras 2. Its model and training code is written here
again against ``tf_keras`` (the Keras 2 API), started from the port's initial
weights and centres and fed the same batches; the losses and weights must
agree to float32 rounding. Changing the port's optimizer, loss, its
reduction, the clustering layer or the batches breaks these tests.
"""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

from deepcluster_keras import autoencoder, build_clustering_model, init_centres, self_train
from deepcluster_keras.training import ShuffledBatches, pretrain

if keras.backend.backend() != "tensorflow":
    pytest.skip("tf_keras (the Keras 2 API) runs on TensorFlow only; this backend is "
                f"{keras.backend.backend()}", allow_module_level=True)

import tf_keras  # noqa: E402
from tutorial_keras2 import (TutorialClusteringLayer, tutorial_autoencoder,  # noqa: E402
                             tutorial_self_training)

DIMS = (64, 32, 32, 128, 10)
RTOL = 1e-6


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype("float32"), y


def _port_and_tutorial(seed=0):
    keras.utils.set_random_seed(seed)
    ae, encoder = autoencoder(DIMS)
    tutorial_ae, tutorial_encoder = tutorial_autoencoder(DIMS)
    tutorial_ae.set_weights(ae.get_weights())
    return ae, encoder, tutorial_ae, tutorial_encoder


def _assert_same_weights(port, tutorial):
    ours, theirs = port.get_weights(), tutorial.get_weights()
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-7)


# ---- The tests ----------------------------------------------------------------------------

def test_pretraining_steps_equal_the_tutorials(digits):
    x, _ = digits
    ae, _, tutorial_ae, _ = _port_and_tutorial()
    tutorial_ae.compile(optimizer=tf_keras.optimizers.legacy.SGD(learning_rate=1.0, momentum=0.9),
                        loss="mse")
    epochs, batch_size, seed = 3, 256, 5
    info = pretrain(ae, x, epochs=epochs, batch_size=batch_size, seed=seed, verbose=0)
    # The tutorial's fit(shuffle=True) drew a new order each epoch; give it the port's.
    batches = ShuffledBatches(x, batch_size, seed=seed)
    tutorial_losses = []
    for epoch in range(epochs):
        order = batches.permutation(epoch)
        history = tutorial_ae.fit(x[order], x[order], batch_size=batch_size, epochs=1,
                                  shuffle=False, verbose=0)
        tutorial_losses += history.history["loss"]
    np.testing.assert_allclose(info["loss"], tutorial_losses, rtol=RTOL)
    _assert_same_weights(ae, tutorial_ae)


def _clustering_models(x, joint):
    ae, encoder, tutorial_ae, tutorial_encoder = _port_and_tutorial()
    # The initial embedding is tiny (|z| ~ 0.02), Q then nearly uniform and KL(P || Q)
    # ~ 1e-6: widen it thirtyfold, so that KL ~ 0.06 and every step moves the weights.
    embedding = ae.get_layer(f"encoder_{len(DIMS) - 2}")
    embedding.kernel.assign(embedding.kernel * 30.0)
    tutorial_ae.set_weights(ae.get_weights())
    centres, _ = init_centres(encoder, x, 10, n_init=1, random_state=0)
    model = build_clustering_model(encoder, 10, centres=centres, autoencoder=ae if joint else None)
    q = TutorialClusteringLayer(10, weights=[centres], name="clustering")(tutorial_encoder.output)
    outputs = [q, tutorial_ae.output] if joint else q
    tutorial = tf_keras.models.Model(inputs=tutorial_encoder.input, outputs=outputs)
    return model, tutorial


@pytest.mark.filterwarnings("ignore:Self-training stopped at maxiter")
@pytest.mark.parametrize("joint", [False, True], ids=["DEC", "IDEC"])
def test_self_training_steps_equal_the_tutorials(digits, joint):
    x, _ = digits
    x = x[:1700]  # not a multiple of the batch size: the two loops wrap alike
    model, tutorial = _clustering_models(x, joint)
    start = model.get_weights()
    optimizer = tf_keras.optimizers.legacy.SGD(learning_rate=0.01, momentum=0.9)
    gamma = 0.1
    if joint:  # the tutorial's alternative model: KL and reconstruction, weights [gamma, 1]
        tutorial.compile(optimizer=optimizer, loss=["kld", "mse"], loss_weights=[gamma, 1])
    else:
        tutorial.compile(optimizer=optimizer, loss="kld")
    maxiter, update_interval, batch_size = 60, 20, 256
    result = self_train(model, x, maxiter=maxiter, update_interval=update_interval, tol=0.0,
                        batch_size=batch_size, gamma=gamma, verbose=0)
    tutorial_losses = tutorial_self_training(tutorial, x, maxiter, update_interval, batch_size,
                                             joint=joint)
    assert result.n_iter == maxiter
    # The port records the mean batch loss between updates.
    per_update = np.mean(np.reshape(tutorial_losses, (-1, update_interval)), axis=1)
    np.testing.assert_allclose(result.history["loss"][1:], per_update[:-1], rtol=RTOL)
    assert per_update[0] > 1e-2  # a real loss, not the rounding noise of q = p
    _assert_same_weights(model, tutorial)
    # ... and the weights moved far beyond that tolerance.
    assert max(np.abs(a - b).max() for a, b in zip(model.get_weights(), start)) > 1e-3


def test_initial_weights_are_the_tutorials_distribution():
    keras.utils.set_random_seed(0)
    ae, _ = autoencoder((784, 500, 500, 2000, 10))
    kernels = [layer.kernel.numpy() for layer in ae.layers if hasattr(layer, "kernel")]
    for kernel in kernels:
        limit = np.sqrt(1.0 / kernel.shape[0])  # VarianceScaling(1/3, fan_in, uniform)
        assert np.abs(kernel).max() <= limit
        assert np.abs(kernel).max() > 0.99 * limit  # uniform over the whole range
        # uniform, not normal: a quarter of the weights beyond half the limit each side
        assert np.mean(np.abs(kernel) > limit / 2) == pytest.approx(0.5, abs=0.02)
    for i, a in enumerate(kernels):
        for b in kernels[i + 1:]:
            if a.shape == b.shape or a.shape == b.shape[::-1]:
                assert not np.allclose(np.sort(a.ravel()), np.sort(b.ravel()))
    # The tutorial's encoder_1 and decoder_1 are both 500 x 500: drawn apart.
    assert sum(k.shape == (500, 500) for k in kernels) == 2
