"""`RandomTransform`: Keras' ``ImageDataGenerator`` augmentation as a layer.

DEC-DA (Guo, Zhu, Liu and Yin, ACML 2018) trains on randomly shifted and
rotated copies of the images, drawn by Keras 2's
``ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.1,
rotation_range=10)``, one NumPy image at a time; DAC's authors (Chang et al.,
2017) drew theirs with Keras 1's, adding zoom, a channel shift and a
rescaling. This layer draws the same transforms inside the training step,
for a whole batch at once: one affine map per image, the border pixels
extended ("nearest"), as either generator's ``apply_transform``
(tests/test_augmentation.py compares them on the same draws).
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
    zoom_range : float, default=0
        Zoom each axis by a factor drawn in ``[1 - zoom_range, 1 + zoom_range]``.
    channel_shift_range : float, default=0
        Add to each channel a value drawn in ``[-range, range]``, clipped to
        the image's own minimum and maximum (Keras 1's ``random_channel_shift``).
    rescale : float or None, default=None
        Multiply the result by it (the generator's ``standardize``).
    interpolation : {"bilinear", "nearest"}, default="bilinear"
        Keras 2's generator interpolates linearly, Keras 1's took the nearest pixel.
    convention : {"keras2", "keras1"}, default="keras2"
        Whose matrix: Keras 2 swaps the axes (``P M P``, centre at ``size / 2
        - 0.5``), Keras 1 applied it to (row, column) as written, centred at
        ``size / 2 + 0.5`` (:func:`transform_parameters`).
    """

    def __init__(self, image_shape=None, rotation_range=10.0, width_shift_range=0.1,
                 height_shift_range=0.1, seed=None, zoom_range=0.0, channel_shift_range=0.0,
                 rescale=None, interpolation="bilinear", convention="keras2", **kwargs):
        super().__init__(**kwargs)
        self.image_shape = None if image_shape is None else tuple(int(d) for d in image_shape)
        if self.image_shape is not None and len(self.image_shape) == 2:
            self.image_shape += (1,)
        self.rotation_range = float(rotation_range)
        self.width_shift_range = float(width_shift_range)
        self.height_shift_range = float(height_shift_range)
        self.seed = seed
        self.zoom_range = float(zoom_range)
        self.channel_shift_range = float(channel_shift_range)
        self.rescale = None if rescale is None else float(rescale)
        if interpolation not in ("bilinear", "nearest") or convention not in ("keras1", "keras2"):
            raise ValueError("Expected interpolation 'bilinear' or 'nearest' and convention "
                             f"'keras1' or 'keras2'. Received: interpolation={interpolation!r}, "
                             f"convention={convention!r}")
        self.interpolation, self.convention = interpolation, convention
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
        zx = zy = 1.0
        if self.zoom_range:
            zx, zy = 1.0 + draw(self.zoom_range), 1.0 + draw(self.zoom_range)
        transform = transform_parameters(theta, tx, ty, height, width, zx=zx, zy=zy,
                                         convention=self.convention)
        out = ops.image.affine_transform(images, transform, interpolation=self.interpolation,
                                         fill_mode="nearest", data_format="channels_last")
        if self.channel_shift_range:
            low = ops.min(out, axis=(1, 2, 3), keepdims=True)
            high = ops.max(out, axis=(1, 2, 3), keepdims=True)
            shift = keras.random.uniform((n, 1, 1, images.shape[3]), -self.channel_shift_range,
                                         self.channel_shift_range, seed=self.seed_generator)
            out = ops.clip(out + shift, low, high)
        if self.rescale is not None:
            out = out * self.rescale
        return out if self.image_shape is None else ops.reshape(out, ops.shape(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape,
                "rotation_range": self.rotation_range,
                "width_shift_range": self.width_shift_range,
                "height_shift_range": self.height_shift_range, "seed": self.seed,
                "zoom_range": self.zoom_range, "channel_shift_range": self.channel_shift_range,
                "rescale": self.rescale, "interpolation": self.interpolation,
                "convention": self.convention}


def transform_parameters(theta, tx, ty, height, width, *, zx=1.0, zy=1.0, convention="keras2"):
    """The rows of ``ops.image.affine_transform``'s ``transform`` (shape
    (n, 8)) that give the generators' ``rotation(theta) @ shift(tx, ty) @
    zoom(zx, zy)`` (``theta`` in radians), each about the image's centre.

    Both map an output pixel to the input point it is read from. With the
    matrix's coordinates (a, b), centre o, R the rotation, Z the zoom and
    t = (tx, ty), the input point is ``R (Z (p - o) + t) + o``. Keras 1
    (``convention="keras1"``) took (a, b) = (row, column) and o = size / 2 +
    0.5. Keras 2 swaps the axes (``P M P``): (a, b) = (column, row), o = size /
    2 - 0.5; so ``tx``, drawn from ``height_shift_range``, moves the columns
    and the rotation turns the other way. On square images with equal ranges
    the distribution of the transforms is the same either way.
    ``affine_transform`` reads (x, y) = (column, row).
    """
    cos, sin = ops.cos(theta), ops.sin(theta)
    if convention == "keras1":  # (a, b) = (row, column) = (y, x)
        o_a, o_b = height / 2 + 0.5, width / 2 + 0.5
    else:  # (a, b) = (column, row) = (x, y)
        o_a, o_b = width / 2 - 0.5, height / 2 - 0.5
    # a_in = cos (zx (a - o_a) + tx) - sin (zy (b - o_b) + ty) + o_a
    # b_in = sin (zx (a - o_a) + tx) + cos (zy (b - o_b) + ty) + o_b
    t_a = cos * (tx - zx * o_a) - sin * (ty - zy * o_b) + o_a
    t_b = sin * (tx - zx * o_a) + cos * (ty - zy * o_b) + o_b
    zero = ops.zeros_like(cos)
    if convention == "keras1":  # x_in = b_in, y_in = a_in
        rows = [cos * zy, sin * zx, t_b, -sin * zy, cos * zx, t_a]
    else:  # x_in = a_in, y_in = b_in
        rows = [cos * zx, -sin * zy, t_a, sin * zx, cos * zy, t_b]
    return ops.stack(rows + [zero, zero], axis=1)
