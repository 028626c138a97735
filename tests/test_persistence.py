import json
import os

import keras
import numpy as np
import pytest

from deepcluster_keras.persistence import (EpochCheckpoint, atomic_save, atomic_write_json,
                                           data_fingerprint, load_keras_model, read_json)


def test_json_round_trip_with_numpy_values(tmp_path):
    path = str(tmp_path / "r.json")
    atomic_write_json(path, {"acc": np.float32(0.5), "labels": np.arange(3), "n": np.int64(7)})
    assert read_json(path) == {"acc": 0.5, "labels": [0, 1, 2], "n": 7}
    assert os.listdir(tmp_path) == ["r.json"]


def test_read_json_of_a_missing_file_is_none(tmp_path):
    assert read_json(str(tmp_path / "absent.json")) is None


def test_an_interrupted_save_leaves_the_old_file(tmp_path):
    path = str(tmp_path / "r.json")
    atomic_write_json(path, {"run": 1})

    def interrupted(tmp):
        with open(tmp, "w") as f:
            f.write('{"run": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_save(path, interrupted)
    assert read_json(path) == {"run": 1}


@pytest.mark.parametrize("name", ["ae.weights.h5", "model.keras"])
def test_atomic_save_keeps_the_ending_keras_checks(tmp_path, name):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = str(tmp_path / name)
    atomic_save(path, model.save_weights if name.endswith(".weights.h5") else model.save)
    assert os.listdir(tmp_path) == [name]
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    if name.endswith(".keras"):
        other = keras.models.load_model(path)
    else:
        other.load_weights(path)
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_data_fingerprint_sees_values_shape_and_dtype():
    x = np.arange(12, dtype="float32").reshape(3, 4)
    assert data_fingerprint(x) == data_fingerprint(x.copy())
    assert data_fingerprint(x) != data_fingerprint(x.reshape(4, 3))
    assert data_fingerprint(x) != data_fingerprint(x.astype("float64"))
    y = x.copy()
    y[2, 3] += 1
    assert data_fingerprint(x) != data_fingerprint(y)


def test_json_has_null_for_nan_and_infinity(tmp_path):
    path = tmp_path / "r.json"
    atomic_write_json(path, {"silhouette": float("nan"), "x": [np.float32("inf"), 1.5]})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"silhouette": None, "x": [None, 1.5]}


def test_a_damaged_keras_file_is_named(tmp_path):
    import keras

    inputs = keras.Input((3,))
    path = tmp_path / "model.keras"
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="model.keras is damaged"):
        load_keras_model(path)
    with pytest.raises(FileNotFoundError, match="No model file"):
        load_keras_model(tmp_path / "missing.keras")


def test_cpu_model_is_the_model_name_linux_reports():
    import pathlib

    from deepcluster_keras.machine import cpu_model

    cpuinfo = pathlib.Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        pytest.skip("no /proc/cpuinfo: the model comes from platform.processor()")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")]
    assert names and cpu_model() == names[0]


def test_versions_record_the_thread_settings(monkeypatch):
    """A run held to one thread (as the tests' floors are) says so beside the
    cores it could use."""
    from deepcluster_keras.machine import THREAD_VARIABLES, library_versions

    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert library_versions()["thread_variables"] == {}
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert library_versions()["thread_variables"] == {"TF_NUM_INTRAOP_THREADS": "1",
                                                      "OMP_NUM_THREADS": "1"}


def test_versions_name_the_backend_and_its_device():
    """A results file says which backend library made it, and on JAX the
    device and the float32 matrix precision (a GPU's default is TF32)."""
    from deepcluster_keras.machine import library_versions

    versions = library_versions()
    assert versions["keras_backend"] == keras.backend.backend()
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        assert versions["tensorflow"] == tf.__version__
    elif keras.backend.backend() == "jax":
        import jax

        assert versions["jax"] == jax.__version__
        assert versions["jax_matmul_precision"] == jax.config.jax_default_matmul_precision
        on_cpu = jax.devices()[0].platform == "cpu"
        assert (versions["accelerator"] is None) == on_cpu
    else:
        pytest.skip(f"no version recorded for the {keras.backend.backend()} backend")


def small_model(seed=0):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, kernel_initializer=keras.initializers
                                                   .GlorotUniform(seed))(inputs))
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    return model


def test_epoch_checkpoint_round_trip_and_refusal(tmp_path):
    x = np.random.default_rng(0).uniform(size=(8, 3)).astype("float32")
    model, say = small_model(), []
    progress = EpochCheckpoint(tmp_path, x, {"epochs": 4}, model)
    assert progress.resume({"loss": []}, say.append, "epoch", 4) == (0, {"loss": []}, None)
    model.train_on_batch(x, np.zeros((8, 2)))
    progress.save(1, {"loss": [0.5]}, np.arange(8))

    again = small_model(seed=1)  # other weights: the checkpoint's come back
    first, history, labels = EpochCheckpoint(tmp_path, x, {"epochs": 4}, again).resume(
        {"loss": []}, say.append, "epoch", 4)
    assert (first, history) == (1, {"loss": [0.5]}) and say == ["Resuming from the checkpoint "
                                                                "after epoch 1 of 4."]
    np.testing.assert_array_equal(labels, np.arange(8))
    for a, b in zip(again.get_weights() + [again.optimizer.iterations],
                    model.get_weights() + [model.optimizer.iterations]):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    with pytest.raises(ValueError, match=r"other data, model or settings \(data differ\)"):
        EpochCheckpoint(tmp_path, x + 1, {"epochs": 4}, small_model()).resume({}, print, "epoch", 4)
    progress.done()
    assert not tmp_path.exists(), "the finished loop's checkpoint is gone"


def test_epoch_checkpoint_without_a_folder_keeps_only_time():
    progress = EpochCheckpoint(None, np.zeros((2, 1)), {}, small_model())
    assert progress.resume({"a": []}, print, "epoch", 3) == (0, {"a": []}, None)
    progress.save(1, {"a": [1]}, None)
    progress.done()
    assert progress.seconds() >= 0
