"""Datasets as the tutorials use them: images scaled to [0, 1], float32.

``load_data(name)`` looks for the original IDX ``.gz`` files, in order:

1. the folder given as ``data_dir`` (then only there),
2. the folder named by the environment variable ``DEEPCLUSTER_DATA_DIR``,
3. the system folder ``/usr/share/datasets`` (Debian's ``dataset-*``
   packages, e.g. ``apt-get install dataset-fashion-mnist``),

each either holding the four files itself or in a sub-folder named after the
dataset (``mnist/``, ``fashion-mnist/``). When none has them, Keras' own
downloader is used (``~/.keras/datasets``). sklearn's 8x8 ``digits`` ships
with scikit-learn and needs neither.
"""

import gzip
import os

import numpy as np

__all__ = ["DATASETS", "DATA_DIR_ENV", "load_data"]

DATA_DIR_ENV = "DEEPCLUSTER_DATA_DIR"
SYSTEM_DATA_DIRS = ("/usr/share/datasets",)

DATASETS = {
    "mnist": "MNIST train + test, 70,000 28x28 digits (the DEC tutorial's data)",
    "mnist_test": "MNIST test set, 10,000 28x28 digits",
    "fashion_mnist": "Fashion-MNIST train + test, 70,000 28x28 clothing images",
    "digits": "scikit-learn's 8x8 digits, 1,797 images (offline, no download)",
}

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_SUBFOLDERS = {
    "mnist": ("mnist",),
    "fashion_mnist": ("fashion-mnist", "fashion_mnist"),
}


def load_data(name="mnist", data_dir=None, image_shaped=False):
    """Load a dataset as ``(x, y)``.

    Parameters
    ----------
    name : {"mnist", "mnist_test", "fashion_mnist", "digits"}
    data_dir : str or path, optional
        Folder holding the IDX ``.gz`` files (or a ``mnist/`` /
        ``fashion-mnist/`` sub-folder with them).
    image_shaped : bool, default=False
        Return images of shape (n, height, width, 1) for the convolutional
        autoencoder instead of flat vectors.

    Returns
    -------
    x : ndarray of shape (n_samples, n_features) or (n_samples, h, w, 1), float32 in [0, 1]
    y : ndarray of shape (n_samples,), int64
    """
    if name not in DATASETS:
        raise ValueError(
            f"Unknown dataset, expected one of {sorted(DATASETS)}. Received: name={name!r}"
        )
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = (digits.images / 16.0).astype("float32")
        y = digits.target.astype("int64")
    else:
        family = "fashion_mnist" if name == "fashion_mnist" else "mnist"
        splits = ("test",) if name == "mnist_test" else ("train", "test")
        parts = _load_idx(family, splits, data_dir)
        images = np.concatenate([p[0] for p in parts]).astype("float32") / 255.0
        y = np.concatenate([p[1] for p in parts]).astype("int64")
    if image_shaped:
        return images[..., np.newaxis], y
    return images.reshape(len(images), -1), y


def _candidate_dirs(family, data_dir):
    if data_dir is not None:
        roots = [os.fspath(data_dir)]
    else:
        roots = [os.environ[DATA_DIR_ENV]] if os.environ.get(DATA_DIR_ENV) else []
        roots += list(SYSTEM_DATA_DIRS)
    for root in roots:
        yield root
        for sub in _SUBFOLDERS[family]:
            yield os.path.join(root, sub)


def _load_idx(family, splits, data_dir):
    """Return [(images uint8 (n, h, w), labels uint8 (n,)), ...] per split."""
    needed = [f for split in splits for f in _FILES[split]]
    looked = []
    for folder in _candidate_dirs(family, data_dir):
        looked.append(folder)
        if all(os.path.isfile(os.path.join(folder, f)) for f in needed):
            return [
                (
                    _read_idx(os.path.join(folder, _FILES[split][0])),
                    _read_idx(os.path.join(folder, _FILES[split][1])),
                )
                for split in splits
            ]
    if data_dir is not None:
        raise FileNotFoundError(
            f"No {family} files in data_dir={os.fspath(data_dir)!r}. Looked in: "
            f"{', '.join(looked)}. Expected the files {', '.join(needed)} there. "
            "Point data_dir (--data-dir) at the folder that holds them, or leave "
            "it out to let Keras download the data."
        )
    return _keras_download(family, splits, looked, needed)


def _keras_download(family, splits, looked, needed):
    import keras

    loader = getattr(keras.datasets, family)
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:  # no network, a proxy, a broken cache...
        raise FileNotFoundError(
            f"Could not find or download {family}. Looked for {', '.join(needed)} "
            f"in: {', '.join(looked) or '(no folder)'}; then Keras' downloader "
            f"failed ({type(error).__name__}: {error}). Either connect to the "
            "internet, or put the IDX .gz files in a folder and pass it as "
            f"data_dir (--data-dir) or set {DATA_DIR_ENV}="
            "/path/to/folder. For Fashion-MNIST on Debian: "
            "apt-get install dataset-fashion-mnist."
        ) from error
    by_split = {"train": (x_train, y_train), "test": (x_test, y_test)}
    return [by_split[split] for split in splits]


def _read_idx(path):
    """Read one gzip-compressed IDX file (the original MNIST format)."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (EOFError, gzip.BadGzipFile, OSError) as error:
        raise ValueError(
            f"{path} is damaged ({type(error).__name__}: {error}): it is not a complete "
            "gzip file. Download it again (or delete it to let Keras download the data)."
        ) from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes.")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(shape)):
        raise ValueError(
            f"{path} is truncated or corrupt: header says shape {shape}, "
            f"found {len(data) - offset} bytes of data."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)
