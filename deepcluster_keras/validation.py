"""Input checks applied once, at the edge, before any training starts.

The inner functions trust what these return. Each message names the
argument, what was expected and what was received.
"""

import os
import tempfile

import numpy as np


def check_n_clusters(n_clusters):
    if isinstance(n_clusters, bool) or not isinstance(
        n_clusters, (int, np.integer)
    ) or n_clusters < 2:
        raise ValueError(
            "Received an invalid value for `n_clusters`, expected an integer >= 2 "
            "(one cluster would hold every sample). "
            f"Received: n_clusters={n_clusters!r}"
        )
    return int(n_clusters)


def check_positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected an integer "
            f">= {minimum}. Received: {name}={value!r}"
        )
    return int(value)


def check_data(x, name="x", n_clusters=None, image_shaped=False):
    """Return ``x`` as a finite float32 array with samples on axis 0.

    Parameters
    ----------
    x : array-like of shape (n_samples, n_features) or, when
        ``image_shaped``, (n_samples, height, width[, channels])
    n_clusters : int, optional
        When given, ``n_samples`` must be at least this.
    image_shaped : bool
        Require images (for the convolutional autoencoder); a missing
        channel axis is added.
    """
    if hasattr(x, "toarray"):  # scipy.sparse
        raise TypeError(f"Sparse data is not supported for `{name}`: pass {name}.toarray().")
    try:
        x = np.asarray(x)
    except (TypeError, ValueError) as error:  # ragged input
        raise ValueError(f"`{name}` could not be read as an array: {error}") from None
    if x.dtype.kind == "c":
        raise ValueError(f"Complex data not supported for `{name}`. Received: {name}.dtype={x.dtype}")
    if x.dtype.kind == "O":  # numbers held as Python objects; a dict or string is an error
        try:
            x = x.astype("float32")
        except ValueError:
            pass
    if x.dtype.kind not in "biuf":
        raise ValueError(
            f"Received non-numeric data for `{name}`, expected numbers. "
            f"Received: {name}.dtype={x.dtype}"
        )
    x = x.astype("float32", copy=False)
    if image_shaped:
        if x.ndim == 3:
            x = x[..., np.newaxis]
        if x.ndim != 4:
            raise ValueError(
                f"The convolutional autoencoder needs image-shaped `{name}` of "
                "shape (n_samples, height, width[, channels]); load it with "
                f"image_shaped=True or reshape it. Received: {name}.shape={x.shape}"
            )
    elif x.ndim < 2:
        raise ValueError(
            f"Expected 2-D `{name}` of shape (n_samples, n_features); reshape "
            "a single feature with x.reshape(-1, 1) or a single sample with "
            f"x.reshape(1, -1). Received: {name}.shape={x.shape}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"Received empty `{name}`: 0 samples. Received: {name}.shape={x.shape}")
    if x.size == 0:
        raise ValueError(f"Found array `{name}` with 0 feature(s) (shape={x.shape}) while a "
                         "minimum of 1 is required.")
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(
            f"`{name}` contains {int(bad.sum())} NaN or infinite values "
            f"(first at sample {int(np.argwhere(bad)[0][0])}); remove or impute "
            "them before clustering."
        )
    if n_clusters is not None:
        check_n_samples(x.shape[0], n_clusters)
    return x


def check_n_samples(n_samples, n_clusters):
    if n_samples < n_clusters:
        raise ValueError(
            f"n_samples={n_samples} should be >= n_clusters={n_clusters}: "
            "give more data or ask for fewer clusters."
        )


def check_labels(y, n_samples, name="y"):
    """Return ``y`` as a 1-D array of length ``n_samples`` (or None)."""
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"Expected 1-D labels `{name}`. Received: {name}.shape={y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(
            f"`{name}` must have one label per sample. Received: "
            f"len({name})={y.shape[0]} for n_samples={n_samples}"
        )
    return y


def check_writable_dir(path, name="out"):
    """Create ``path`` if needed and make sure files can be written there."""
    path = os.fspath(path)
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as error:
        raise ValueError(
            f"The output folder `{name}` cannot be written: choose another with "
            f"--out or fix its permissions. Received: {name}={path!r} ({error.strerror})"
        ) from None
    return path
