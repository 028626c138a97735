import gzip

import numpy as np
import pytest

from deepcluster_keras import datasets
from deepcluster_keras.datasets import load_data

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_test_from_shared_folder(shared_mnist):
    x, y = load_data("mnist_test", data_dir=shared_mnist)
    assert x.shape == (10000, 784) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), MNIST_TEST_COUNTS)


def test_mnist_70k_as_the_tutorial(shared_mnist, monkeypatch):
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(shared_mnist))
    x, y = load_data("mnist")
    assert x.shape == (70000, 784) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(y), np.add(MNIST_TRAIN_COUNTS, MNIST_TEST_COUNTS))
    images, y2 = load_data("mnist_test", data_dir=shared_mnist / "mnist", image_shaped=True)
    assert images.shape == (10000, 28, 28, 1)
    np.testing.assert_array_equal(images.reshape(10000, -1), x[60000:])


def test_digits_offline():
    x, y = load_data("digits")
    assert x.shape == (1797, 64) and x.dtype == np.float32 and x.max() == 1.0
    images, _ = load_data("digits", image_shaped=True)
    assert images.shape == (1797, 8, 8, 1)
    assert sorted(np.unique(y)) == list(range(10))


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_reads_idx_files_in_a_named_folder(tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("t10k", 4)):
        _write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    x, y = load_data("fashion_mnist", data_dir=tmp_path)
    assert x.shape == (10, 784)
    np.testing.assert_array_equal(y, [0, 1, 2, 3, 4, 5, 0, 1, 2, 3])


def test_corrupt_file_is_reported(tmp_path):
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 2, 2)))
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + b"\x00\x01")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_data("mnist_test", data_dir=tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "not gzip"])
def test_damaged_gzip_is_reported_with_its_name(tmp_path, damage):
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 2, 2)))
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    _write_idx(labels, np.arange(100) % 10)
    data = labels.read_bytes()
    labels.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not a gzip file")
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz is damaged.*Download it again"):
        load_data("mnist_test", data_dir=tmp_path)


def test_missing_data_dir_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No mnist files in data_dir=.*t10k-images-idx3-ubyte.gz.*--data-dir"):
        load_data("mnist_test", data_dir=tmp_path)


def test_no_files_and_no_network_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIRS", (str(tmp_path / "system"),))

    def offline():
        raise OSError("no network")

    import keras

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(FileNotFoundError) as info:
        load_data("mnist")
    message = str(info.value)
    assert str(tmp_path) in message and "no network" in message
    assert "DEEPCLUSTER_DATA_DIR" in message and "--data-dir" in message


def test_keras_download_is_used_when_no_folder_has_the_files(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIRS", (str(tmp_path),))
    fake = np.full((3, 28, 28), 255, np.uint8), np.array([1, 2, 3], np.uint8)

    import keras

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", lambda: (fake, fake))
    x, y = load_data("fashion_mnist")
    assert x.shape == (6, 784) and x.max() == 1.0
    np.testing.assert_array_equal(y, [1, 2, 3, 1, 2, 3])


def test_unknown_dataset():
    with pytest.raises(ValueError, match="Unknown dataset.*name='cifar'"):
        load_data("cifar")


@pytest.mark.skipif(not __import__("os").path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_from_the_debian_package(monkeypatch, tmp_path):
    # An environment folder without Fashion-MNIST falls through to the system folder.
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path))
    x, y = load_data("fashion_mnist")
    assert x.shape == (70000, 784) and x.dtype == np.float32 and x.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [7000] * 10)
