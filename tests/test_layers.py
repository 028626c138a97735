import keras
import numpy as np
import pytest

from deepcluster_keras import ClusteringLayer


def reference_q(z, mu, alpha):
    """The DEC formula, written directly in NumPy."""
    d2 = ((z[:, None, :] - mu[None, :, :]) ** 2).sum(-1)
    q = (1.0 + d2 / alpha) ** (-(alpha + 1.0) / 2.0)
    return q / q.sum(1, keepdims=True)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0, 10.0])
def test_matches_numpy_reference(alpha):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(20, 4)).astype("float32")
    mu = rng.normal(size=(3, 4)).astype("float32")
    layer = ClusteringLayer(3, weights=[mu], alpha=alpha)
    q = keras.ops.convert_to_numpy(layer(z))
    np.testing.assert_allclose(q, reference_q(z, mu, alpha), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(q.sum(1), 1.0, rtol=1e-6)
    # The nearest centre gets the largest probability.
    nearest = ((z[:, None] - mu[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(q.argmax(1), nearest)


def test_set_weights_as_in_the_tutorial():
    z = keras.Input(shape=(2,))
    model = keras.Model(z, ClusteringLayer(2, name="clustering")(z))
    mu = np.array([[0.0, 0.0], [10.0, 10.0]], dtype="float32")
    model.get_layer(name="clustering").set_weights([mu])
    q = model.predict(np.array([[0.1, 0.0], [9.9, 10.0]], dtype="float32"), verbose=0)
    assert q[0, 0] > 0.99 and q[1, 1] > 0.99


def test_symbolic_shape_weights_and_config_round_trip():
    layer = ClusteringLayer(5, alpha=2.0, name="clustering")
    out = layer(keras.Input(shape=(7,)))
    assert tuple(out.shape) == (None, 5)
    assert len(layer.trainable_weights) == 1
    assert tuple(layer.trainable_weights[0].shape) == (5, 7)
    config = layer.get_config()
    assert config["alpha"] == 2.0 and config["n_clusters"] == 5
    clone = ClusteringLayer.from_config(config)
    assert clone.alpha == 2.0 and clone.n_clusters == 5 and clone.name == "clustering"


def test_in_sequential_model_trains_one_step():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(3),
                              ClusteringLayer(4, name="clustering")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="kld")
    q = model.predict(x, verbose=0)
    p = q**2 / q.sum(0)
    p = p / p.sum(1, keepdims=True)
    before = model.get_layer("clustering").get_weights()[0].copy()
    loss = model.train_on_batch(x, p)
    assert np.isfinite(loss)
    after = model.get_layer("clustering").get_weights()[0]
    assert not np.allclose(before, after), "the centres should move during training"


def test_save_and_load_without_custom_objects(tmp_path):
    rng = np.random.default_rng(2)
    inputs = keras.Input(shape=(8,))
    h = keras.layers.Dense(4)(inputs)
    q = ClusteringLayer(3, weights=[rng.normal(size=(3, 4))], alpha=0.7, name="clustering")(h)
    model = keras.Model(inputs, q)
    x = rng.normal(size=(10, 8)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert loaded.get_layer("clustering").alpha == pytest.approx(0.7)


@pytest.mark.parametrize("n_clusters", [1, 0, -2, 2.5, True, "3"])
def test_rejects_bad_n_clusters(n_clusters):
    with pytest.raises(ValueError, match="n_clusters"):
        ClusteringLayer(n_clusters)


def test_rejects_bad_alpha_and_centre_shape():
    with pytest.raises(ValueError, match="alpha"):
        ClusteringLayer(3, alpha=0)
    with pytest.raises(ValueError, match="one array.*Received: 2 arrays"):
        ClusteringLayer(3, weights=[np.zeros((3, 4)), np.zeros(3)])
    layer = ClusteringLayer(3, weights=[np.zeros((2, 4))])
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2, 4\)"):
        layer(np.zeros((5, 4), dtype="float32"))


def test_mixed_precision():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(16, 4)).astype("float32")
    mu = rng.normal(size=(3, 4)).astype("float32")
    layer = ClusteringLayer(3, weights=[mu], dtype="mixed_float16")
    q = layer(z)
    assert keras.backend.standardize_dtype(q.dtype) == "float16"
    assert layer.clusters.dtype == "float32", "the centres stay in float32"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(q).astype("float32"),
                               reference_q(z, mu, 1.0), atol=2e-3)
