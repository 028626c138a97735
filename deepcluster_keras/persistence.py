"""Persistence in one place: atomic writes, results as JSON, fingerprints,
and the checkpoints that let pretraining, self-training and an estimator's
``fit`` resume where they stopped.

- :func:`atomic_save`, :func:`atomic_write_json`: a reader never sees a
  partial file, an interrupted save leaves the previous one.
- :func:`save_autoencoder_weights`: pretrained weights, marked with the
  output activation they were trained for.
- :class:`PretrainCheckpoint`: model and optimizer every few epochs.
- :class:`SelfTrainingCheckpoint`: model, optimizer and the loop's state at
  a target update; :class:`EpochCheckpoint` the same after each epoch of
  the other methods' loops, with their clock.
- :class:`FitProgress`: an estimator's ``checkpoint_dir``: a stamp naming the
  fit, the pretrained weights and the self-training checkpoint.
"""

import hashlib
import json
import os
import time
import zipfile

import h5py
import keras
import numpy as np

from deepcluster_keras.autoencoders import (OUTPUT_ATTRIBUTE, load_autoencoder_weights,
                                            output_activation)
from deepcluster_keras.layers import ClusteringLayer
from deepcluster_keras.validation import check_writable_dir

#: The pretrained autoencoder's weights, in an output or checkpoint folder.
AE_WEIGHTS_FILE = "ae_weights.weights.h5"


def atomic_write_json(path, data):
    """Write ``data`` as JSON so that a reader never sees a partial file."""
    text = json.dumps(_finite(data), indent=2, default=_to_json, allow_nan=False)
    atomic_write_text(path, text + "\n")


def atomic_write_text(path, text):
    """Write ``text`` so that a reader never sees a partial file."""
    atomic_save(path, lambda tmp: _write_text(tmp, text))


def atomic_save(path, save):
    """Call ``save(tmp)``, then move ``tmp`` onto ``path`` in one step.

    An interrupted save leaves the old ``path`` intact. ``tmp`` sits in the
    same folder and keeps the file name's ending, which Keras checks
    (``.keras``, ``.weights.h5``) and NumPy relies on (``.npz``).
    """
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, "tmp_" + name)
    save(tmp)
    os.replace(tmp, path)


def save_autoencoder_weights(model, path):
    """Write ``model``'s weights to ``path`` (``.weights.h5``) in one step,
    marked with the output activation they were trained for, which
    :func:`~deepcluster_keras.autoencoders.load_autoencoder_weights` checks."""

    def save(tmp):
        model.save_weights(tmp)
        with h5py.File(tmp, "a") as f:
            f.attrs[OUTPUT_ATTRIBUTE] = output_activation(model)

    atomic_save(os.fspath(path), save)
    return path


def _write_text(path, text):
    with open(path, "w") as f:
        f.write(text)


def load_keras_model(path, compile=True):
    """``keras.saving.load_model(path)``, with errors that name the file.

    Keras reports a damaged ``.keras`` file (one cut short by a full disk or
    an interrupted copy) as "File not found"; this says what is wrong.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file at {path!r}.")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is damaged: a .keras file is a zip archive and this one is incomplete "
            "or not one. Save the model again (or delete the file to start afresh).")
    try:
        return keras.saving.load_model(path, compile=compile)
    except Exception as error:
        raise ValueError(
            f"{path} cannot be loaded ({type(error).__name__}: {str(error)[:200]}): it is "
            "damaged or was saved from another model. Save it again.") from error


def read_json(path):
    """The JSON in ``path``, or None when there is no such file."""
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def data_fingerprint(x):
    """A short digest of an array, so a checkpoint is not resumed on other data."""
    data = np.ascontiguousarray(x)
    digest = hashlib.sha256(str((data.shape, data.dtype.str)).encode())
    digest.update(data.tobytes())
    return digest.hexdigest()[:16]


def _finite(value):
    """``value`` with NaN and infinities as None: strict JSON has no NaN."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return None
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    return value


def _to_json(value):
    if isinstance(value, np.generic):
        return value.item()
    return str(value)  # arrays never get here: _finite made them lists


def restore_training_state(model, path):
    """Set ``model``'s weights and its optimizer's state to those saved in ``path``."""
    saved = load_keras_model(path)
    model.set_weights(saved.get_weights())
    model.optimizer.build(model.trainable_variables)
    for variable, value in zip(model.optimizer.variables, saved.optimizer.variables):
        variable.assign(value)


class PretrainCheckpoint(keras.callbacks.Callback):
    """Saves model + optimizer state every few epochs, atomically, with the
    losses and training seconds so far (so a resumed run reports them all)."""

    def __init__(self, directory, every, seed):
        super().__init__()
        self.directory = os.fspath(directory)
        self.every = max(int(every), 1)
        self.model_path = os.path.join(self.directory, "pretrain_checkpoint.keras")
        self.state_path = os.path.join(self.directory, "pretrain_checkpoint.json")
        self.earlier = {"loss": [], "seconds": 0.0, "seed": int(seed)}

    def restore(self, autoencoder):
        """Load the checkpoint if there is one; returns (epoch, earlier losses and seconds)."""
        if not (os.path.isfile(self.model_path) and os.path.isfile(self.state_path)):
            return 0, self.earlier
        with open(self.state_path) as f:
            state = json.load(f)
        epoch = int(state["epoch"])
        if "seed" not in state:
            raise ValueError(
                f"The pretraining checkpoint in {self.directory} was written by an older "
                "version, which did not record the seed of the batch orders, so it cannot be "
                f"continued as it began. Delete {self.state_path} to pretrain afresh.")
        self.earlier = {"loss": list(state["loss"]), "seconds": float(state["seconds"]),
                        "seed": int(state["seed"])}
        restore_training_state(autoencoder, self.model_path)
        print(f"Resuming pretraining from the checkpoint at epoch {epoch}.")
        return epoch, self.earlier

    def on_train_begin(self, logs=None):
        self.start, self.losses = time.perf_counter(), list(self.earlier["loss"])

    def on_epoch_end(self, epoch, logs=None):
        self.losses.append(float((logs or {}).get("loss", float("nan"))))
        if (epoch + 1) % self.every:
            return
        os.makedirs(self.directory, exist_ok=True)
        atomic_save(self.model_path, self.model.save)
        seconds = self.earlier["seconds"] + time.perf_counter() - self.start
        atomic_write_json(self.state_path, {"epoch": epoch + 1, "loss": self.losses,
                                            "seconds": seconds, "seed": self.earlier["seed"]})

    def remove(self):
        for path in (self.model_path, self.state_path):
            if os.path.exists(path):
                os.remove(path)


def weights_fingerprint(model):
    """A digest of the weights self-training starts from, the centres left out.

    They are the pretrained autoencoder's, loaded bit for bit; the centres
    come from K-means, which another machine need not repeat to the last bit.
    """
    weights = [np.ravel(w.numpy()) for layer in model.layers
               if not isinstance(layer, ClusteringLayer) for w in layer.weights]
    return data_fingerprint(np.concatenate(weights) if weights else np.zeros(0))


class SelfTrainingCheckpoint:
    """Self-training's state at a target update: the model with its optimizer
    state, the labels of the last update and the loop's counters.

    The model and the labels go to files named by the iteration; the JSON
    that names them is written last and atomically, so a run stopped while
    saving still finds the previous complete checkpoint.
    """

    STATE_FILE = "self_training_checkpoint.json"

    def __init__(self, directory, settings):
        self.directory = os.fspath(directory)
        self.settings = settings
        self.state_path = os.path.join(self.directory, self.STATE_FILE)

    def _read(self):
        return read_json(self.state_path)

    def restore(self, model):
        state = self._read()
        if state is None:
            return None
        if state["settings"] != self.settings:
            changed = sorted(k for k in self.settings
                             if state["settings"].get(k) != self.settings[k])
            raise ValueError(
                f"The self-training checkpoint in {self.directory} was made with other "
                f"data, model or settings ({', '.join(changed)} differ). Pass the same ones to "
                "resume it, or delete that folder to start afresh."
            )
        restore_training_state(model, os.path.join(self.directory, state["model"]))
        with np.load(os.path.join(self.directory, state["labels"])) as arrays:
            state["y_pred_last"] = arrays["y_pred_last"] if arrays["known"] else None
        return state

    def save(self, model, state, y_pred_last, suffix=""):
        """Keep ``model``, ``state`` (JSON) and the labels; ``suffix`` tells
        apart the files of two saves at the same iteration (inside an epoch)."""
        os.makedirs(self.directory, exist_ok=True)
        previous = self._read()
        stem = os.path.join(self.directory, f"self_training_{state['iteration']}{suffix}")
        atomic_save(stem + ".keras", model.save)
        labels = np.zeros(0, int) if y_pred_last is None else y_pred_last
        atomic_save(stem + ".npz", lambda tmp: np.savez(
            tmp, known=y_pred_last is not None, y_pred_last=labels))
        names = {"model": os.path.basename(stem) + ".keras", "labels": os.path.basename(stem) + ".npz"}
        atomic_write_json(self.state_path, {**state, **names, "settings": self.settings})
        if previous is not None:
            self._remove_files(previous, keep=names.values())

    def _remove_files(self, state, keep=()):
        for name in (state["model"], state["labels"]):
            path = os.path.join(self.directory, name)
            if name not in keep and os.path.exists(path):
                os.remove(path)

    def remove(self):
        state = self._read()
        if state is None:
            return
        self._remove_files(state)
        os.remove(self.state_path)
        if not os.listdir(self.directory):
            os.rmdir(self.directory)


class EpochCheckpoint:
    """A training loop's progress, saved after every epoch (or stage) into
    ``directory`` (a :class:`SelfTrainingCheckpoint`), and its clock.

    ``settings`` name the run with the data's fingerprint added, so that a
    checkpoint of other data or settings is refused. With ``directory``
    None nothing is saved and the clock still runs. Use::

        progress = EpochCheckpoint(directory, x, settings, model)
        first, history, labels = progress.resume(history, say, "epoch", epochs)
        for epoch in range(first, epochs):
            ...  # a long epoch may progress.save_part(epoch, ...) as it goes
            progress.save(epoch + 1, history, labels)
        progress.done()  # then progress.seconds(): the training's time, resumptions included

    After ``resume``, ``part`` is what :meth:`save_part` kept inside the
    epoch ``first`` (``{"step", "steps", "state"}``), else None.
    """

    def __init__(self, directory, x, settings, model):
        self.model = model
        self.checkpoint = None if directory is None else SelfTrainingCheckpoint(
            directory, {"data": data_fingerprint(x), **settings})
        self._start = time.perf_counter()
        self.part = None

    def resume(self, history, say, unit, total):
        """``(first, history, labels)``: where the loop starts, the saved ones
        when a checkpoint is there (the model and its optimizer restored),
        else ``0``, the ``history`` given and no labels; the clock counts on
        from the saved time."""
        first, seconds, labels = 0, 0.0, None
        if self.checkpoint is not None:
            self.model.optimizer.build(self.model.trainable_variables)
            state = self.checkpoint.restore(self.model)
            if state is not None:
                first, history, seconds, labels = (state["iteration"], state["history"],
                                                   state["seconds"], state["y_pred_last"])
                self.part = state.get("part")
                say(f"Resuming from the checkpoint after {unit} {first} of {total}"
                    + ("." if self.part is None else f" and {self.part['step']} of the "
                       f"{self.part['steps']} steps of {unit} {first + 1}."))
        self._start = time.perf_counter() - seconds
        return first, history, labels

    def seconds(self):
        return time.perf_counter() - self._start

    def save(self, done, history, labels):
        """Keep the state after ``done`` epochs (or stages)."""
        if self.checkpoint is not None:
            self.checkpoint.save(self.model, {"iteration": done, "history": history,
                                              "seconds": self.seconds()}, labels)

    def save_part(self, epoch, step, steps, state, history, labels):
        """Keep the state inside epoch ``epoch`` (from 0) after ``step`` of its
        ``steps``: the model, ``state`` (JSON: what the epoch needs to go on),
        and the ``history`` and ``labels`` of the epochs before it."""
        if self.checkpoint is not None:
            self.checkpoint.save(self.model, {
                "iteration": epoch, "history": history, "seconds": self.seconds(),
                "part": {"step": int(step), "steps": int(steps), "state": state}},
                labels, suffix=f"_part_{int(step)}")

    def done(self):
        """The loop finished: its checkpoint is no longer needed."""
        if self.checkpoint is not None:
            self.checkpoint.remove()


def saved_progress(directory):
    """Whether ``directory`` holds a checkpoint a fit can continue from: any
    file but :class:`FitProgress`'s stamp, which alone keeps nothing."""
    for _, _, files in os.walk(directory):
        if any(name != FitProgress.STAMP for name in files):
            return True
    return False


def _fit_params(estimator):
    """The parameters that name a fit: all but ``verbose`` and ``checkpoint_dir``."""
    return {k: v for k, v in estimator.get_params().items()
            if k not in ("verbose", "checkpoint_dir")}


def _as_read_back(value):
    """``value`` as it reads back from JSON, to compare with a saved one."""
    return json.loads(json.dumps(value, default=str))


class FitProgress:
    """What ``fit`` keeps in ``checkpoint_dir``: a stamp naming the fit (its
    parameters and data), the pretraining checkpoints, then the pretrained
    weights, and the self-training checkpoint; for a fit of several
    restarts, the finished ones' records and the best one's model."""

    STAMP = "fit.json"

    def __init__(self, estimator, X):
        self.directory = check_writable_dir(estimator.checkpoint_dir, name="checkpoint_dir")
        self.stamp_path = os.path.join(self.directory, self.STAMP)
        self.weights = os.path.join(self.directory, AE_WEIGHTS_FILE)
        self.self_training = os.path.join(self.directory, "self_training")
        self.best_model = os.path.join(self.directory, "best_restart.keras")
        stamp = _as_read_back({"class": type(estimator).__name__, "params": _fit_params(estimator),
                               "data": data_fingerprint(X)})
        self.state = self._read() or {}
        if self.state and not saved_progress(self.directory):
            # A fit that stopped before saving anything (bad data, a diverged
            # start): its stamp alone keeps no progress, so it does not bind.
            self.state = {}
        if self.state:
            # A parameter of the same class added since the stamp was written
            # counts at its default, the value that reproduces the fit it names.
            saved = self.state.get("params") or {}
            if self.state.get("class") == stamp["class"]:
                defaults = _as_read_back(_fit_params(type(estimator)()))
                self.state["params"] = {**{k: defaults[k] for k in stamp["params"]
                                           if k not in saved}, **saved}
            changed = sorted(k for k in stamp if self.state.get(k) != stamp[k])
            if changed:
                raise ValueError(
                    f"checkpoint_dir={self.directory!r} holds the progress of another fit "
                    f"({', '.join(changed)} differ). Call fit with the same data and "
                    "parameters to continue it, or use another folder (or empty this one)."
                )
        else:
            self.state = stamp
            atomic_write_json(self.stamp_path, stamp)

    def _read(self):
        return read_json(self.stamp_path)

    def pretrained(self):
        return "pretrain" in self.state and os.path.isfile(self.weights)

    def load_pretrained(self, ae):
        load_autoencoder_weights(ae, self.weights)
        return {**self.state["pretrain"], "loaded_from": self.weights}

    def save_pretrained(self, ae, info):
        save_autoencoder_weights(ae, self.weights)
        self.state["pretrain"] = info
        atomic_write_json(self.stamp_path, self.state)

    def restarts(self):
        """The records of the restarts that finished (:meth:`save_restart`)."""
        return self.state.get("restarts", [])

    def save_restart(self, record, best_model=None):
        """Record a finished restart, and ``best_model`` when it is the best so far."""
        if best_model is not None:
            atomic_save(self.best_model, best_model.save)
        self.state["restarts"] = self.restarts() + [record]
        atomic_write_json(self.stamp_path, self.state)

    def load_best_model(self):
        return load_keras_model(self.best_model, compile=False)

    def remove(self):
        for path in (self.weights, self.best_model, self.stamp_path):
            if os.path.exists(path):
                os.remove(path)
        if not os.listdir(self.directory):
            os.rmdir(self.directory)
