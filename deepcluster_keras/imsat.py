"""Clustering by information maximisation: RIM and IMSAT.

A softmax network ``p(y | x)`` is trained, with no autoencoder and no
K-means, to make its clusters informative about the data: maximise the
mutual information ``I(X; Y) = H(Y) - H(Y | X)``, where ``H(Y)`` is the
entropy of the mean prediction over a batch (balanced clusters) and
``H(Y | X)`` the mean entropy of the predictions (confident ones).

- **RIM** (regularised information maximisation; Krause, Perona and Gomes,
  2010): ``-(H(Y) - H(Y | X))`` plus weight decay, nothing else.
- **IMSAT** (information maximisation with self-augmented training; Hu et
  al., 2017): ``lam * (H(Y | X) - mu * H(Y))`` plus the self-augmentation
  term ``KL(p(y | x) || p(y | x + r))``: the network must give an input and
  its perturbation the same prediction. ``r`` is a random direction of
  norm ``eps`` (RPT) or the direction in which the prediction changes most
  (VAT: one power iteration of the gradient of that KL).

:func:`train` runs either, one ``train_on_batch`` per batch: the
perturbations are computed between steps (VAT's with one gradient with
respect to the input, :func:`input_gradient`), so the model itself stays
a plain Keras model with ``keras.ops`` losses; those passes are compiled
by the backend once per training (:class:`_TrainingPasses`).
"""

import keras
import numpy as np
from keras import ops
from sklearn.neighbors import NearestNeighbors

from deepcluster_keras.training import PREDICT_BATCH_SIZE, check_finite, epoch_loop

__all__ = ["mutual_information", "information_loss", "build_softmax_model", "vat_epsilon",
           "training_pass", "rpt_perturbation", "vat_perturbation", "train"]

_EPS = 1e-8


def _entropy(p, axis=-1):
    return -ops.sum(p * ops.log(p + _EPS), axis=axis)


def mutual_information(p, mu=1.0):
    """``mu * H(mean_i p_i) - mean_i H(p_i)`` for a batch of predictions
    ``p`` of shape (batch, n_clusters) (natural logarithms)."""
    return mu * _entropy(ops.mean(p, axis=0)) - ops.mean(_entropy(p))


@keras.saving.register_keras_serializable(package="deepcluster_keras")
class InformationLoss(keras.losses.Loss):
    """``-weight * mutual_information(p, mu)`` of the batch (``y_true`` unused)."""

    def __init__(self, mu=1.0, weight=1.0, name="information", **kwargs):
        super().__init__(name=name, **kwargs)
        self.mu, self.weight = float(mu), float(weight)

    def call(self, y_true, y_pred):
        # One value for the whole batch, given to every sample: the mean is that value.
        value = -self.weight * mutual_information(y_pred, self.mu)
        return ops.ones_like(y_pred[:, 0]) * value

    def get_config(self):
        return {**super().get_config(), "mu": self.mu, "weight": self.weight}


def information_loss(mu=1.0, weight=1.0):
    """The loss of the softmax output: ``-weight * (mu * H(Y) - H(Y | X))``."""
    return InformationLoss(mu=mu, weight=weight)


#: The IMSAT authors' initial weights: Chainer's ``wscale`` of the hidden
#: layers and of the output layer, kernels normal with variance ``wscale / fan_in``.
IMSAT_KERNEL_SCALES = (0.1, 1e-4)


def _kernel_initializer(scale, default, seed):
    if scale is None:
        return default(seed)
    return keras.initializers.VarianceScaling(scale, mode="fan_in",
                                              distribution="untruncated_normal", seed=seed)


def build_softmax_model(n_features, n_clusters, hidden=(1200, 1200), *, batch_norm=True,
                        batch_norm_epsilon=1e-3, weight_decay=0.0, perturbed_input=False,
                        kernel_scales=None, seed=None):
    """An MLP ``n_features -> hidden... -> n_clusters`` ending in a softmax.

    IMSAT's: hidden (1200, 1200), ReLU and batch normalisation (with
    ``batch_norm_epsilon``: Keras' 1e-3 or Chainer's 2e-5). RIM's: the
    same with ``weight_decay`` (``hidden=()``: linear). With ``perturbed_input``
    the model takes ``[x, x + r]`` and outputs ``[p(y | x), p(y | x + r)]``
    through the same layers (for the self-augmentation loss).
    ``kernel_scales``: ``(hidden, output)`` variances times the fan-in of
    the kernels' normal initial values (:data:`IMSAT_KERNEL_SCALES`, where
    the output starts close to uniform); None: He normal and Glorot uniform.
    """
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    hidden_scale, output_scale = kernel_scales if kernel_scales is not None else (None, None)
    layers = []
    for i, units in enumerate(hidden):
        layers.append(keras.layers.Dense(units, kernel_regularizer=regularizer,
                                         kernel_initializer=_kernel_initializer(
                                             hidden_scale, keras.initializers.HeNormal,
                                             None if seed is None else seed + i),
                                         name=f"hidden_{i}"))
        if batch_norm:
            # momentum 0.9: Chainer's default, which the IMSAT authors used
            layers.append(keras.layers.BatchNormalization(momentum=0.9, epsilon=batch_norm_epsilon,
                                                          name=f"batch_norm_{i}"))
        layers.append(keras.layers.ReLU(name=f"relu_{i}"))
    layers.append(keras.layers.Dense(n_clusters, activation="softmax", name="clusters",
                                     kernel_regularizer=regularizer,
                                     kernel_initializer=_kernel_initializer(
                                         output_scale, keras.initializers.GlorotUniform,
                                         None if seed is None else seed + len(hidden))))
    net = keras.Sequential([keras.Input((n_features,)), *layers], name="softmax_net")
    if not perturbed_input:
        return net
    x, x_perturbed = keras.Input((n_features,), name="x"), keras.Input((n_features,), name="x_perturbed")
    return keras.Model([x, x_perturbed], [net(x), net(x_perturbed)], name="imsat")


def vat_epsilon(x, n_neighbors=10, scale=0.25):
    """Per-sample perturbation size: ``scale`` times the distance to the
    ``n_neighbors``-th nearest neighbour (the IMSAT authors' choice)."""
    x = x.reshape(len(x), -1)
    distances, _ = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(x).kneighbors(x)
    return (scale * distances[:, -1]).astype("float32")


def _unit(d):
    d = d.reshape(len(d), -1)
    return d / (np.linalg.norm(d, axis=1, keepdims=True) + _EPS)


def rpt_perturbation(x, eps, rng):
    """A random direction per sample, of norm ``eps`` (RPT)."""
    return (_unit(rng.normal(size=x.shape)) * eps[:, None]).reshape(x.shape).astype("float32")


def input_gradient(function):
    """The gradient in ``r`` of the scalar ``function(r, *args)``, as a function
    of ``(r, *args)`` compiled by the backend (:func:`_compiled`)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def gradient(r, *args):
            with tf.GradientTape() as tape:
                tape.watch(r)
                value = function(r, *args)
            return tape.gradient(value, r)

        return _compiled(gradient)
    if backend == "jax":
        import jax

        return _compiled(jax.grad(function))
    if backend == "torch":
        import torch

        def gradient(r, *args):
            r = torch.as_tensor(r).requires_grad_(True)
            return torch.autograd.grad(function(r, *args), r)[0]

        return gradient
    raise NotImplementedError(f"VAT needs input gradients, not written for backend {backend!r}")


def _compiled(function):
    """``function`` compiled by the backend the first time it runs (a
    TensorFlow graph, a JAX jit); PyTorch runs it eagerly."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function)
    if backend == "jax":
        import jax

        return jax.jit(function)
    return function


def _values(net):
    return ([v.value for v in net.trainable_variables],
            [v.value for v in net.non_trainable_variables])


class _TrainingPasses:
    """``net``'s training-mode passes that self-augmented training takes
    between its steps, each compiled once (:func:`training_pass`,
    :func:`vat_perturbation`): run eagerly, they took about as long as the
    compiled training step itself."""

    def __init__(self, net):
        self.net = net
        self._forward = _compiled(self._call)
        self._gradient = input_gradient(self._divergence)

    def _call(self, trainable, non_trainable, x):
        return self.net.stateless_call(trainable, non_trainable, x, training=True)

    def _divergence(self, r, trainable, non_trainable, x, p):
        q = self._call(trainable, non_trainable, x + r)[0]
        return ops.sum(p * (ops.log(p + _EPS) - ops.log(q + _EPS)))

    def forward(self, x):
        return self._forward(*_values(self.net), ops.convert_to_tensor(x))

    def divergence_gradient(self, x, p, r):
        """The gradient in ``r`` of ``KL(p || p(y | x + r))``, as a NumPy array."""
        args = (ops.convert_to_tensor(r), *_values(self.net), ops.convert_to_tensor(x),
                ops.convert_to_tensor(p))
        return ops.convert_to_numpy(self._gradient(*args))


def training_pass(net, x, passes=None):
    """``net(x)`` in training mode, leaving ``net`` as it was.

    Batch normalisation normalises with the batch's own statistics, as in a
    training step, but its moving statistics are not updated (the IMSAT
    authors' ``update_batch_stats=False``). Returns the output and the
    non-trainable variables' values after one training-mode update by ``x``
    (what a training step on ``x`` alone would leave in them). ``passes``:
    ``net``'s compiled passes, kept by a caller that makes many.
    """
    return (passes or _TrainingPasses(net)).forward(x)


def vat_perturbation(net, x, p, eps, rng, xi=5.0, passes=None):
    """VAT's adversarial direction, one power iteration, of norm ``eps``.

    ``d`` random; ``g`` the gradient in ``d`` of ``KL(p || p(x + xi * d))``
    at ``xi * unit(d)``; the perturbation is ``eps * unit(g)``. The network
    runs as in training, with the perturbed batch's statistics and without
    updating its moving statistics (:func:`training_pass`), as the IMSAT
    authors' code; ``p`` should be :func:`training_pass`'s output for ``x``.
    ``passes`` as in :func:`training_pass`.
    """
    d = (xi * _unit(rng.normal(size=x.shape))).reshape(x.shape).astype("float32")
    gradient = (passes or _TrainingPasses(net)).divergence_gradient(x, p, d).reshape(len(d), -1)
    # Where the prediction is flat (a saturated softmax) the gradient is 0: keep d's direction.
    flat = np.linalg.norm(gradient, axis=1) == 0
    gradient[flat] = d.reshape(len(d), -1)[flat]
    return (_unit(gradient) * eps[:, None]).reshape(x.shape).astype("float32")


def _batches(rng, n_samples, batch_size, batches):
    """The indices of each step's batch in one epoch (see :func:`train`)."""
    if batches == "epoch":
        order = rng.permutation(n_samples)
        return [order[begin:begin + batch_size] for begin in range(0, n_samples, batch_size)]
    if batches == "random":
        return [rng.permutation(n_samples)[:batch_size]
                for _ in range(max(1, n_samples // batch_size))]
    raise ValueError(f'batches should be "epoch" or "random", got {batches!r}.')


def train(model, x, y=None, *, epochs=50, batch_size=250, augmentation=None, eps=None, xi=5.0,
          batches="epoch", seed=0, verbose=1, checkpoint_dir=None, callbacks=None):
    """Train a compiled :func:`build_softmax_model` model, a batch at a time.

    ``augmentation``: None (RIM: ``model`` has one input), ``"rpt"`` or
    ``"vat"`` (IMSAT: ``model`` takes ``[x, x + r]`` and was compiled with
    the information loss on its first output and ``"kld"`` on its second).
    ``eps``: per-sample perturbation norms (:func:`vat_epsilon`). ``batches``:
    ``"epoch"``, the batches of a fresh permutation every epoch (each sample
    once an epoch), or ``"random"``, ``len(x) // batch_size`` steps each on
    a fresh random batch (the IMSAT authors' ``get``: a sample may come twice
    in an epoch or not at all); both drawn from ``(seed, epoch)``. With
    ``checkpoint_dir`` the model, its optimizer and the history are saved
    after every epoch, and a call with the same settings continues there.
    ``callbacks``: Keras callbacks told of each epoch's end
    (:func:`~deepcluster_keras.training.epoch_loop`).

    Returns an :class:`~deepcluster_keras.training.EpochTraining` whose ``history``
    has per epoch: ``epoch``, ``loss``, ``mutual_information`` over all the
    data, ``delta_label`` (labels changed since the epoch before) and
    ``acc``, ``nmi``, ``ari`` when labels were given.
    """
    net = model if augmentation is None else model.get_layer("softmax_net")
    n_clusters = net.output_shape[-1]
    passes = None if augmentation is None else _TrainingPasses(net)

    def train_epoch(epoch, labels):
        rng = np.random.default_rng([seed, epoch])
        losses = []
        for index in _batches(rng, len(x), batch_size, batches):
            batch = x[index]
            if augmentation is None:
                loss = model.train_on_batch(batch, np.zeros((len(batch), n_clusters), "float32"))
            else:
                # The target: the prediction as the training step makes it now.
                p, statistics = training_pass(net, batch, passes)
                p = ops.convert_to_numpy(p)
                if augmentation == "vat":
                    r = vat_perturbation(net, batch, p, eps[index], rng, xi=xi, passes=passes)
                else:
                    r = rpt_perturbation(batch, eps[index], rng)
                loss = model.train_on_batch([batch, batch + r], [np.zeros_like(p), p])
                # The step also updated the moving statistics with x + r: keep x's update alone.
                for variable, value in zip(net.non_trainable_variables, statistics):
                    variable.assign(value)
            losses.append(float(np.ravel(loss)[0]))
        loss = float(np.mean(losses))
        check_finite(loss, "epoch", epoch + 1)
        p_all = net.predict(x, batch_size=PREDICT_BATCH_SIZE, verbose=0)
        previous, labels = labels, p_all.argmax(1)
        return {"epoch": epoch + 1, "loss": loss,
                "mutual_information": float(ops.convert_to_numpy(mutual_information(p_all))),
                "delta_label": 1.0 if previous is None else float(np.mean(labels != previous))
                }, labels

    result = epoch_loop(
        train_epoch, model=model, x=x, y=y, epochs=epochs,
        keys=("epoch", "loss", "mutual_information", "delta_label"),
        settings={"epochs": int(epochs), "batch_size": int(batch_size),
                  "augmentation": augmentation, "xi": float(xi), "batches": batches,
                  "seed": int(seed)},
        checkpoint_dir=checkpoint_dir, verbose=verbose, callbacks=callbacks,
        describe=lambda e: f"  loss {e['loss']:.4f}  I(X;Y) {e['mutual_information']:.4f}")
    result.labels = net.predict(x, batch_size=PREDICT_BATCH_SIZE, verbose=0).argmax(1)
    return result
