"""VaDE: the mixture prior's loss against NumPy, the sampling, the start from
the pretrained autoencoder, training on digits without collapse, persistence."""

import keras
import numpy as np
import pytest
from sklearn.mixture import GaussianMixture
from sklearn.utils._param_validation import InvalidParameterError

from conftest import DIGITS_PRETRAIN as PRETRAIN

from deepcluster_keras import DEC, metrics, vade
from deepcluster_keras.estimator import VaDE


def reference_prior_loss(z, z_mean, z_log_var, pi, means, variances):
    """Minus the ELBO's prior terms (Jiang et al., eq. 16 without the
    reconstruction), written directly in NumPy (float64)."""
    z, z_mean, z_log_var = (np.asarray(a, float) for a in (z, z_mean, z_log_var))
    log_p = (np.log(pi)[None] - 0.5 * (np.log(2 * np.pi * variances)[None]
                                       + (z[:, None] - means[None]) ** 2 / variances[None]).sum(-1))
    gamma = np.exp(log_p - log_p.max(1, keepdims=True))
    gamma /= gamma.sum(1, keepdims=True)
    expected = 0.5 * (np.log(variances)[None] + np.exp(z_log_var)[:, None] / variances[None]
                      + (z_mean[:, None] - means[None]) ** 2 / variances[None]).sum(-1)
    return ((gamma * (expected - np.log(pi)[None] + np.log(gamma))).sum(1)
            - 0.5 * (1 + z_log_var).sum(1))


def reference_authors_prior_loss(z, z_mean, z_log_var, theta, u, lam):
    """The same terms as the authors' ``vae_loss`` computes them (their
    ``VaDE.py``): ``theta`` used as it is, ``log theta`` summed over the
    latent dimensions in the responsibilities, ``1e-10`` added to each
    numerator, and the constant ``D/2 log 2 pi`` of every dimension."""
    z, z_mean, z_log_var = (np.asarray(a, float) for a in (z, z_mean, z_log_var))
    d = u.shape[1]
    p_c_z = np.exp((np.log(theta)[None, :, None] - 0.5 * np.log(2 * np.pi * lam)[None]
                    - (z[:, None] - u[None]) ** 2 / (2 * lam[None])).sum(-1)) + 1e-10
    gamma = p_c_z / p_c_z.sum(1, keepdims=True)
    return ((0.5 * gamma[:, :, None] * (d * np.log(2 * np.pi) + np.log(lam)[None]
                                        + np.exp(z_log_var)[:, None] / lam[None]
                                        + (z_mean[:, None] - u[None]) ** 2 / lam[None])).sum((1, 2))
            - 0.5 * (z_log_var + 1).sum(1) - (np.log(theta)[None] * gamma).sum(1)
            + (np.log(gamma) * gamma).sum(1))


def mixture(rng, k=4, d=3):
    pi = rng.uniform(0.5, 1.5, size=k)
    return pi / pi.sum(), rng.normal(size=(k, d)), rng.uniform(0.2, 2.0, size=(k, d))


def test_prior_loss_matches_numpy_reference():
    rng = np.random.default_rng(0)
    pi, means, variances = mixture(rng)
    z_mean = rng.normal(size=(20, 3)).astype("float32")
    z_log_var = rng.normal(scale=0.5, size=(20, 3)).astype("float32")
    z = (z_mean + rng.normal(size=(20, 3))).astype("float32")
    layer = vade.GaussianMixturePrior(4, weights=[pi, means, variances])  # "softmax"
    loss = keras.ops.convert_to_numpy(layer([z, z_mean, z_log_var]))
    np.testing.assert_allclose(loss, reference_prior_loss(z, z_mean, z_log_var, pi, means,
                                                          variances), rtol=1e-4, atol=1e-4)


def test_authors_prior_loss_matches_their_expression():
    """The default parametrisation computes the authors' loss, with a raw
    ``pi`` that no longer sums to one (as training leaves it)."""
    rng = np.random.default_rng(2)
    _, means, variances = mixture(rng)
    theta = rng.uniform(0.5, 3.0, size=4)  # trained raw: sums to 7, not 1
    z_mean = rng.normal(size=(20, 3)).astype("float32")
    z_log_var = rng.normal(scale=0.5, size=(20, 3)).astype("float32")
    z = (z_mean + rng.normal(size=(20, 3))).astype("float32")
    z[0] = 40.0  # far from every component: exp underflows, the 1e-10 decides
    layer = vade.GaussianMixturePrior(4, weights=[np.full(4, 0.25), means, variances],
                                      parametrization="authors")
    layer.build([(None, 3)] * 3)
    layer.pi_weights.assign(theta)
    loss = keras.ops.convert_to_numpy(layer([z, z_mean, z_log_var]))
    expected = reference_authors_prior_loss(z, z_mean, z_log_var, theta, means, variances)
    np.testing.assert_allclose(loss, expected, rtol=1e-4, atol=1e-3)
    gamma = keras.ops.convert_to_numpy(layer.responsibilities(z))
    np.testing.assert_allclose(gamma[0], 0.25, rtol=1e-6)  # equal, as theirs
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.mixture_weights()),
                               theta / theta.sum(), rtol=1e-6)
    assert [w.name for w in layer.weights] == ["pi", "means", "variances"]


def test_responsibilities_are_the_mixtures_posterior():
    """``p(c | z)`` equals scikit-learn's for a diagonal mixture with the same parameters."""
    rng = np.random.default_rng(1)
    pi, means, variances = mixture(rng)
    gmm = GaussianMixture(4, covariance_type="diag")
    gmm.weights_, gmm.means_, gmm.covariances_ = pi, means, variances
    gmm.precisions_cholesky_ = 1 / np.sqrt(variances)
    z = rng.normal(size=(50, 3)).astype("float32")
    layer = vade.GaussianMixturePrior(4, weights=[pi, means, variances], parametrization="softmax")
    layer.build([(None, 3)] * 3)
    gamma = keras.ops.convert_to_numpy(layer.responsibilities(z))
    np.testing.assert_allclose(gamma, gmm.predict_proba(z), rtol=1e-4, atol=1e-5)
    # The authors' form raises pi to the latent dimension: the same with pi uniform.
    gmm.weights_ = np.full(4, 0.25)
    layer = vade.GaussianMixturePrior(4, weights=[gmm.weights_, means, variances],
                                      parametrization="authors")
    layer.build([(None, 3)] * 3)
    gamma = keras.ops.convert_to_numpy(layer.responsibilities(z))
    np.testing.assert_allclose(gamma, gmm.predict_proba(z), rtol=1e-4, atol=1e-5)


def test_sampling_draws_around_the_mean_and_is_the_mean_in_inference():
    n = 20000
    z_mean = np.full((n, 2), 3.0, "float32")
    z_log_var = np.log(np.full((n, 2), 0.25, "float32"))
    layer = vade.Sampling(seed=0)
    z = keras.ops.convert_to_numpy(layer([z_mean, z_log_var], training=True))
    np.testing.assert_allclose(z.mean(0), 3.0, atol=0.02)
    np.testing.assert_allclose(z.std(0), 0.5, rtol=0.03)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer([z_mean, z_log_var])), z_mean)
    again = keras.ops.convert_to_numpy(vade.Sampling(seed=0)([z_mean, z_log_var], training=True))
    np.testing.assert_array_equal(again, z)  # the seed fixes the draws


def test_learning_rate_follows_the_papers_schedule():
    assert [vade.learning_rate(e) for e in (0, 9, 10, 25)] == pytest.approx(
        [0.002, 0.002, 0.0018, 0.002 * 0.81])
    assert vade.learning_rate(1000) == 0.0002  # the floor
    assert vade.learning_rate(50, start=0.0001) == 0.0001  # a lower start stays


def test_bad_mixture_weights_are_refused():
    with pytest.raises(ValueError, match="three arrays"):
        vade.GaussianMixturePrior(3, weights=[np.ones(3)])
    layer = vade.GaussianMixturePrior(2, weights=[np.ones(2), np.zeros((2, 3)), -np.ones((2, 3))])
    with pytest.raises(ValueError, match="positive"):
        layer.build([(None, 3)] * 3)


@pytest.fixture
def ae_weights(digits_ae_weights):
    return digits_ae_weights


def test_the_start_reconstructs_as_the_pretrained_autoencoder(digits, ae_weights):
    """Before training the VAE's mean reconstruction is the pretrained one
    through sigmoid(8 (y - 1/2)), and its clusters are the mixture's."""
    x, _ = digits
    start = DEC(10, ae_weights=ae_weights, maxiter=0, **PRETRAIN).fit(x)
    z = start.transform(x)
    mix = vade.fit_mixture(z, 10, means_init=start.cluster_centers_, random_state=0)
    expected = 1 / (1 + np.exp(-8 * (start.autoencoder_.predict(x, verbose=0) - 0.5)))
    for variant in vade.VARIANTS:
        model = vade.build_vade_model(start.autoencoder_, start.encoder_, 10, mixture=mix, seed=0,
                                      variant=variant)
        reconstruction = model.predict(x, verbose=0)[0]
        np.testing.assert_allclose(reconstruction, expected, rtol=1e-4, atol=1e-5)
        if variant == "authors":  # a fresh Dense: Glorot uniform kernel, zero bias
            kernel, bias = model.get_layer("z_log_var").get_weights()
            bound = np.sqrt(6 / sum(kernel.shape))
            assert 0.9 * bound < np.abs(kernel).max() <= bound and not bias.any()
    # "library" (the last): the mixture's clusters, scikit-learn's own.
    np.testing.assert_array_equal(
        vade.responsibilities(model, x).argmax(1),
        GaussianMixture(10, covariance_type="diag", means_init=start.cluster_centers_,
                        random_state=0).fit(z).predict(z))
    kernel, bias = model.get_layer("z_log_var").get_weights()
    assert not kernel.any() and np.allclose(bias, np.log(mix[2].mean() / 100))


def test_an_autoencoder_with_a_sigmoid_output_is_taken_as_it_is():
    """The authors' autoencoder ended in a sigmoid trained for it: its
    weights become the logits unchanged (no rescale)."""
    x = np.random.default_rng(0).uniform(size=(32, 6)).astype("float32")
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(5, activation="relu")(inputs)
    embedding = keras.layers.Dense(2)(hidden)
    output = keras.layers.Dense(6, activation="sigmoid")(keras.layers.Dense(5, activation="relu")(embedding))
    ae, encoder = keras.Model(inputs, output), keras.Model(inputs, embedding)
    mix = (np.full(2, 0.5), np.array([[0.0, 0.0], [1.0, 1.0]]), np.ones((2, 2)))
    model = vade.build_vade_model(ae, encoder, 2, mixture=mix, seed=0)
    np.testing.assert_allclose(model.predict(x, verbose=0)[0], ae.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_its_own_pretraining_trains_a_sigmoid_output_on_cross_entropy(digits):
    """``pretraining="sigmoid"``: the authors' sigmoid output, trained on binary
    cross-entropy with Adam; the recipe's start stays the default."""
    x = digits[0][:200]
    fitted = VaDE(4, pretraining="sigmoid", pretrain_epochs=2, epochs=1, n_init=2,
                  random_state=0).fit(x)
    ae, _ = fitted._build_autoencoder(x)
    assert ae.get_layer("decoder_0").activation is keras.activations.sigmoid
    assert VaDE()._build_autoencoder(x)[0].get_layer("decoder_0").activation is not \
        keras.activations.sigmoid
    assert fitted.pretrain_optimizer_name() == "adam"
    # Cross-entropy of pixels in [0, 1] at Adam's first epochs, where their
    # MSE is below 0.1 (0.06-0.08 on digits at the first epoch of the recipe).
    assert min(fitted.pretrain_["loss"]) > 0.2
    assert not fitted.uses_recipe_autoencoder() and VaDE().uses_recipe_autoencoder()
    assert VaDE().pretrain_optimizer_name() == "sgd"
    assert VaDE(pretraining="sigmoid", pretrain_optimizer="sgd").pretrain_optimizer_name() == "sgd"


def test_the_authors_variant_has_their_mixture_and_optimizer(digits, ae_weights):
    """The raw parametrisation, Adam at 0.002 with epsilon 1e-4 (their
    ``VaDE.py``); the library's variant keeps Keras' epsilon."""
    x, y = digits
    fitted = VaDE(10, ae_weights=ae_weights, epochs=1, variant="authors", learning_rate=0.002,
                  **PRETRAIN).fit(x, y)
    assert fitted.model_.get_layer("mixture").parametrization == "authors"
    assert fitted.model_.optimizer.epsilon == pytest.approx(1e-4)
    assert fitted.history_["learning_rate"][1] == pytest.approx(0.002)
    # One epoch at 0.002 moves the raw pi off uniform, and off summing to one.
    raw_pi = keras.ops.convert_to_numpy(fitted.model_.get_layer("mixture").pi_weights)
    assert abs(raw_pi.sum() - 1) > 0.01
    library = VaDE(10, ae_weights=ae_weights, epochs=1, **PRETRAIN).fit(x, y)
    assert library.get_params()["variant"] == "library"
    assert library.model_.optimizer.epsilon == pytest.approx(1e-7)
    assert library.model_.get_layer("mixture").parametrization == "softmax"


def test_vade_improves_on_its_start_without_collapsing(digits, ae_weights):
    x, y = digits
    fitted = VaDE(10, ae_weights=ae_weights, epochs=10, **PRETRAIN).fit(x, y)
    history = fitted.history_
    # Measured (2026-12-03, 2 threads): TensorFlow: AE + K-means 0.799, the
    # mixture's start 0.779, after 10 epochs 0.801 (smallest cluster never
    # under 4.7% of the samples); JAX (another pretrained autoencoder): 0.743,
    # 0.785, 0.775 (smallest 0.17%). At the paper's first rate, 0.002, every
    # sample went to one cluster within the first epoch (smallest 0).
    assert min(history["smallest_cluster"]) > 0  # every cluster kept samples
    assert history["acc"][-1] >= 0.72, history["acc"]
    assert history["acc"][-1] >= metrics.acc(y, fitted.kmeans_labels_) - 0.03
    assert metrics.acc(y, fitted.labels_) == history["acc"][-1]
    np.testing.assert_array_equal(fitted.predict(x), fitted.labels_)
    np.testing.assert_allclose(fitted.predict_proba(x).sum(1), 1.0, rtol=1e-5)
    assert fitted.epochs_ == 10 and history["epoch"] == list(range(11))
    assert fitted.mixture_weights_.sum() == pytest.approx(1.0, rel=1e-5)
    assert np.all(fitted.cluster_variances_ > 0) and fitted.cluster_centers_.shape == (10, 10)
    assert fitted.transform(x).shape == (len(x), 10)


@pytest.mark.parametrize("variant", vade.VARIANTS)
def test_save_and_load_round_trip(digits, ae_weights, tmp_path, variant):
    x, _ = digits
    fitted = VaDE(10, ae_weights=ae_weights, epochs=1, variant=variant, **PRETRAIN).fit(x)
    loaded = VaDE.load(fitted.save(tmp_path / "saved"))
    np.testing.assert_allclose(loaded.predict_proba(x), fitted.predict_proba(x), atol=1e-6)
    np.testing.assert_allclose(loaded.autoencoder_.predict(x, verbose=0),
                               fitted.autoencoder_.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_array_equal(loaded.labels_, fitted.labels_)
    assert loaded.history_ == fitted.history_ and loaded.get_params() == fitted.get_params()
    # The .keras file loads without custom_objects.
    model = keras.saving.load_model(tmp_path / "saved" / "model.keras")
    assert model.get_layer("mixture").n_clusters == 10
    assert model.get_layer("mixture").parametrization == ("authors" if variant == "authors"
                                                          else "softmax")


def test_a_mixture_saved_before_the_authors_form_loads_as_it_was_built():
    """Models saved before ``parametrization`` existed name none in their
    configuration: they were built with the softmax form."""
    layer = vade.GaussianMixturePrior.from_config({"n_clusters": 3, "name": "mixture"})
    assert layer.parametrization == "softmax"


def test_an_interrupted_fit_continues_to_the_same_result(digits, ae_weights, tmp_path, epochs):
    x, y = digits
    settings = dict(ae_weights=ae_weights, epochs=3, **PRETRAIN)
    whole = VaDE(10, **settings).fit(x, y)
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C after epoch 1
        VaDE(10, checkpoint_dir=tmp_path / "progress", **settings).fit(
            x, y, callbacks=epochs.reset(interrupt_at=1))
    resumed = VaDE(10, checkpoint_dir=tmp_path / "progress", **settings).fit(
        x, y, callbacks=epochs.reset())
    assert epochs.calls == 2, "epochs 2 and 3 only"
    np.testing.assert_array_equal(resumed.labels_, whole.labels_)
    np.testing.assert_allclose(resumed.history_["loss"][1:], whole.history_["loss"][1:], rtol=1e-4)
    assert not (tmp_path / "progress").exists()


@pytest.mark.parametrize("params, message", [
    (dict(autoencoder="conv"), "autoencoder"),
    (dict(epochs=0), "epochs"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(training_batch_size=0), "training_batch_size"),
    (dict(pretraining="relu"), "pretraining"),
])
def test_bad_parameters_are_named(params, message, digits):
    x, _ = digits
    with pytest.raises(InvalidParameterError, match=f"'{message}' parameter of VaDE"):
        VaDE(10, **params).fit(x)


