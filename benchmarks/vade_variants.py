"""VaDE beside the authors' code: which detail does what (digits or MNIST-test).

From one autoencoder (seed 0) VaDE is trained in configurations that swap
one detail of the authors' ``VaDE.py`` at a time: the mixture's start, its
parametrisation, the ``z_log_var`` head, Adam's first rate and epsilon.
Prints ACC per epoch and the smallest cluster's share (0: collapsed), and the
share of samples whose every responsibility numerator in the authors'
formula starts below its ``1e-10`` floor.

    PYTHONPATH=. python benchmarks/vade_variants.py --ae sgd --epochs 10
    PYTHONPATH=. python benchmarks/vade_variants.py --ae sigmoid --epochs 10
    PYTHONPATH=. python benchmarks/vade_variants.py --dataset mnist_test --ae-epochs 30 ...

``--ae``: ``sgd`` the recipe's (SGD(1.0, 0.9), MSE, linear output; 60
epochs on digits), ``adam`` the same on Adam, ``sigmoid`` a sigmoid output
trained on binary cross-entropy with Adam(0.001) (100 epochs on digits; as
the authors' released architecture, their training is not released).
``--ae-epochs`` replaces those lengths.
"""

import argparse
import os
import time

from deepcluster_keras import DEC, autoencoders, dec, load_data, metrics, vade  # first: quiets TF

import keras  # noqa: E402
import numpy as np  # noqa: E402

#: name: (mixture start, variant, z_log_var head, first rate, Adam's epsilon)
CONFIGS = {
    "authors": ("em", "authors", "glorot", 0.002, 1e-4),
    "authors, rate 0.0002": ("em", "authors", "glorot", 0.0002, 1e-4),
    "authors, library head": ("em", "authors", "small", 0.002, 1e-4),
    "authors, K-means start, library head": ("kmeans", "authors", "small", 0.002, 1e-4),
    "authors, K-means start, library head, 0.0002": ("kmeans", "authors", "small", 0.0002, 1e-4),
    "library": ("kmeans", "library", "small", 0.0002, 1e-7),
    "library, rate 0.002": ("kmeans", "library", "small", 0.002, 1e-7),
    "library, Glorot head": ("kmeans", "library", "glorot", 0.0002, 1e-7),
    "library, authors' EM start": ("em", "library", "small", 0.0002, 1e-7),
    "library, epsilon 1e-4": ("kmeans", "library", "small", 0.0002, 1e-4),
}


def pretrained(kind, x, work, dataset, epochs):
    """The autoencoder's weights file for ``kind``, trained once into ``work``."""
    path = os.path.join(work, f"{dataset}_ae_{kind}_{epochs}.weights.h5")
    if os.path.exists(path):
        return path
    if kind == "sigmoid":
        keras.utils.set_random_seed(0)
        ae, _ = sigmoid_autoencoder(x.shape[1])
        ae.compile(optimizer=keras.optimizers.Adam(0.001), loss="binary_crossentropy")
        ae.fit(x, x, batch_size=256, epochs=epochs, verbose=0)
        ae.save_weights(path)
    else:
        DEC(10, maxiter=0, pretrain_epochs=epochs, n_init=5, random_state=0,
            pretrain_optimizer="adam" if kind == "adam" else None).fit(x).save_autoencoder_weights(path)
    return path


def sigmoid_autoencoder(n_features):
    ae, encoder = autoencoders.autoencoder((n_features,) + tuple(autoencoders.DEC_DIMS[1:]))
    ae.layers[-1].activation = keras.activations.sigmoid  # the authors' output layer
    return ae, encoder


def start(kind, x, path):
    if kind == "sigmoid":
        ae, encoder = sigmoid_autoencoder(x.shape[1])
        ae.load_weights(path)
    else:
        fitted = DEC(10, ae_weights=path, maxiter=0, n_init=5, random_state=0).fit(x)
        ae, encoder = fitted.autoencoder_, fitted.encoder_
    return ae, encoder


def share_below_floor(z, mixture):
    """Samples whose every numerator ``pi^D N(z | u, lambda)`` of the authors'
    responsibilities (:meth:`vade.GaussianMixturePrior.log_joint`) is below 1e-10."""
    prior = vade.GaussianMixturePrior(len(mixture[0]), weights=list(mixture),
                                      parametrization="authors")
    prior.build([(None, z.shape[1])] * 3)
    log_p = keras.ops.convert_to_numpy(prior.log_joint(z.astype("float32")))
    return float(np.mean(log_p.max(1) < np.log(1e-10)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("digits", "mnist_test"), default="digits")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--ae", choices=("sgd", "adam", "sigmoid"), default="sgd")
    parser.add_argument("--ae-epochs", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--work", default="vade_variants_work")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    x, y = load_data(args.dataset, data_dir=args.data_dir)
    ae_epochs = args.ae_epochs or (100 if args.ae == "sigmoid" else 60)
    path = pretrained(args.ae, x, args.work, args.dataset, ae_epochs)
    ae, encoder = start(args.ae, x, path)
    z = encoder.predict(x, verbose=0).astype("float64")
    centres, kmeans_labels = dec.kmeans_centres(z, 10, n_init=5, random_state=0)
    _, em_means, em_variances = vade.fit_mixture(z, 10, random_state=0, reg_covar=1e-3)
    print(f"{args.ae} autoencoder: AE + K-means {metrics.acc(y, kmeans_labels):.3f}, embedding "
          f"std {z.std(0).mean():.2f}, the EM mixture's mean variance {em_variances.mean():.3f}, "
          f"samples under the 1e-10 floor at the start "
          f"{share_below_floor(z, (np.full(10, 0.1), em_means, em_variances)):.3f}")
    for name in args.configs:
        init, variant, head, rate, epsilon = CONFIGS[name]
        if init == "em":  # the authors' GMM: EM from one K-means run, pi uniform
            mixture = (np.full(10, 0.1), em_means, em_variances)
        else:
            mixture = vade.fit_mixture(z, 10, means_init=centres, random_state=0)
        ae, encoder = start(args.ae, x, path)
        keras.utils.set_random_seed(0)
        model = vade.build_vade_model(ae, encoder, 10, mixture=mixture, seed=0, variant=variant)
        layer = model.get_layer("z_log_var")
        kernel, bias = layer.get_weights()
        if head == "small" and variant == "authors":
            layer.set_weights([np.zeros_like(kernel),
                               np.full_like(bias, np.log(mixture[2].mean() / 100))])
        elif head == "glorot" and variant == "library":
            layer.set_weights([keras.initializers.GlorotUniform(0)(kernel.shape).numpy(),
                               np.zeros_like(bias)])
        began = time.perf_counter()
        history = vade.train(model, x, y, epochs=args.epochs, learning_rate_start=rate,
                             epsilon=epsilon, seed=0, verbose=0).history
        print(f"  {name:46s} ACC {' '.join(f'{a:.3f}' for a in history['acc'])}  smallest "
              f"{min(history['smallest_cluster']):.3f}  ({time.perf_counter() - began:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
