"""`RandomTransform`: DEC-DA's image augmentation as a Keras layer.

DEC-DA (Guo, Zhu, Liu and Yin, ACML 2018) trains on randomly shifted and
rotated copies of the images, drawn by Keras 2's
``ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.1,
rotation_range=10)``, one NumPy image at a time. This layer draws the same
transforms inside the training step, for a whole batch at once: one affine
map per image, bilinear, the border pixels extended ("nearest"), as the
generator's ``apply_affine_transform`` (tests/test_augmentation.py compares
the two on the same angles and shifts).
"""

import math

import keras
from keras import ops

__all__ = ["RandomTransform", "transform_parameters"]


@keras.saving.register_keras_serializable(package="deepcluster_keras")
class RandomTransform(keras.layers.Layer):
    """Random shifts and rotations of images, in training only.

    For each image: an angle uniform in ``[-rotation_range, rotation_range]``
    degrees, a shift uniform in ``[-height_shift_range, height_shift_range]``
    times the height (rows) and one in ``[-width_shift_range,
    width_shift_range]`` times the width (columns); the image is rotated
    about its centre after the shift, as ``ImageDataGenerator`` composes
    them. Outside training (``predict``) the images pass unchanged.

    Flat rows (the dense autoencoder's input) are transformed as the images
    of ``image_shape`` they are, and given back flat, as DEC-DA's
    ``random_transform`` reshaped them.

    The random state is a weight of the layer (``get_weights``, saved with
    the model), so that training resumed from a checkpoint draws the
    transforms the uninterrupted run would have drawn.

    Parameters
    ----------
    image_shape : tuple (height, width[, channels]) or None
        The images' shape when the inputs are flat rows; None when the
        inputs are images already.
    rotation_range : float, default=10
        Largest angle, in degrees.
    width_shift_range, height_shift_range : float, default=0.1
        Largest shift, as a fraction of the width / height.
    seed : int or None
        Seed of the draws; None draws one from Keras' global seed
        (``keras.utils.set_random_seed``).
    """

    def __init__(self, image_shape=None, rotation_range=10.0, width_shift_range=0.1,
                 height_shift_range=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = None if image_shape is None else tuple(int(d) for d in image_shape)
        if self.image_shape is not None and len(self.image_shape) == 2:
            self.image_shape += (1,)
        self.rotation_range = float(rotation_range)
        self.width_shift_range = float(width_shift_range)
        self.height_shift_range = float(height_shift_range)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # A weight, so that get_weights / set_weights and saving carry it.
        self._track_variable(self.seed_generator.state)

    def call(self, inputs, training=False):
        if not training:
            return inputs
        images = inputs if self.image_shape is None else ops.reshape(
            inputs, (-1,) + self.image_shape)
        n = ops.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        draw = lambda limit: keras.random.uniform(  # noqa: E731
            (n,), -limit, limit, seed=self.seed_generator)
        # The generator's draws, in its order and with its names.
        theta = draw(self.rotation_range) * (math.pi / 180)
        tx = draw(self.height_shift_range) * height
        ty = draw(self.width_shift_range) * width
        transform = transform_parameters(theta, tx, ty, height, width)
        out = ops.image.affine_transform(images, transform, interpolation="bilinear",
                                         fill_mode="nearest", data_format="channels_last")
        return out if self.image_shape is None else ops.reshape(out, ops.shape(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape,
                "rotation_range": self.rotation_range,
                "width_shift_range": self.width_shift_range,
                "height_shift_range": self.height_shift_range, "seed": self.seed}


def transform_parameters(theta, tx, ty, height, width):
    """The rows of ``ops.image.affine_transform``'s ``transform`` (shape
    (n, 8)) that give ``apply_affine_transform(image, theta, tx, ty)`` of
    Keras 2's image preprocessing (``theta`` here in radians): the image
    shifted by ``ty`` rows and ``tx`` columns, then rotated by ``-theta``
    about its centre.

    That is what its matrix ``rotation(theta) @ shift(tx, ty)``, written for
    (x, y) and applied to (row, column) through the swap ``P M P``, does:
    ``tx``, drawn from ``height_shift_range``, moves the columns, and the
    rotation turns the other way. On square images with equal ranges, as
    DEC-DA's, the distribution of the transforms is the same either way.
    """
    cos, sin = ops.cos(theta), ops.sin(theta)
    o_row, o_col = height / 2 - 0.5, width / 2 - 0.5
    # An output pixel p = (row, column) is read at R (p - o + s) + o, with
    # R = [[cos, sin], [-sin, cos]] (rotation by -theta), s = (ty, tx).
    t_row = cos * (ty - o_row) + sin * (tx - o_col) + o_row
    t_col = -sin * (ty - o_row) + cos * (tx - o_col) + o_col
    zero = ops.zeros_like(cos)
    # affine_transform reads (x, y) = (column, row):
    # x_in = cos x - sin y + t_col;  y_in = sin x + cos y + t_row.
    return ops.stack([cos, -sin, t_col, sin, cos, t_row, zero, zero], axis=1)
