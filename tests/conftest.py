import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pathlib
import time

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


def mnist_dir():
    """Folder with the MNIST IDX files (in it or in its mnist/ sub-folder, as the
    loaders accept): $DEEPCLUSTER_DATA_DIR or ../shared/datasets."""
    for root in (os.environ.get("DEEPCLUSTER_DATA_DIR"), SHARED_DATASETS):
        for folder in (root, root and pathlib.Path(root) / "mnist"):
            if folder and (pathlib.Path(folder) / "t10k-images-idx3-ubyte.gz").is_file():
                return pathlib.Path(root)
    return None


@pytest.fixture
def shared_mnist():
    root = mnist_dir()
    if root is None:
        pytest.skip("MNIST files not found: set DEEPCLUSTER_DATA_DIR to the folder of the IDX .gz files")
    return root


@pytest.fixture(scope="session")
def blobs():
    """Three well separated Gaussian blobs in 5-D with their labels."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0] * 5, [4.0] * 5, [-4.0, 4.0, -4.0, 4.0, -4.0]])
    y = np.repeat(np.arange(3), 40)
    x = centres[y] + rng.normal(scale=0.5, size=(len(y), 5))
    return x.astype("float32"), y


#: One CPU thread for TensorFlow and OpenMP: results on a CPU depend on the number of
#: threads, and the floors of the slow tests were measured on one
#: (benchmarks/calibrate.sh).
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}


def reproduce_on_one_thread(out, *args):
    """``python -m deepcluster_keras reproduce --seeds 0 ARGS --out OUT`` on one
    thread, in a process of its own; returns seed 0's JSON."""
    import json
    import subprocess
    import sys

    command = [sys.executable, "-m", "deepcluster_keras", "reproduce", "--seeds", "0", "--quiet",
               "--out", str(out), *args]
    done = subprocess.run(command, env={**os.environ, **ONE_THREAD}, capture_output=True,
                          text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((pathlib.Path(out) / "seed_0.json").read_text())


class CallCounter:
    """Counts the calls of one callback hook through the public hook (the
    ``callbacks`` of ``self_train``, the estimators' ``fit``, ``run`` and
    ``reproduce``, Keras' ``fit``), and raises KeyboardInterrupt at call
    ``interrupt_at``: Ctrl-C, as a user would press it. ``reset`` gives the
    callbacks to pass."""

    def __init__(self, hook):
        import keras

        def count(callback, index, logs=None):
            self.calls += 1
            if self.calls == self.interrupt_at:
                raise KeyboardInterrupt

        self.callback = type("Count", (keras.callbacks.Callback,), {hook: count})()
        self.calls, self.interrupt_at = 0, None

    def reset(self, interrupt_at=None):
        self.calls, self.interrupt_at = 0, interrupt_at
        return [self.callback]


@pytest.fixture
def epochs():
    """Counts the ends of epochs (stages; every restart's; pretraining's
    epochs in Keras' ``fit``), after each epoch's checkpoint was saved."""
    return CallCounter("on_epoch_end")


@pytest.fixture
def batches():
    """Counts self-training batches."""
    return CallCounter("on_train_batch_end")


@pytest.fixture(scope="session")
def scaled_blobs(blobs):
    """``blobs`` scaled to [0, 1], as the tutorial's data (SGD self-training
    diverges on unscaled data)."""
    from sklearn.preprocessing import minmax_scale

    x, y = blobs
    return minmax_scale(x).astype("float32"), y


def pytest_collection_modifyitems(items):
    """The slow tests first, longest first, by the cost each declares
    (``@pytest.mark.slow(seconds=...)``, measured in .ci/run on two cores):
    pytest-xdist hands tests out in this order, and a long test started last
    leaves the other process idle (111 s of the slow set's 468 s before)."""
    def cost(item):
        marker = item.get_closest_marker("slow")
        return -marker.kwargs.get("seconds", 1) if marker else 0

    items.sort(key=cost)


#: The recipe on scikit-learn's digits, shortened: the autoencoder of ``digits_ae_weights``.
DIGITS_PRETRAIN = dict(pretrain_epochs=60, n_init=5, random_state=0)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits scaled to [0, 1]: small real data."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16).astype("float32"), y


@pytest.fixture(scope="session")
def digits_ae_weights(tmp_path_factory, worker_id, digits):
    """The dense autoencoder pretrained on ``digits`` (``DIGITS_PRETRAIN``),
    shared by the methods that start from one: built once a test run (about
    40 s on two cores), by the first of pytest-xdist's processes to ask; the
    others wait for its file."""
    from deepcluster_keras import DEC

    folder = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        folder = folder.parent  # the run's folder, which every worker's is in
    path, failed = folder / "digits_ae.weights.h5", folder / "digits_ae.failed"
    try:
        os.close(os.open(folder / "digits_ae.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:  # another process builds it
        deadline = time.monotonic() + 900
        while not path.exists():
            if failed.exists() or time.monotonic() > deadline:
                pytest.fail("the process building the digits autoencoder failed or timed out")
            time.sleep(0.2)
        return str(path)
    try:
        building = folder / "digits_ae.building.weights.h5"
        DEC(10, maxiter=0, **DIGITS_PRETRAIN).fit(digits[0]).save_autoencoder_weights(building)
        os.replace(building, path)  # whole, or not there
    except BaseException:
        failed.touch()
        raise
    return str(path)
