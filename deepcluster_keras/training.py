"""Training that every method shares: pretraining the autoencoder, batch
orders, the collapse check, the optimizers' defaults, DEC-DA's augmented
model, and the epoch loops' record (:class:`EpochTraining`).

The methods' own steps live beside their maths: DEC's self-training in
:mod:`deepcluster_keras.dec`, the others in their modules.
"""

import sys
import time
from dataclasses import dataclass, field

import keras
import numpy as np

from deepcluster_keras import metrics
from deepcluster_keras.persistence import EpochCheckpoint, PretrainCheckpoint

__all__ = [
    "PREDICT_BATCH_SIZE",
    "pretrain_optimizer",
    "clustering_optimizer",
    "EpochProgress",
    "PretrainingCollapsed",
    "CollapseCheck",
    "pretrain",
    "ShuffledBatches",
    "augmented_model",
    "EpochTraining",
    "epoch_loop",
    "EpochPart",
    "check_finite",
    "append_epoch",
    "scores_text",
]

#: Batch size for ``model.predict`` over the whole dataset. Larger than the
#: training batch: prediction is cheap per sample, and fewer batches mean
#: less per-batch overhead.
PREDICT_BATCH_SIZE = 4096


def pretrain_optimizer(name="sgd"):
    """Pretraining's optimizer: ``"sgd"``, the DEC tutorial's SGD(1.0, momentum
    0.9), or ``"adam"``, Adam() as DCEC."""
    if name == "adam":
        return keras.optimizers.Adam()
    return keras.optimizers.SGD(learning_rate=1.0, momentum=0.9)


def clustering_optimizer(name="sgd", learning_rate=None):
    """Self-training's optimizer: ``"sgd"``, the DEC tutorial's SGD(0.01,
    momentum 0.9), or ``"adam"``, Adam() as the IDEC code for MNIST and DCEC;
    ``learning_rate`` replaces the rate (0.01, 0.001) where given."""
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=0.001 if learning_rate is None else learning_rate)
    return keras.optimizers.SGD(learning_rate=0.01 if learning_rate is None else learning_rate,
                                momentum=0.9)


class EpochProgress(keras.callbacks.Callback):
    """One line every ``every`` epochs: loss, elapsed time and time left."""

    def __init__(self, epochs, every=10, say=print):
        super().__init__()
        self.epochs, self.every, self.say = epochs, every, say

    def on_train_begin(self, logs=None):
        self.start, self.first = time.perf_counter(), None

    def on_epoch_end(self, epoch, logs=None):
        if self.first is None:
            self.first = epoch  # after a resume, count from there
        if (epoch + 1) % self.every and epoch + 1 != self.epochs:
            return
        elapsed = time.perf_counter() - self.start
        left = elapsed / (epoch + 1 - self.first) * (self.epochs - epoch - 1)
        self.say(f"   epoch {epoch + 1}/{self.epochs}  loss {logs['loss']:.5f}  "
                 f"elapsed {elapsed / 60:.1f} min  left ~{left / 60:.1f} min", flush=True)


class PretrainingCollapsed(RuntimeError):
    """Pretraining reached a state no further epoch can leave: the autoencoder
    gives the same output for every input.

    A too large step can leave every ReLU of one layer negative on all the
    data; that layer then passes no gradient, and the reconstruction stays
    the mean image. Attributes: ``epoch`` (1-based, when it was seen),
    ``loss`` (that epoch's) and ``data_variance`` (the loss of the mean image).
    """

    def __init__(self, epoch, loss, data_variance):
        self.epoch, self.loss, self.data_variance = int(epoch), float(loss), float(data_variance)
        super().__init__(
            f"Pretraining collapsed at epoch {self.epoch}: the autoencoder gives the same output "
            f"for every input (loss {self.loss:.5f}; the mean image's loss is "
            f"{self.data_variance:.5f}), so no gradient reaches the layers before the dead one "
            "and more epochs cannot help. The tutorial's SGD(learning_rate=1.0, momentum=0.9) "
            "does this on some seeds (Fashion-MNIST seed 1 of the 30-epoch recipe). Pretrain "
            "with another seed (random_state) or a gentler optimizer "
            "(pretrain_optimizer='adam').")


class CollapseCheck(keras.callbacks.Callback):
    """Stop ``fit`` once the autoencoder's outputs on ``probe`` (a few hundred
    samples) have varied by less than ``rtol`` times the probe's own variance
    at the end of ``patience`` epochs in a row; :attr:`collapsed` is then
    :class:`PretrainingCollapsed`, else None. One such epoch is not enough,
    not even the last: healthy runs pass through it (``python -m
    deepcluster_keras run --seed 3`` gives the mean image at epoch 3, loss
    0.0744 against its 0.0733, then 0.047 at epoch 20)."""

    def __init__(self, probe, rtol=1e-6, patience=3, autoencoder=None):
        super().__init__()
        self.probe, self.rtol, self.patience = probe, rtol, patience
        self.autoencoder = autoencoder  # None: the model being fit
        self.data_variance = _spread(probe)

    def on_train_begin(self, logs=None):
        self.in_a_row, self.collapsed = 0, None

    def on_epoch_end(self, epoch, logs=None):
        same = gives_one_output(self.autoencoder or self.model, self.probe, self.rtol)
        self.in_a_row = self.in_a_row + 1 if same else 0
        if self.in_a_row >= self.patience:
            self.collapsed = PretrainingCollapsed(epoch + 1, (logs or {}).get("loss", np.nan),
                                                  self.data_variance)
            self.model.stop_training = True


#: Samples on which :class:`CollapseCheck` looks at the autoencoder's outputs.
COLLAPSE_PROBE_SIZE = 512


def _spread(values):
    """The variance over samples, averaged over features."""
    return float(np.var(values, axis=0).mean())


def collapse_probe(x):
    """At most :data:`COLLAPSE_PROBE_SIZE` samples spread evenly over ``x``."""
    return x[:: max(len(x) // COLLAPSE_PROBE_SIZE, 1)][:COLLAPSE_PROBE_SIZE]


def gives_one_output(autoencoder, probe, rtol=1e-6):
    """Whether ``autoencoder``'s outputs on ``probe`` vary by at most ``rtol``
    times the probe's own variance (per feature, averaged): a collapsed
    autoencoder. False on constant data, where there is nothing to tell apart."""
    data_variance = _spread(probe)
    if data_variance == 0:
        return False
    return _spread(keras.ops.convert_to_numpy(autoencoder(probe, training=False))) <= (
        rtol * data_variance)


def pretrain(
    autoencoder,
    x,
    *,
    optimizer=None,
    loss="mse",
    epochs=300,
    batch_size=256,
    verbose="auto",
    checkpoint_dir=None,
    checkpoint_every=10,
    callbacks=(),
    seed=None,
    augmentation=None,
):
    """Pretrain ``autoencoder`` to reconstruct ``x``, as the tutorial does.

    The batches are taken in a fresh random order every epoch, as Keras 2's
    ``fit(shuffle=True)`` did in the tutorial (Keras 3's TensorFlow ``fit``
    repeats one order in every epoch once a global seed is set). The order
    of epoch ``e`` depends on ``seed`` and ``e`` alone, so a resumed run
    trains on the same batches as an uninterrupted one.

    Parameters
    ----------
    autoencoder : keras.Model
    x : ndarray
    optimizer : keras optimizer, default ``SGD(learning_rate=1.0, momentum=0.9)``
    loss, epochs, batch_size : the tutorial's MSE, 300 and 256 by default.
    verbose : as Keras' ``fit``; "auto" and 1 (a progress bar) write one line
        per epoch when the output is not a terminal.
    checkpoint_dir : str, optional
        Save the model (with its optimizer state) here every
        ``checkpoint_every`` epochs, atomically, and resume from it if a
        checkpoint is already there: an interrupted pretraining loses at most
        ``checkpoint_every`` epochs. The checkpoint is removed once done.
    seed : int, optional
        Seed of the batch orders; default: drawn from NumPy's global
        generator (which ``keras.utils.set_random_seed`` seeds).
    augmentation : keras layer, optional
        Transform each batch with it (e.g. :class:`RandomTransform`) and
        train the autoencoder to reconstruct the transformed batch, as
        DEC-DA (:func:`augmented_model`). None: the clean data, as the
        tutorial.

    Returns
    -------
    dict
        ``{"loss": [...per epoch...], "epochs": int, "seconds": float,
        "samples_per_second": float, "resumed_from_epoch": int}``. After a
        resume, ``loss`` and ``seconds`` include the epochs trained before
        the interruption (up to the checkpoint), ``seconds_this_run`` and
        ``samples_per_second`` only this run's.

    Raises
    ------
    PretrainingCollapsed
        When the outputs have been the same for every input three epochs in
        a row (:class:`CollapseCheck`); training stops there.
    FloatingPointError
        When the loss became NaN or infinite.
    """
    if optimizer is None:
        optimizer = pretrain_optimizer("sgd")
    trained = autoencoder if augmentation is None else augmented_model(
        autoencoder, augmentation, reconstructions=(0,))
    one_call_an_epoch = keras.backend.backend() == "tensorflow"  # see the fit below
    trained.compile(optimizer=optimizer, loss=loss,
                    steps_per_execution=-(-len(x) // batch_size) if one_call_an_epoch else 1)
    if verbose in ("auto", 1) and not sys.stdout.isatty():
        verbose = 2  # a bar redrawn in a log file is a wall of escape sequences
    if seed is None:
        seed = int(np.random.randint(2**31 - 1))
    initial_epoch, earlier = 0, {"loss": [], "seconds": 0.0, "seed": seed}
    collapse = CollapseCheck(collapse_probe(x), autoencoder=autoencoder)
    callbacks = list(callbacks) + [keras.callbacks.TerminateOnNaN(), collapse]
    checkpoint = None
    if checkpoint_dir is not None and epochs > 0:
        checkpoint = PretrainCheckpoint(checkpoint_dir, checkpoint_every, seed)
        initial_epoch, earlier = checkpoint.restore(trained)
        callbacks.append(checkpoint)
    batches = ShuffledBatches(x, batch_size, seed=earlier["seed"],
                              target="input" if augmentation is None else "zeros")
    if one_call_an_epoch:
        # The same batches, the same bits, without Python work per batch: fed
        # by tf.data, and an epoch's steps run in one call of the training
        # function (steps_per_execution). Keras 3's PyDataset adapter and its
        # per-step loop made pretraining 4-10% slower than the tutorial's code
        # on two cores (docs/speed.md); a GPU would wait on them.
        data = dict(x=batches.dataset(initial_epoch, epochs), steps_per_epoch=len(batches))
    else:
        data = dict(x=batches)
        callbacks.append(batches.epoch_callback())
    start = time.perf_counter()
    history = trained.fit(
        **data,
        shuffle=False,  # the order is ShuffledBatches'
        epochs=epochs,
        initial_epoch=initial_epoch,
        verbose=verbose,
        callbacks=callbacks,
    )
    seconds = time.perf_counter() - start
    losses = [float(v) for v in history.history.get("loss", [])]
    if losses and not np.isfinite(losses[-1]):
        raise FloatingPointError(
            f"Pretraining diverged at epoch {initial_epoch + len(losses)} "
            f"(loss={losses[-1]}). Scale the data to [0, 1] or lower the learning rate."
        )
    if collapse.collapsed is not None:
        raise collapse.collapsed
    if checkpoint is not None and len(losses) == epochs - initial_epoch:
        checkpoint.remove()
    trained_epochs = max(epochs - initial_epoch, 0)
    return {
        "loss": earlier["loss"] + losses,
        "epochs": int(epochs),
        "resumed_from_epoch": int(initial_epoch),
        "seconds": earlier["seconds"] + seconds,
        "seconds_this_run": seconds,
        "samples_per_second": trained_epochs * len(x) / seconds if seconds > 0 else None,
        "seed": int(earlier["seed"]),
    }


class ShuffledBatches(keras.utils.PyDataset):
    """Batches of ``(x, x)`` in a fresh random order every epoch.

    What Keras 2's ``fit(x, x, shuffle=True)`` gave the tutorial: before each
    epoch a new permutation of all samples, cut into batches of
    ``batch_size`` (the last one smaller). Epoch ``e``'s permutation is drawn
    from ``(seed, e)`` alone, so it does not depend on earlier epochs having
    run in this process. ``fit`` must be told the epoch: pass it
    :meth:`epoch_callback` (and ``shuffle=False``).

    ``target="zeros"`` gives ``(x, 0)`` instead, for a model whose output is
    its own reconstruction error (:func:`augmented_model`).
    """

    def __init__(self, x, batch_size, *, seed, target="input"):
        super().__init__()
        self.x, self.batch_size, self.seed = x, int(batch_size), int(seed)
        self.target = target
        self.set_epoch(0)

    def set_epoch(self, epoch):
        """Take the order of ``epoch`` from now on."""
        self.epoch = int(epoch)
        self.order = self.permutation(self.epoch)

    def epoch_callback(self):
        """A callback that sets the epoch ``fit`` is about to train."""
        return keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs=None: self.set_epoch(epoch))

    def permutation(self, epoch):
        """The order of the samples in ``epoch``."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        batch = self.x[self.order[index * self.batch_size:(index + 1) * self.batch_size]]
        return batch, batch if self.target == "input" else np.zeros_like(batch)

    def dataset(self, first_epoch, epochs):
        """The batches of epochs ``first_epoch`` to ``epochs - 1``, one epoch
        after the other, as one ``tf.data.Dataset`` (TensorFlow backend):
        the same batches as :meth:`__getitem__` gives epoch by epoch, with no
        Python work per batch (one permutation per epoch). ``fit`` it with
        ``steps_per_epoch=len(self)``, which keeps one iterator across epochs.
        """
        import tensorflow as tf

        with tf.device("/CPU:0"):  # an input pipeline's data stays in host memory
            x = tf.constant(self.x)
        orders = tf.data.Dataset.from_generator(
            lambda: (self.permutation(epoch) for epoch in range(first_epoch, epochs)),
            output_signature=tf.TensorSpec((len(self.x),), tf.int64))
        batches = orders.flat_map(
            lambda order: tf.data.Dataset.from_tensor_slices(order).batch(self.batch_size))
        def pairs(index):
            batch = tf.gather(x, index)
            return batch, batch if self.target == "input" else tf.zeros_like(batch)

        return batches.map(pairs).prefetch(2)


def augmented_model(model, augmentation, *, reconstructions=()):
    """``model`` trained on transformed copies of its inputs (DEC-DA).

    The returned model applies ``augmentation`` (a layer active in training
    only, as :class:`RandomTransform`) to its input, then ``model``, whose
    weights it shares. The outputs at the indices ``reconstructions``
    reconstruct the input (the autoencoder's, IDEC's second): they become
    their error on the *transformed* input, ``reconstruction - transformed``,
    to be trained towards zeros with MSE, which is MSE between the two, so
    that the autoencoder learns to reconstruct the images it was given, as
    DEC-DA's generator gave each transformed batch as its own target. The
    other outputs keep their targets (DEC's P, computed on the clean data).
    Outside training it gives ``model``'s outputs on the clean input, the
    reconstructions' error against it.
    """
    inputs = keras.Input(model.input.shape[1:], name="images")
    transformed = augmentation(inputs)
    outputs = model(transformed)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    for i in reconstructions:
        outputs[i] = keras.layers.Subtract(name=f"reconstruction_error_{i}")(
            [outputs[i], transformed])
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0],
                       name=f"{model.name}_augmented")


@dataclass
class EpochTraining:
    """What an epoch-based training did (:func:`kmeans_friendly.train`,
    :func:`imsat.train`).

    Attributes
    ----------
    history : dict of lists, one entry per stage or epoch (see the training function).
    labels : ndarray of shape (n_samples,), the final cluster of each sample.
    epochs : epochs trained.
    seconds : wall time.
    """

    history: dict = field(default_factory=dict)
    labels: np.ndarray = None
    epochs: int = 0
    seconds: float = 0.0

    def to_dict(self):
        return {"history": self.history, "epochs": self.epochs, "seconds": self.seconds}


def append_epoch(history, entry, y=None, labels=None):
    """Add ``entry`` to ``history`` (a dict of lists), with ACC / NMI / ARI
    of ``labels`` when ``y`` is given; returns ``entry``. The epoch loops'
    (:func:`kmeans_friendly.train`, :func:`imsat.train`, ...) bookkeeping."""
    if y is not None:
        entry.update(metrics.evaluate(y, labels))
    for k in history:
        history[k].append(entry[k])
    return entry


def scores_text(entry):
    """``"  ACC 0.9000  NMI ..."`` for the scores that ``entry`` holds."""
    return "".join(f"  {k.upper()} {entry[k]:.4f}" for k in ("acc", "nmi", "ari") if k in entry)


#: What a diverged epoch loop's error suggests.
DIVERGED_HINT = "Scale the data to [0, 1] or lower the learning rate."


def check_finite(loss, unit, number, hint=DIVERGED_HINT):
    """Raise FloatingPointError when ``loss`` (of ``unit`` ``number``, e.g.
    epoch 3) is None, NaN or infinite: training diverged, and labelling its
    weights (K-means on a NaN embedding, for one) would fail less clearly."""
    if loss is None or not np.isfinite(loss):
        raise FloatingPointError(f"Training diverged in {unit} {number} (loss={loss}). {hint}")


class EpochPart:
    """What :func:`epoch_loop` hands a ``train_epoch`` that checkpoints inside
    its epochs (``part_seconds``; DAC's MNIST-70k epochs take 20-50 minutes
    on two cores): ``resumed``, the ``state`` it saved in this epoch before an
    interruption (else None), :meth:`save` and :meth:`batch_end`."""

    def __init__(self, progress, epoch, history, labels, callbacks, seconds, resumed=None):
        self.progress, self.epoch, self.history, self.labels = progress, epoch, history, labels
        self.callbacks, self.seconds, self.resumed = callbacks, seconds, resumed
        self._saved = time.monotonic()
        self._batch = 0

    def batch_end(self):
        """Tell the callbacks that a batch ended (``on_train_batch_end``)."""
        self.callbacks.on_train_batch_end(self._batch)
        self._batch += 1

    def save(self, step, steps, state):
        """Checkpoint after ``step`` of the epoch's ``steps``, with ``state``
        (JSON: what the epoch needs to go on from there), when ``seconds``
        have passed since the epoch began or was last saved."""
        if time.monotonic() - self._saved >= self.seconds:
            self.progress.save_part(self.epoch, step, steps, state, self.history, self.labels)
            self._saved = time.monotonic()


def epoch_loop(train_epoch, *, model, x, y, epochs, keys, settings, checkpoint_dir=None,
               verbose=0, start=None, describe=None, unit="epoch", callbacks=None,
               part_seconds=None):
    """The loop of the epoch-based methods (DKM, the alternating scheme,
    DESOM, VaDE, RIM, IMSAT, DAC): train, score, report, checkpoint, epoch after
    epoch, and continue after an interruption where it was saved.

    Parameters
    ----------
    train_epoch : callable ``(epoch, labels) -> (entry, labels)``
        Trains epoch ``epoch`` (from 0; a stage for DKM) and returns its
        line of the history (with ``loss``; ``epoch`` or ``stage`` set) and
        the labels after it. It calls :func:`check_finite` on its loss
        before it labels the data; the loop checks the line again.
    model : keras.Model, whose weights and optimizer state are checkpointed.
    x, y : the data (its fingerprint names the checkpoint), the labels or None.
    epochs : how many.
    keys : the history's columns, ``acc``, ``nmi``, ``ari`` added when ``y``
        is given.
    settings : dict, what else names the run in its checkpoint.
    checkpoint_dir : str, optional: save after every epoch, resume from there.
    verbose : 0 silent, 1 a line per epoch.
    start : callable ``() -> (entry, labels)``, optional: the line of the
        start (epoch 0, before any training), recorded once.
    describe : callable ``(entry) -> str``, optional: the progress line's
        middle (the scores are added).
    unit : "epoch" or "stage", as the lines and messages say.
    callbacks : list of keras.callbacks.Callback, optional
        ``on_epoch_end(epoch, entry)`` after each epoch (with its scores),
        ``on_train_begin`` / ``on_train_end``; one that sets
        ``model.stop_training = True`` ends the loop after that epoch.
    part_seconds : float, optional
        Given, ``train_epoch`` is called ``(epoch, labels, part)`` with an
        :class:`EpochPart`: it resumes from ``part.resumed``, checkpoints
        with ``part.save`` (at most every ``part_seconds``) and calls
        ``part.batch_end()`` (the callbacks' ``on_train_batch_end``).

    Returns
    -------
    EpochTraining

    Raises
    ------
    FloatingPointError
        When an epoch's loss is not finite.
    """
    say = print if verbose else (lambda *a, **k: None)
    history = {k: [] for k in tuple(keys) + (() if y is None else ("acc", "nmi", "ari"))}
    progress = EpochCheckpoint(checkpoint_dir, x, settings, model)
    first, history, labels = progress.resume(history, say, unit, epochs)
    if labels is None and start is not None:
        entry, labels = start()
        append_epoch(history, entry, y, labels)
    callbacks = keras.callbacks.CallbackList(list(callbacks or ()), model=model)
    model.stop_training = False
    callbacks.on_train_begin()
    done = first
    for epoch in range(first, epochs):
        if part_seconds is None:
            entry, labels = train_epoch(epoch, labels)
        else:
            resumed = progress.part["state"] if progress.part and epoch == first else None
            part = EpochPart(progress, epoch, history, labels, callbacks, part_seconds, resumed)
            entry, labels = train_epoch(epoch, labels, part)
        check_finite(entry["loss"], unit, epoch + 1)
        append_epoch(history, entry, y, labels)
        say(f"   {unit} {epoch + 1}/{epochs}" + (describe(entry) if describe else "")
            + scores_text(entry), flush=True)
        progress.save(epoch + 1, history, labels)
        done = epoch + 1
        callbacks.on_epoch_end(epoch, dict(entry))
        if model.stop_training:
            break
    callbacks.on_train_end()
    if done == epochs:
        progress.done()
    return EpochTraining(history=history, labels=labels, epochs=done, seconds=progress.seconds())
