"""Plots of a clustering. matplotlib and seaborn are imported lazily.

Each function takes an optional matplotlib ``ax`` and returns it.
"""

import numpy as np

from deepcluster_keras.metrics import confusion

__all__ = [
    "plot_confusion_matrix",
    "plot_cluster_grid",
    "plot_training_curves",
    "plot_embedding",
    "plot_som_prototypes",
    "plot_som_map",
    "save_figure",
]


def _new_ax(figsize):
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_confusion_matrix(y_true, y_pred, ax=None, title=None):
    """Heatmap of clusters (rows) against true classes (columns).

    Rows are ordered by the Hungarian matching, so a good clustering shows
    a bright diagonal.
    """
    import seaborn as sns
    from scipy.optimize import linear_sum_assignment

    table = confusion(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    order = list(rows[np.argsort(cols)]) + [r for r in range(table.shape[0]) if r not in rows]
    clusters = np.unique(y_pred)
    ax = ax if ax is not None else _new_ax((7, 6))
    sns.heatmap(
        table[order],
        annot=table.shape[0] * table.shape[1] <= 400,
        fmt="d",
        cmap="Blues",
        cbar=False,
        xticklabels=np.unique(y_true),
        yticklabels=clusters[order],
        ax=ax,
    )
    ax.set_xlabel("true class")
    ax.set_ylabel("cluster (matched order)")
    if title:
        ax.set_title(title)
    return ax


def plot_cluster_grid(images, y_pred, n_per_cluster=10, image_shape=None, ax=None, title=None):
    """The first ``n_per_cluster`` images of each cluster, one row a cluster.

    Parameters
    ----------
    images : ndarray of shape (n_samples, h, w[, 1]) or (n_samples, h * w)
    image_shape : (h, w), needed for flat images that are not square.
    """
    images = np.asarray(images)
    if image_shape is None:
        if images.ndim == 2:
            side = int(round(np.sqrt(images.shape[1])))
            if side * side != images.shape[1]:
                raise ValueError(
                    "Pass image_shape=(height, width) for flat images that are "
                    f"not square. Received: images.shape={images.shape}"
                )
            image_shape = (side, side)
        else:
            image_shape = images.shape[1:3]
    h, w = image_shape
    clusters = np.unique(y_pred)
    canvas = np.ones((len(clusters) * (h + 1), n_per_cluster * (w + 1))) * np.nan
    for row, cluster in enumerate(clusters):
        members = np.flatnonzero(y_pred == cluster)[:n_per_cluster]
        for col, i in enumerate(members):
            canvas[row * (h + 1): row * (h + 1) + h, col * (w + 1): col * (w + 1) + w] = (
                images[i].reshape(h, w)
            )
    ax = ax if ax is not None else _new_ax((n_per_cluster * 0.6, len(clusters) * 0.6))
    ax.imshow(canvas, cmap="gray_r", interpolation="nearest")
    ax.set_yticks([row * (h + 1) + h / 2 for row in range(len(clusters))])
    ax.set_yticklabels([str(c) for c in clusters])
    ax.set_xticks([])
    ax.set_ylabel("cluster")
    if title:
        ax.set_title(title)
    return ax


def plot_training_curves(history, tol=None, axes=None):
    """Training's progress: scores (when labels were given) and the fraction
    of labels changed, on a log scale with ``tol`` marked.

    Parameters
    ----------
    history : dict of lists, from the K-means start: ``SelfTrainingHistory.history``
        (one entry per target update) or ``EpochTraining.history``
        (one entry per stage, by epoch)
    axes : a pair of matplotlib axes, optional

    Returns
    -------
    the pair of axes
    """
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    scores_ax, change_ax = axes
    by_update = "iteration" in history
    x = history["iteration"] if by_update else history["epoch"]
    for key in ("acc", "nmi", "ari"):
        if key in history:
            scores_ax.plot(x, history[key], marker="o", label=key.upper())
    if "loss" in history:
        points = [(i, v) for i, v in zip(x, history["loss"]) if v is not None]
        if points:
            loss_ax = scores_ax.twinx()
            loss_ax.plot(*zip(*points), color="gray", linestyle=":", label="loss")
            loss_ax.set_ylabel("mean loss since the last update" if by_update else "loss")
    unit = "iteration" if by_update else "epoch"
    scores_ax.set_xlabel(unit)
    scores_ax.set_title("scores at each target update" if by_update else "scores after each stage")
    if any(key in history for key in ("acc", "nmi", "ari")):
        scores_ax.legend(loc="lower right")
    # The first entry is the start (K-means): nothing has changed yet.
    change_ax.plot(x[1:], history["delta_label"][1:], marker="o")
    if tol:
        change_ax.axhline(tol, color="gray", linestyle="--", label="tol")
        change_ax.legend()
    change_ax.set_yscale("log")
    change_ax.set_xlabel(unit)
    change_ax.set_title("fraction of labels changed")
    return axes


def plot_pretraining_loss(losses, reference=None, groups=None, first_epoch=1, ax=None, title=None):
    """Pretraining loss per epoch of several runs, with a reference's logged points.

    Parameters
    ----------
    losses : dict of name -> list of per-epoch losses
    reference : dict of epoch (1-based) -> loss, optional, drawn as points
        (e.g. the tutorial's log, ``report.published_pretraining_loss()``)
    groups : dict of name -> group, optional
        Runs of one group share a colour and one legend entry.
    first_epoch : int, default=1
        Draw from this epoch on, on linear axes when it is above 1 (to see
        small late differences); from epoch 1, both axes are logarithmic.
    """
    import matplotlib.pyplot as plt

    ax = ax if ax is not None else _new_ax((7, 4.5))
    groups = groups or {name: name for name in losses}
    colours = {g: plt.cm.tab10(i % 10) for i, g in enumerate(dict.fromkeys(groups.values()))}
    labelled = set()
    for name, values in losses.items():
        group = groups.get(name, name)
        epochs = np.arange(1, len(values) + 1)[first_epoch - 1:]
        ax.plot(epochs, values[first_epoch - 1:], linewidth=1, color=colours.get(group),
                label=None if group in labelled else str(group))
        labelled.add(group)
    if reference:
        reference = {int(e): v for e, v in reference.items() if int(e) >= first_epoch}
        epochs = sorted(reference)
        ax.plot(epochs, [reference[e] for e in epochs], "k*", markersize=9, label="reference")
    if first_epoch == 1:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("reconstruction loss (MSE)")
    ax.set_title(title or "pretraining loss")
    ax.legend(fontsize="small")
    return ax


def plot_embedding(z, labels, sample_size=2000, random_state=0, ax=None, title=None):
    """A 2-D t-SNE map of the embedding ``z``, points coloured by cluster.

    t-SNE runs on a random sample of ``sample_size`` points (it is
    quadratic in time); DBSCAN's noise points (label -1) are drawn grey.
    """
    from sklearn.manifold import TSNE

    z = np.asarray(z).reshape(len(z), -1)
    labels = np.asarray(labels)
    rng = np.random.default_rng(random_state)
    keep = rng.choice(len(z), size=min(sample_size, len(z)), replace=False)
    z, labels = z[keep], labels[keep]
    perplexity = min(30.0, (len(z) - 1) / 3)
    points = TSNE(2, perplexity=perplexity, init="pca", random_state=random_state).fit_transform(z)
    ax = ax if ax is not None else _new_ax((6, 6))
    noise = labels == -1
    if noise.any():
        ax.scatter(*points[noise].T, s=4, c="lightgray", label="noise")
    scatter = ax.scatter(*points[~noise].T, s=4, c=labels[~noise], cmap="tab10")
    ax.legend(*scatter.legend_elements(), title="cluster", loc="best", fontsize="small",
              markerscale=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"t-SNE of the embedding ({len(z)} points)")
    return ax


def save_figure(ax, path, dpi=120):
    """Save the figure holding ``ax`` as an image and close it."""
    import matplotlib.pyplot as plt

    fig = (ax[0] if isinstance(ax, (list, tuple, np.ndarray)) else ax).get_figure()
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_som_prototypes(images, map_size, image_shape=None, ax=None, title=None):
    """A self-organising map's prototypes as images, laid out as the map.

    Parameters
    ----------
    images : ndarray of shape (rows * cols, h * w) or (rows * cols, h, w[, 1])
        The prototypes decoded back to images (e.g. the decoder's output
        for ``som.SOMLayer``'s ``clusters``), unit ``u`` in row
        ``u // cols`` and column ``u % cols``.
    map_size : (rows, cols)
    image_shape : (h, w), needed for flat images that are not square.

    Returns
    -------
    ax, holding one image: the map, a pixel's gap between the units.
    """
    rows, cols = map_size
    images = np.asarray(images)
    if len(images) != rows * cols:
        raise ValueError(f"Expected one image per unit of the map, rows * cols={rows * cols}. "
                         f"Received: {len(images)} images, map_size={tuple(map_size)}")
    h, w = _image_shape(images, image_shape)
    canvas = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    for unit, image in enumerate(images):
        row, col = divmod(unit, cols)
        canvas[row * (h + 1): row * (h + 1) + h, col * (w + 1): col * (w + 1) + w] = (
            image.reshape(h, w))
    ax = ax if ax is not None else _new_ax((cols * 0.8, rows * 0.8))
    ax.imshow(canvas, cmap="gray_r", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"prototypes of the {rows}x{cols} map")
    return ax


def plot_som_map(counts, majority, map_size, ax=None, title=None):
    """The samples per unit of a self-organising map, with each unit's majority class.

    Parameters
    ----------
    counts, majority : ndarray of shape (rows * cols,), from ``som.unit_map``
        (``majority`` -1 for an empty unit, left blank)
    map_size : (rows, cols)

    Returns
    -------
    ax, holding the heat map of the counts and one text per unit.
    """
    rows, cols = map_size
    counts, majority = np.asarray(counts), np.asarray(majority)
    if counts.shape != (rows * cols,) or majority.shape != (rows * cols,):
        raise ValueError(f"Expected counts and majority of shape (rows * cols,)=({rows * cols},). "
                         f"Received: counts.shape={counts.shape}, majority.shape={majority.shape}")
    ax = ax if ax is not None else _new_ax((cols * 0.7 + 1.5, rows * 0.7 + 0.5))
    grid = counts.reshape(rows, cols)
    heat = ax.imshow(grid, cmap="Blues", interpolation="nearest", vmin=0)
    ax.get_figure().colorbar(heat, ax=ax, label="samples")
    for unit, label in enumerate(majority):
        row, col = divmod(unit, cols)
        dark = grid[row, col] > 0.6 * max(grid.max(), 1)
        ax.text(col, row, "" if label == -1 else str(label), ha="center", va="center",
                color="white" if dark else "black", fontsize="small")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "samples per unit (majority class written)")
    return ax


def _image_shape(images, image_shape):
    """``(h, w)`` of ``images``: given, the images' own, or square for flat ones."""
    if image_shape is not None:
        return tuple(image_shape)
    if images.ndim > 2:
        return images.shape[1:3]
    side = int(round(np.sqrt(images.shape[1])))
    if side * side != images.shape[1]:
        raise ValueError("Pass image_shape=(height, width) for flat images that are not square. "
                         f"Received: images.shape={images.shape}")
    return side, side
