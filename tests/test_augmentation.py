"""DEC-DA's augmentation: `RandomTransform` beside Keras 2's ImageDataGenerator,
and the training functions with it (P from the clean images, the gradient from
the transformed ones, resumed runs as uninterrupted ones)."""

import keras
import numpy as np
import pytest

from deepcluster_keras import DEC, IDEC, autoencoder, build_clustering_model, pretrain, self_train
from deepcluster_keras import target_distribution
from deepcluster_keras.augmentation import RandomTransform, transform_parameters


def _images(n=6, side=28, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, side, side, 1)).astype("float32")


def test_transform_equals_keras2_generator_on_its_own_draws():
    image = pytest.importorskip("tf_keras.src.preprocessing.image")
    # DEC-DA's generator, seeded: its draws, and the images it makes of them.
    generator = image.ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.1,
                                         rotation_range=10)
    x = _images()
    np.random.seed(0)
    params = [generator.get_random_transform(x.shape[1:]) for _ in x]
    expected = np.stack([generator.apply_transform(xi, p) for xi, p in zip(x, params)])
    assert len({round(p["theta"], 3) for p in params}) == len(x), "a draw per image"
    theta, tx, ty = (np.array([p[k] for p in params], "float32") for k in ("theta", "tx", "ty"))
    transform = transform_parameters(np.deg2rad(theta), tx, ty, 28, 28)
    ours = keras.ops.convert_to_numpy(keras.ops.image.affine_transform(
        x, transform, interpolation="bilinear", fill_mode="nearest"))
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    assert np.abs(ours - x).max() > 0.5, "the images did change"


def _centre_of_mass(images):
    rows, cols = np.indices(images.shape[1:3])
    mass = images[..., 0].sum((1, 2))
    return ((images[..., 0] * rows).sum((1, 2)) / mass, (images[..., 0] * cols).sum((1, 2)) / mass)


def test_shifts_and_angles_are_drawn_over_their_ranges():
    # A 3x3 square at the centre: a shift moves its centre of mass by as many pixels.
    x = np.zeros((400, 28, 28, 1), "float32")
    x[:, 12:15, 12:15] = 1.0
    shifted = keras.ops.convert_to_numpy(
        RandomTransform(rotation_range=0, seed=1)(x, training=True))
    rows, cols = _centre_of_mass(shifted)
    for moved in (rows - 13, cols - 13):
        assert np.abs(moved).max() <= 2.8 + 1e-3  # 0.1 x 28 pixels
        assert moved.min() < -2.0 and moved.max() > 2.0, "over the whole range, both ways"
    # A bar through the centre: its angle is the rotation.
    x = np.zeros((400, 28, 28, 1), "float32")
    x[:, 13, 4:24] = 1.0
    turned = keras.ops.convert_to_numpy(RandomTransform(
        width_shift_range=0, height_shift_range=0, seed=2)(x, training=True))
    r, c = np.indices((28, 28))
    angles = []
    for img in turned[..., 0]:
        w = img / img.sum()
        cov = np.cov(np.stack([c.ravel(), r.ravel()]), aweights=w.ravel())
        vx, vy = np.linalg.eigh(cov)[1][:, -1]
        angles.append(np.degrees(np.arctan(vy / vx)))
    angles = np.array(angles)
    assert np.abs(angles).max() <= 10.2 and angles.min() < -8 and angles.max() > 8


def test_transform_keeps_shape_and_range_and_is_off_outside_training():
    x = _images(8)
    layer = RandomTransform(seed=3)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= x.min() - 1e-6 and out.max() <= x.max() + 1e-6  # bilinear, edge-filled
    assert (np.abs(out - x).reshape(len(x), -1).max(1) > 0.1).all(), "every image changed"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    # Flat rows are transformed as the images they are.
    flat = RandomTransform((28, 28), seed=3)(x.reshape(8, -1), training=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(flat), out.reshape(8, -1), atol=1e-6)
    # Draws go on from call to call, from the state saved with the weights.
    again = keras.ops.convert_to_numpy(layer(x, training=True))
    assert np.abs(again - out).max() > 0.1
    assert layer.get_weights()[0].tolist() == [3, 6]  # three draws per call


class _Invert(keras.layers.Layer):
    """A transform that is easy to follow: 1 - x, in training only."""

    def call(self, x, training=False):
        return 1.0 - x if training else x


def _clustering_model(x, joint):
    keras.utils.set_random_seed(0)
    ae, encoder = autoencoder((x.shape[1], 8, 2))
    centres = encoder.predict(x[:3], verbose=0)
    return build_clustering_model(encoder, 3, centres=centres, autoencoder=ae if joint else None)


@pytest.mark.parametrize("joint", [False, True], ids=["DEC", "IDEC"])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # stops at maxiter
def test_self_training_targets_clean_images_and_trains_on_transformed(joint):
    x = np.random.default_rng(0).random((40, 16)).astype("float32")
    model = _clustering_model(x, joint)
    # By hand: P from the clean images, one SGD step on the transformed batch
    # (IDEC reconstructs the transformed batch, as DEC-DA's FcIDEC).
    reference = _clustering_model(x, joint)
    q = reference.predict(x, verbose=0)
    p = target_distribution(q[0] if joint else q)
    sgd = keras.optimizers.SGD(10.0)  # a step large enough to tell the batches apart
    if joint:
        reference.compile(sgd, loss=["kld", "mse"], loss_weights=[0.1, 1.0])
        reference.train_on_batch(1 - x[:16], [p[:16], 1 - x[:16]])
    else:
        reference.compile(sgd, loss="kld")
        reference.train_on_batch(1 - x[:16], p[:16])
    self_train(model, x, maxiter=1, batch_size=16, verbose=0, augmentation=_Invert(),
               optimizer=keras.optimizers.SGD(10.0))
    for ours, theirs in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    # The step moved the weights more than the tolerance above: training on
    # the clean batch, or P from the transformed images, would not pass.
    start = _clustering_model(x, joint).get_weights()
    assert max(np.abs(a - b).max() for a, b in zip(model.get_weights(), start)) > 1e-3


def test_augmented_pretraining_is_mse_against_the_transformed_batch():
    x = np.random.default_rng(1).random((64, 16)).astype("float32")
    # With shifts and angles of zero the transform is the identity: the same
    # losses as pretraining on the clean data.
    keras.utils.set_random_seed(0)
    ae = autoencoder((16, 8, 2))[0]
    start = ae.get_weights()
    plain = pretrain(ae, x, epochs=3, batch_size=16, verbose=0, seed=5)
    ae.set_weights(start)
    identity = RandomTransform((4, 4), rotation_range=0, width_shift_range=0, height_shift_range=0)
    same = pretrain(ae, x, epochs=3, batch_size=16, verbose=0, seed=5, augmentation=identity)
    np.testing.assert_allclose(same["loss"], plain["loss"], rtol=1e-5)
    # And on 1 - x, the loss is the reconstruction error of 1 - x.
    ae.set_weights(start)
    inverted = pretrain(ae, x, epochs=1, batch_size=64, verbose=0, seed=5,
                        optimizer=keras.optimizers.SGD(0.0), augmentation=_Invert())
    ae.set_weights(start)
    expected = np.mean((ae.predict(1 - x, verbose=0) - (1 - x)) ** 2)
    np.testing.assert_allclose(inverted["loss"][0], expected, rtol=1e-5)


def test_augmented_pretraining_resumes_with_the_same_draws(tmp_path, epochs):
    x = _images(48, side=8).reshape(48, -1)

    def run(**kwargs):
        keras.utils.set_random_seed(0)
        ae = autoencoder((64, 16, 4))[0]
        info = pretrain(ae, x, epochs=4, batch_size=16, verbose=0, seed=1, optimizer="adam",
                        augmentation=RandomTransform((8, 8), seed=7), **kwargs)
        return ae, info

    whole_ae, whole = run()
    with pytest.raises(KeyboardInterrupt):
        run(checkpoint_dir=tmp_path, checkpoint_every=2, callbacks=epochs.reset(interrupt_at=3))
    resumed_ae, resumed = run(checkpoint_dir=tmp_path, checkpoint_every=2)
    assert resumed["resumed_from_epoch"] == 2
    np.testing.assert_allclose(resumed["loss"], whole["loss"], rtol=1e-5)
    for a, b in zip(resumed_ae.get_weights(), whole_ae.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_estimators_augment_images_and_refuse_rows_that_are_not_square(tmp_path):
    rng = np.random.default_rng(0)
    x = np.clip(np.repeat(np.eye(4, 16), 15, axis=0) + rng.normal(0, 0.05, (60, 16)), 0, 1)
    x = x.astype("float32")
    settings = dict(n_clusters=4, pretrain_epochs=3, maxiter=20, update_interval=5,
                    batch_size=16, n_init=2, random_state=0, augment=True)
    fitted = IDEC(**settings).fit(x)
    assert fitted.pretrain_["loss"] and len(fitted.history_["iteration"]) >= 2
    # The saved estimator predicts as the fitted one, on clean inputs.
    loaded = IDEC.load(fitted.save(tmp_path / "idec"))
    np.testing.assert_array_equal(loaded.predict(x), fitted.predict(x))
    np.testing.assert_array_equal(fitted.predict(x), fitted.labels_)
    # Another seed of the transforms, another fit; the same seed, the same fit.
    again = IDEC(**settings).fit(x)
    np.testing.assert_array_equal(again.labels_, fitted.labels_)
    np.testing.assert_allclose(again.pretrain_["loss"], fitted.pretrain_["loss"], rtol=1e-6)
    with pytest.raises(ValueError, match="15 features per row, not a square.*pass X as images"):
        DEC(**settings).fit(x[:, :15])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # stops at maxiter
def test_the_convolutional_autoencoder_trains_on_transformed_images():
    # ConvDEC-DA: the images go to the network as images, transformed as such.
    x = _images(32, side=8)
    fitted = DEC(2, autoencoder="conv", augment=True, pretrain_epochs=2, maxiter=4,
                 update_interval=2, batch_size=16, n_init=1, random_state=0).fit(x)
    again = DEC(2, autoencoder="conv", pretrain_epochs=2, maxiter=4, update_interval=2,
                batch_size=16, n_init=1, random_state=0).fit(x)
    assert fitted.labels_.shape == (32,) and fitted.transform(x).shape == (32, 10)
    assert fitted.pretrain_["loss"] != again.pretrain_["loss"], "other inputs than the clean run's"
