"""The self-organising map on the embedding (DESOM): SOMLayer, its schedule,
the model, the helpers around the map and their plots."""

import matplotlib

matplotlib.use("Agg")

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import DIGITS_PRETRAIN  # noqa: E402
from keras import ops  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from deepcluster_keras import autoencoders, kmeans_friendly, metrics, plots  # noqa: E402
from deepcluster_keras.estimator import DESOM  # noqa: E402
from deepcluster_keras.som import (SOMLayer, batch_som_reset, batch_som_step,  # noqa: E402
                                   build_som_model, initial_prototypes, merge_units,
                                   som_temperatures, unit_map)


def manhattan(map_size):
    """Grid distances between units, unit u in row u // cols, column u % cols."""
    rows, cols = map_size
    where = [(u // cols, u % cols) for u in range(rows * cols)]
    return np.array([[abs(a[0] - b[0]) + abs(a[1] - b[1]) for b in where] for a in where], float)


def reference_cost(z, m, temperature, map_size):
    """sum_u exp(-d(bmu, u)^2 / T^2) ||z - m_u||^2, written directly in NumPy (float64)."""
    d = ((z[:, None, :].astype(float) - m[None, :, :]) ** 2).sum(-1)
    h = np.exp(-manhattan(map_size)[d.argmin(1)] ** 2 / temperature ** 2)
    return (h * d).sum(1), h, d


def points_and_prototypes(seed=2, n=30, units=6, features=4):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, features)).astype("float32"),
            rng.normal(size=(units, features)).astype("float32"))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 10.0])
def test_cost_matches_numpy_reference(temperature):
    z, m = points_and_prototypes()
    layer = SOMLayer((2, 3), weights=[m], temperature=temperature)
    expected, h, d = reference_cost(z, m, temperature, (2, 3))
    np.testing.assert_allclose(ops.convert_to_numpy(layer(z)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.best_matching_units(z)), d.argmin(1))
    np.testing.assert_allclose(ops.convert_to_numpy(layer.squared_distances(z)), d, rtol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(layer.neighbourhood(d.argmin(1))), h,
                               rtol=1e-5)


def test_neighbourhood_is_one_at_the_bmu_and_falls_with_the_grid_distance():
    layer = SOMLayer((3, 4), temperature=2.0)
    layer.build((None, 2))
    h = ops.convert_to_numpy(layer.neighbourhood(np.arange(12)))
    np.testing.assert_allclose(np.diag(h), 1.0)
    np.testing.assert_array_equal(layer.grid_distances, manhattan((3, 4)))
    # From unit 5 (row 1, column 1): its neighbours at distance 1, then 2, ...
    by_distance = {int(k): h[5, layer.grid_distances[5] == k] for k in range(5)}
    assert all(np.ptp(v) == 0 for v in by_distance.values() if len(v))  # the same at one distance
    values = [by_distance[k][0] for k in range(5) if len(by_distance[k])]
    assert np.all(np.diff(values) < 0)
    assert by_distance[1][0] == pytest.approx(np.exp(-1 / 4))
    assert by_distance[2][0] == pytest.approx(np.exp(-4 / 4))
    assert layer.grid_distances[0, 11] == 2 + 3  # the map's opposite corners


def test_small_temperature_gives_the_kmeans_cost():
    z, m = points_and_prototypes(seed=3, n=50)
    nearest = ((z[:, None] - m[None]) ** 2).sum(-1).min(1)
    cost = ops.convert_to_numpy(SOMLayer((3, 2), weights=[m], temperature=0.01)(z))
    assert np.all(np.isfinite(cost))
    np.testing.assert_allclose(cost, nearest, rtol=1e-5)


def _gradients(layer, z):
    """d mean(cost) / d (prototypes, temperature), on TensorFlow or JAX."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(layer.temperature.value)  # non-trainable: not watched by itself
            cost = ops.mean(layer(z))
        grads = tape.gradient(cost, [layer.clusters.value, layer.temperature.value])
    elif backend == "jax":
        import jax

        def cost(clusters, temperature):
            return ops.mean(layer.stateless_call([clusters], [temperature], z)[0])

        grads = jax.grad(cost, argnums=(0, 1))(layer.clusters.value, layer.temperature.value)
    else:
        pytest.skip(f"gradients not written for the {backend} backend")
    return [None if g is None else ops.convert_to_numpy(g) for g in grads]


def test_the_gradient_treats_the_neighbourhood_as_constant():
    z, m = points_and_prototypes(seed=4, n=40)
    layer = SOMLayer((2, 3), weights=[m], temperature=1.5)
    layer.build(z.shape)
    _, h, _ = reference_cost(z, m, 1.5, (2, 3))
    # d/dm_u of mean_i sum_u h_iu ||z_i - m_u||^2 with h constant:
    expected = 2 * (h[:, :, None] * (m[None, :, :] - z[:, None, :])).mean(0)
    prototypes, temperature = _gradients(layer, z)
    np.testing.assert_allclose(prototypes, expected, rtol=1e-4, atol=1e-6)
    # Through h the cost would depend on T (its derivative here is far from 0):
    # the weights are under stop_gradient, as DESOM's, so T gets none.
    assert temperature is None or float(temperature) == 0.0


def test_symbolic_shape_weights_and_config_round_trip():
    layer = SOMLayer((2, 3), temperature=4.0, name="som")
    out = layer(keras.Input(shape=(7,)))
    assert tuple(out.shape) == (None,)
    assert [tuple(w.shape) for w in layer.trainable_weights] == [(6, 7)]
    assert [w.name for w in layer.non_trainable_weights] == ["temperature"]
    # kmeans_friendly.train reads these: the centres, their number, the annealed
    # weight, and names the history's column by the latter's name.
    assert layer.clusters.name == "clusters" and layer.n_clusters == 6
    assert layer.annealed is layer.temperature and layer.annealed.name == "temperature"
    assert float(ops.convert_to_numpy(layer.annealed)) == 4.0
    config = layer.get_config()
    assert config["map_size"] == [2, 3] and config["temperature"] == 4.0
    clone = SOMLayer.from_config(config)
    assert clone.map_size == (2, 3) and clone.initial_temperature == 4.0 and clone.name == "som"
    assert SOMLayer().map_size == (8, 8) and SOMLayer().n_clusters == 64


def test_save_and_load_without_custom_objects(tmp_path):
    rng = np.random.default_rng(5)
    inputs = keras.Input(shape=(8,))
    h = keras.layers.Dense(4)(inputs)
    cost = SOMLayer((2, 2), weights=[rng.normal(size=(4, 4))], temperature=3.0, name="som")(h)
    model = keras.Model(inputs, cost)
    model.get_layer("som").temperature.assign(0.7)  # annealed since: the value is saved
    x = rng.normal(size=(10, 8)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    layer = loaded.get_layer("som")
    assert isinstance(layer, SOMLayer) and layer.map_size == (2, 2)
    assert float(ops.convert_to_numpy(layer.temperature)) == pytest.approx(0.7)


def test_one_fit_step_moves_the_prototypes_not_the_temperature():
    x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(3),
                              SOMLayer((2, 2), name="som")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=kmeans_friendly.kmeans_cost)
    layer = model.get_layer("som")
    before = ops.convert_to_numpy(layer.clusters).copy()
    loss = model.train_on_batch(x, np.zeros(32, "float32"))
    assert np.isfinite(loss)
    assert not np.allclose(before, ops.convert_to_numpy(layer.clusters))
    assert float(ops.convert_to_numpy(layer.temperature)) == 10.0


def test_mixed_precision():
    z, m = points_and_prototypes(seed=6, n=16)
    layer = SOMLayer((2, 3), weights=[m], temperature=2.0, dtype="mixed_float16")
    cost = layer(z)
    assert keras.backend.standardize_dtype(cost.dtype) == "float16"
    assert layer.clusters.dtype == "float32", "the prototypes stay in float32"
    expected, _, _ = reference_cost(z, m, 2.0, (2, 3))
    np.testing.assert_allclose(ops.convert_to_numpy(cost).astype("float32"), expected, rtol=5e-3)


@pytest.mark.parametrize("map_size", [(1, 1), (0, 4), (3, -1), (2,), (2, 3, 4), (2.5, 2),
                                      (True, 3), "ab", None, 6])
def test_rejects_bad_map_sizes(map_size):
    with pytest.raises(ValueError, match=r"invalid value for `map_size`, expected a pair of "
                                         r"integers.*at least 2 units.*Received: map_size="):
        SOMLayer(map_size)


@pytest.mark.parametrize("temperature", [0, -1.0, np.inf, np.nan, None, "hot"])
def test_rejects_bad_temperatures(temperature):
    with pytest.raises(ValueError, match="invalid value for `temperature`, expected a positive "
                                         "finite number. Received: temperature="):
        SOMLayer((2, 2), temperature=temperature)


def test_rejects_prototypes_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"wrong shape.*\(4, 3\).*\(6, 3\)"):
        SOMLayer((2, 2), weights=[np.zeros((6, 3))])(keras.Input((3,)))
    with pytest.raises(ValueError, match="hold one array"):
        SOMLayer((2, 2), weights=[np.zeros((4, 3)), np.zeros(3)])


def test_som_temperatures_decay_exponentially_from_t_max_to_t_min():
    temperatures = som_temperatures(5)
    assert temperatures[0] == 10.0 and temperatures[-1] == 0.1 and len(temperatures) == 5
    assert np.all(np.diff(temperatures) < 0)
    # A constant ratio: (t_min / t_max) ** (1 / (n - 1)) = 0.01 ** 0.25.
    np.testing.assert_allclose(np.array(temperatures[1:]) / temperatures[:-1], 0.01 ** 0.25)
    assert som_temperatures(3, t_max=4.0, t_min=1.0) == pytest.approx([4.0, 2.0, 1.0])
    assert som_temperatures(1) == [10.0] and som_temperatures(4, 2.0, 2.0) == [2.0] * 4


@pytest.mark.parametrize("args, message", [
    ((0,), "n_stages"), ((2.5,), "n_stages"), ((5, 10.0, 0.0), "t_min"), ((5, 10.0, -1.0), "t_min"),
    ((5, np.inf), "t_max"), ((5, 1.0, 2.0), "t_min should be <= t_max"),
])
def test_som_temperatures_rejects_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        som_temperatures(*args)


def test_initial_prototypes_are_distinct_samples_of_the_embedding():
    z = np.random.default_rng(7).normal(size=(40, 3))
    prototypes = initial_prototypes(z, (3, 4), seed=1)
    assert prototypes.shape == (12, 3) and prototypes.dtype == np.float32
    rows = [int(np.flatnonzero(np.all(z.astype("float32") == p, axis=1))[0]) for p in prototypes]
    assert len(set(rows)) == 12  # without replacement
    np.testing.assert_array_equal(initial_prototypes(z, (3, 4), seed=1), prototypes)
    assert not np.array_equal(initial_prototypes(z, (3, 4), seed=2), prototypes)
    with pytest.raises(ValueError, match=r"n_samples=40 should be >= n_units=42"):
        initial_prototypes(z, (6, 7), seed=0)
    with pytest.raises(ValueError, match="map_size"):
        initial_prototypes(z, (1, 1), seed=0)


def test_merge_units_groups_the_prototypes_by_kmeans():
    groups = np.repeat(np.arange(3), [4, 5, 7])
    prototypes = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])[groups]
    prototypes += np.random.default_rng(8).normal(scale=0.1, size=prototypes.shape)
    merged = merge_units(prototypes, 3, seed=0)
    assert merged.shape == (16,)
    assert metrics.acc(groups, merged) == 1.0
    with pytest.raises(ValueError, match=r"n_clusters=20 should be <= n_units=16.*larger map|"
                                         r"n_clusters=20 should be <= n_units=16.*at least"):
        merge_units(prototypes, 20)
    with pytest.raises(ValueError, match="n_clusters"):
        merge_units(prototypes, 1)


def test_unit_map_counts_and_majority_labels():
    bmus = np.array([0, 0, 0, 3, 3, 5])
    y = np.array([7, 7, 2, 1, 4, 9])
    counts, majority = unit_map(bmus, y, 6)
    assert counts.tolist() == [3, 0, 0, 2, 0, 1]
    assert majority.tolist() == [7, -1, -1, 1, -1, 9]  # a tie: the smallest label
    with pytest.raises(ValueError, match=r"units in range\(4\)"):
        unit_map(bmus, y, 4)
    with pytest.raises(ValueError, match="same shape"):
        unit_map(bmus, y[:3], 6)


def test_the_som_model_trains_with_the_staged_loop(scaled_blobs):
    """kmeans_friendly.train with layer="som": the temperature is annealed and
    recorded under its name, the labels are the best-matching units."""
    x, y = scaled_blobs
    keras.utils.set_random_seed(0)
    ae, encoder = autoencoders.autoencoder((5, 16, 2))
    z = encoder.predict(x, verbose=0)
    model = build_som_model(ae, encoder, map_size=(2, 3),
                            prototypes=initial_prototypes(z, (2, 3), seed=0))
    assert model.get_layer("som").map_size == (2, 3) and len(model.outputs) == 2
    schedule = som_temperatures(3, t_max=2.0)
    training = kmeans_friendly.train(model, x, y, schedule=schedule, epochs_per_stage=1,
                                     reset_centres=False, batch_size=32, verbose=0, layer="som")
    assert training.history["temperature"] == [None, *schedule]
    layer = model.get_layer("som")
    assert float(ops.convert_to_numpy(layer.temperature)) == pytest.approx(schedule[-1])
    bmus = ops.convert_to_numpy(layer.best_matching_units(encoder.predict(x, verbose=0)))
    np.testing.assert_array_equal(training.labels, bmus)


def test_batch_som_step_is_the_neighbourhood_weighted_mean():
    rng = np.random.default_rng(0)
    z, m = rng.normal(size=(50, 3)), rng.normal(size=(6, 3))
    got, bmus = batch_som_step(z, m, 1.5, (2, 3))
    grid = manhattan((2, 3))
    expected = np.array(m)
    for u in range(6):  # directly, unit by unit
        w = np.array([np.exp(-grid[np.argmin(((zi - m) ** 2).sum(1)), u] ** 2 / 1.5**2) for zi in z])
        expected[u] = (w[:, None] * z).sum(0) / w.sum()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_array_equal(bmus, ((z[:, None] - m[None]) ** 2).sum(-1).argmin(1))


def test_batch_som_step_at_a_small_temperature_is_a_kmeans_step():
    z = np.float32([[0, 0], [0, 1], [10, 10], [10, 11]])
    m = np.float32([[0, 0], [10, 10], [50, 50]])  # the third unit is nobody's BMU
    got, bmus = batch_som_step(z, m, 0.05, (1, 3))
    np.testing.assert_allclose(got, [[0, 0.5], [10, 10.5], [50, 50]], atol=1e-6)
    assert bmus.tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="temperature"):
        batch_som_step(z, m, 0.0, (1, 3))


def test_the_batch_update_sets_the_held_prototypes_each_stage(scaled_blobs):
    """With batch_som_reset the prototypes are not trained but set by the batch
    step at each stage's temperature; the last one is the step on the final
    embedding at the last temperature, and the labels are its BMUs."""
    x, y = scaled_blobs
    keras.utils.set_random_seed(0)
    ae, encoder = autoencoders.autoencoder((5, 16, 2))
    z = encoder.predict(x, verbose=0)
    model = build_som_model(ae, encoder, map_size=(2, 3), trainable_prototypes=False,
                            prototypes=initial_prototypes(z, (2, 3), seed=0))
    layer = model.get_layer("som")
    assert not layer.clusters.trainable
    schedule = som_temperatures(3, t_max=2.0)
    before = ops.convert_to_numpy(layer.clusters).copy()
    final_prototypes, temperatures = [], []
    real_reset = batch_som_reset

    def spy(z, layer, seed):
        temperatures.append(float(ops.convert_to_numpy(layer.temperature)))
        final_prototypes.append(batch_som_step(z, ops.convert_to_numpy(layer.clusters),
                                               float(ops.convert_to_numpy(layer.temperature)),
                                               layer.map_size))
        return real_reset(z, layer, seed)

    training = kmeans_friendly.train(model, x, y, schedule=schedule, epochs_per_stage=1,
                                     reset_centres=spy, batch_size=32, verbose=0, layer="som")
    # Before each of the 3 stages, at its temperature, and after the last.
    assert temperatures == pytest.approx([*schedule, schedule[-1]])
    expected, _ = final_prototypes[-1]
    np.testing.assert_allclose(ops.convert_to_numpy(layer.clusters), expected, rtol=1e-6)
    assert not np.allclose(before, expected)
    # The labels are the BMUs under the final prototypes, as predict finds them.
    bmus = ops.convert_to_numpy(layer.best_matching_units(encoder.predict(x, verbose=0)))
    np.testing.assert_array_equal(training.labels, bmus)


def test_desom_labels_by_units_merged_to_the_measured_accuracy(digits, digits_ae_weights,
                                                               tmp_path):
    x, y = digits
    fitted = DESOM(10, ae_weights=digits_ae_weights, epochs=10, **DIGITS_PRETRAIN).fit(x, y)
    assert fitted.units_.shape == (1797,) and set(np.unique(fitted.units_)) <= set(range(64))
    np.testing.assert_array_equal(fitted.labels_, fitted.unit_clusters_[fitted.units_])
    np.testing.assert_array_equal(fitted.predict_units(x), fitted.units_)
    np.testing.assert_array_equal(fitted.predict(x), fitted.labels_)
    assert not hasattr(fitted, "predict_proba")
    temperatures = fitted.history_["temperature"]
    assert temperatures[0] is None and temperatures[1] == 10.0 and temperatures[-1] == 0.1
    # Measured (2026-12-03, 2 threads, TensorFlow): AE + K-means 0.799; DESOM
    # with the batch step (the default): merged ACC 0.699, units' purity 0.922,
    # all 64 units used; with the prototypes trained by gradient: 0.757, purity
    # 0.835, 61 units (JAX: 0.614). Below K-means on this embedding: a test
    # that it works, not that it wins; the purity shows the units' own clusters.
    assert metrics.acc(y, fitted.labels_) >= 0.55
    assert metrics.purity(y, fitted.units_) >= 0.85
    loaded = DESOM.load(fitted.save(tmp_path / "saved"))
    np.testing.assert_array_equal(loaded.predict(x), fitted.predict(x))
    np.testing.assert_array_equal(loaded.units_, fitted.units_)
    np.testing.assert_allclose(loaded.prototypes_, fitted.prototypes_)
    # Decoding the embedding of x gives the autoencoder's reconstruction of x.
    np.testing.assert_allclose(fitted.decode(fitted.transform(x[:50])),
                               fitted.autoencoder_.predict(x[:50], verbose=0), rtol=1e-4, atol=1e-5)
    assert loaded.decode(loaded.prototypes_).shape == (64, 64)


@pytest.mark.parametrize("params, error, message", [
    (dict(n_clusters=20, map_size=(4, 4)), ValueError,
     "n_clusters=20 should be <= the map's units"),
    (dict(map_size=(0, 8)), ValueError, "map_size"),
    (dict(gamma=-1.0), InvalidParameterError, "'gamma' parameter of DESOM"),
    (dict(t_min=0.0), InvalidParameterError, "'t_min' parameter of DESOM"),
])
def test_desom_refuses_bad_parameters_before_training(params, error, message, digits):
    x, _ = digits
    with pytest.raises(error, match=message):
        DESOM(**{"n_clusters": 10, **params}).fit(x)


def test_plot_som_prototypes_draws_the_map_as_one_image():
    images = np.random.default_rng(0).random((6, 64))
    ax = plots.plot_som_prototypes(images, (2, 3))
    (image,) = ax.get_images()
    canvas = image.get_array()
    assert canvas.shape == (2 * 9 - 1, 3 * 9 - 1)
    np.testing.assert_allclose(canvas[9:17, 18:26], images[5].reshape(8, 8))  # unit 5: row 1, col 2
    plt.close(ax.get_figure())
    fig, ax = plt.subplots()
    assert plots.plot_som_prototypes(np.zeros((4, 6)), (2, 2), image_shape=(2, 3), ax=ax) is ax
    plt.close(fig)
    with pytest.raises(ValueError, match="image_shape"):
        plots.plot_som_prototypes(np.zeros((4, 10)), (2, 2))
    with pytest.raises(ValueError, match="one image per unit"):
        plots.plot_som_prototypes(np.zeros((5, 16)), (2, 2))


def test_plot_som_map_writes_the_majority_in_each_unit(tmp_path):
    counts, majority = unit_map([0, 0, 1, 5], [3, 3, 8, 1], 6)
    fig, ax = plt.subplots()
    assert plots.plot_som_map(counts, majority, (2, 3), ax=ax) is ax
    (heat,) = ax.get_images()
    np.testing.assert_array_equal(heat.get_array(), [[2, 1, 0], [0, 0, 1]])
    assert [t.get_text() for t in ax.texts] == ["3", "8", "", "", "", "1"]
    assert len(fig.axes) == 2  # the map and its colour bar
    path = plots.save_figure(ax, tmp_path / "map.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="rows \\* cols"):
        plots.plot_som_map(counts, majority, (2, 2))
