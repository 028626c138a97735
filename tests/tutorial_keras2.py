"""The DEC tutorial's model and training code, in the Keras 2 API (``tf_keras``).

The reference that ``test_keras2_equivalence.py`` compares the port with step
for step, and that ``benchmarks/speed.py`` times the port against. Written
again from the tutorial (Keras 2, ``keras.engine.topology.Layer``), with
only the imports changed to ``tf_keras``.
"""

import numpy as np
import tf_keras

from deepcluster_keras import target_distribution


def tutorial_autoencoder(dims, act="relu", init="glorot_uniform"):
    n_stacks = len(dims) - 1
    x = tf_keras.layers.Input(shape=(dims[0],), name="input")
    h = x
    for i in range(n_stacks - 1):
        h = tf_keras.layers.Dense(dims[i + 1], activation=act, kernel_initializer=init,
                                  name="encoder_%d" % i)(h)
    h = tf_keras.layers.Dense(dims[-1], kernel_initializer=init,
                              name="encoder_%d" % (n_stacks - 1))(h)
    encoded = h
    for i in range(n_stacks - 1, 0, -1):
        h = tf_keras.layers.Dense(dims[i], activation=act, kernel_initializer=init,
                                  name="decoder_%d" % i)(h)
    h = tf_keras.layers.Dense(dims[0], kernel_initializer=init, name="decoder_0")(h)
    return tf_keras.models.Model(inputs=x, outputs=h), tf_keras.models.Model(inputs=x, outputs=encoded)


class TutorialClusteringLayer(tf_keras.layers.Layer):
    """The tutorial's Keras 2 ClusteringLayer (Student's t soft assignment)."""

    def __init__(self, n_clusters, weights=None, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.n_clusters, self.alpha, self.initial_weights = n_clusters, alpha, weights

    def build(self, input_shape):
        self.clusters = self.add_weight(shape=(self.n_clusters, int(input_shape[1])),
                                        initializer="glorot_uniform", name="clusters")
        if self.initial_weights is not None:
            self.set_weights(self.initial_weights)
        self.built = True

    def call(self, inputs):
        k = tf_keras.backend
        q = 1.0 / (1.0 + (k.sum(k.square(k.expand_dims(inputs, axis=1) - self.clusters), axis=2)
                          / self.alpha))
        q **= (self.alpha + 1.0) / 2.0
        return k.transpose(k.transpose(q) / k.sum(q, axis=1))


def tutorial_self_training(model, x, maxiter, update_interval, batch_size, joint=False):
    """The tutorial's loop: refresh P every update_interval batches, batches in order."""
    q_model = tf_keras.models.Model(model.input, model.outputs[0]) if joint else model
    losses, index, index_array = [], 0, np.arange(x.shape[0])
    for ite in range(maxiter):
        if ite % update_interval == 0:
            p = target_distribution(q_model.predict(x, verbose=0))
        idx = index_array[index * batch_size: min((index + 1) * batch_size, x.shape[0])]
        target = [p[idx], x[idx]] if joint else p[idx]
        loss = model.train_on_batch(x=x[idx], y=target)
        losses.append(float(np.ravel(loss)[0]))
        index = index + 1 if (index + 1) * batch_size <= x.shape[0] else 0
    return losses
