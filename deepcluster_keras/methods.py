"""The methods that ``run`` and ``reproduce`` compare, by one set of names.

- ``kmeans_raw``: K-means on the raw data;
- ``ae_<algorithm>``: a classical algorithm (:mod:`deepcluster_keras.classical`)
  on the pretrained autoencoder's embedding; ``ae_kmeans`` is also DEC's start;
- ``dec``, ``idec``: the estimators' self-training;
- ``dkm``, ``alternating_kmeans``: fine-tuning for a K-means-friendly
  embedding (:mod:`deepcluster_keras.kmeans_friendly`);
- ``desom``: a self-organising map on the embedding, trained with the
  autoencoder, its units merged into clusters (:mod:`deepcluster_keras.som`);
- ``vade``: a VAE with a Gaussian-mixture prior, from the pretrained
  autoencoder (:mod:`deepcluster_keras.vade`);
- ``rim``, ``imsat``: a softmax network trained on the raw data by
  information maximisation (:mod:`deepcluster_keras.imsat`), no autoencoder;
- ``dac``: a convolutional network trained on the pairs of images it labels
  itself (:mod:`deepcluster_keras.dac`), no autoencoder.

Every method of one seed with an autoencoder shares one pretrained
autoencoder, the recipe's: the estimators with ``maxiter=0`` pretrain it (and
give AE + K-means), the self-training methods start from its saved weights;
but an estimator that pretrains its own (``VaDE(pretraining="sigmoid")``,
:func:`shared_autoencoder_methods`) starts from the raw data.
"""

import importlib
import inspect
import json
import time
from typing import NamedTuple, Optional

from deepcluster_keras import classical

class Method(NamedTuple):
    """A method as the command line, ``run``, ``reproduce`` and the tables know it."""

    #: Its name in tables.
    name: str
    #: Its estimator in :mod:`deepcluster_keras.estimator`; None: a classical
    #: algorithm (on the raw data or the pretrained embedding, fitted with DEC
    #: stopped after pretraining).
    estimator: Optional[str]
    #: What it does, as the command line's help says it.
    help: str
    #: Whether it starts from the pretrained autoencoder (else the raw data).
    autoencoder: bool = True


#: Every method, in the order a run does them.
REGISTRY = {
    "kmeans_raw": Method("K-means, raw data", None, "K-means on the raw data", autoencoder=False),
    "ae_kmeans": Method("AE + K-means", None, "K-means on the pretrained embedding (DEC's start)"),
    "ae_gmm": Method("AE + GMM", None, "a Gaussian mixture on the pretrained embedding"),
    "ae_agglomerative": Method("AE + agglomerative", None, "Ward's agglomerative clustering on "
                               "the pretrained embedding"),
    "ae_spectral": Method("AE + spectral", None, "spectral clustering on the pretrained embedding"),
    "ae_dbscan": Method("AE + DBSCAN", None, "DBSCAN on the pretrained embedding (finds its own "
                        "number of clusters)"),
    "dec": Method("DEC", "DEC", "the tutorial's self-training on KL(P || Q) (default)"),
    "idec": Method("IDEC", "IDEC", "DEC keeping the decoder (loss gamma*KL + MSE)"),
    "dkm": Method("DKM", "DKM", "Deep k-Means: continuous K-means, centres trained with the "
                  "network"),
    "alternating_kmeans": Method("alternating K-means", "AlternatingKMeans",
                                 "K-means reset every epoch between epochs of reconstruction + "
                                 "K-means cost"),
    "desom": Method("DESOM", "DESOM", "a self-organising map on the embedding, trained with the "
                    "autoencoder, its units merged into clusters"),
    "vade": Method("VaDE", "VaDE", "a VAE with a Gaussian-mixture prior, from the pretrained "
                   "autoencoder"),
    "rim": Method("RIM", "RIM", "a softmax network on the raw data, maximising the information "
                  "between data and clusters", autoencoder=False),
    "imsat": Method("IMSAT", "IMSAT", "RIM with self-augmentation (VAT)", autoencoder=False),
    "dac": Method("DAC", "DAC", "a convolutional network trained on the image pairs it labels "
                  "itself, as its authors' code", autoencoder=False),
}
METHODS = tuple(REGISTRY)
#: The tutorial's three figures.
TUTORIAL_METHODS = ("kmeans_raw", "ae_kmeans", "dec")
NAMES = {method: m.name for method, m in REGISTRY.items()}
#: The methods that an estimator trains (the others cluster the data or the embedding).
TRAINED = tuple(method for method, m in REGISTRY.items() if m.estimator)
#: The methods on the raw data, without the autoencoder.
RAW_METHODS = tuple(method for method, m in REGISTRY.items() if not m.autoencoder)


def estimator_class(method):
    """The estimator that ``method`` fits: its own, or DEC (pretraining only)
    for the classical methods. Imported on first use, so that the command
    line reads its arguments before TensorFlow starts."""
    estimators = importlib.import_module("deepcluster_keras.estimator")
    return getattr(estimators, REGISTRY[method].estimator or "DEC")


def __getattr__(name):
    if name == "ESTIMATORS":  # {method: estimator class} of the trained methods
        return {method: estimator_class(method) for method in TRAINED}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def help_text():
    """What each method does, for the command line's ``--method`` help."""
    return "; ".join(f"{method}: {m.help}" for method, m in REGISTRY.items())

#: Parameters of a run that are not part of the recipe (they do not change the results).
NOT_RECIPE = ("verbose", "random_state", "checkpoint_dir", "ae_weights")
#: The recipe's parameters that mean the same in every estimator with an
#: autoencoder: its pretraining and start. The rest (``alpha``, ``optimizer``,
#: ``gamma``, ``maxiter``...) are DEC's and IDEC's; another estimator may use
#: the same name for something else (DESOM's ``gamma`` weighs its SOM cost).
AUTOENCODER_RECIPE = ("n_clusters", "autoencoder", "pretrain_epochs", "pretrain_optimizer",
                      "batch_size", "n_init")


def check_methods(methods):
    """``methods`` without repeats, in order; an unknown name is an error."""
    methods = list(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"Expected methods from {METHODS}. Received: methods={methods!r}")
    return methods


#: The recipe's parameters and their defaults: the estimators' (IDEC adds
#: gamma), written here so that the command line shows them without starting
#: TensorFlow (tests/test_structure.py holds them to ``IDEC().get_params()``).
RECIPE_DEFAULTS = {"alpha": 1.0, "augment": False, "autoencoder": "dense", "batch_size": 256,
                   "gamma": 0.1, "learning_rate": None, "maxiter": 8000, "n_clusters": 10,
                   "n_init": 20, "optimizer": "sgd", "pretrain_epochs": 300,
                   "pretrain_optimizer": None, "tol": 0.001, "update_interval": 140}


#: Recipe parameters added after results were recorded, with the value that
#: their absence from a recorded recipe means.
ADDED_LATER = {"augment": False, "learning_rate": None}


def recipe_defaults():
    """The recipe's parameters and their defaults (a new dict)."""
    return dict(RECIPE_DEFAULTS)


#: The recipe's entry for each method's own parameters, ``{method: {name: value}}``
#: (``--param METHOD.NAME=VALUE``); absent when there are none.
METHOD_PARAMS = "method_params"


def _recipe_names(cls):
    """The parameters that ``cls`` takes from the recipe (or from the run)."""
    names = set(cls().get_params())
    if not issubclass(cls, estimator_class("dec")):
        # Only the autoencoder's recipe; the rest keep their own defaults.
        names &= {*AUTOENCODER_RECIPE, *NOT_RECIPE}
    if "ae_weights" not in names:  # no autoencoder: its own defaults (IMSAT's batch is 250)
        names &= {"n_clusters", *NOT_RECIPE}
    return names


def own_params(method):
    """The parameters of ``method``'s estimator that the recipe does not set, with defaults."""
    if method not in TRAINED:
        return {}
    cls = estimator_class(method)
    return {k: v for k, v in sorted(cls().get_params().items()) if k not in _recipe_names(cls)}


def check_method_params(method_params, methods):
    """``{method: {name: value}}`` checked against the estimators of ``methods``,
    with the values as JSON stores them (tuples as lists)."""
    checked = {}
    for method, params in (method_params or {}).items():
        if method not in methods:
            raise ValueError(f"Parameters were given for {method!r}, which is not run here "
                             f"(methods: {', '.join(methods)}).")
        own = own_params(method)
        unknown = sorted(set(params) - set(own))
        if unknown:
            takes = (f"its own parameters are {', '.join(own)}" if own else
                     "it has none of its own: the recipe's flags set its parameters")
            raise ValueError(f"{method} has no parameter {', '.join(map(repr, unknown))} to set; "
                             f"{takes}.")
        checked[method] = json.loads(json.dumps(params))
    return checked


def with_method_params(recipe, methods):
    """``recipe`` with its ``method_params`` checked (:func:`check_method_params`);
    no entry when there are none, so that a recipe without them stays as it was."""
    recipe = dict(recipe)
    own = check_method_params(recipe.pop(METHOD_PARAMS, None), methods)
    return {**recipe, METHOD_PARAMS: own} if own else recipe


def recipe_differences(old, new, trained):
    """What differs between two recipes where it changes the results of the
    methods ``trained``: ``[(name, old value, new value), ...]``. IDEC's
    ``gamma`` counts only when ``"idec"`` is among them, a method's own
    parameters only for that method (named ``"METHOD parameters"``); ``seed``
    and ``out`` never (they are not the recipe)."""
    ignored = {"seed", "out", METHOD_PARAMS} | (set() if "idec" in trained else {"gamma"})
    keys = sorted((set(old) | set(new)) - ignored)
    old, new = ({**ADDED_LATER, **r} for r in (old, new))
    changed = [(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]
    own_old, own_new = (r.get(METHOD_PARAMS, {}) for r in (old, new))
    return changed + [(f"{m} parameters", own_old.get(m, {}), own_new.get(m, {}))
                      for m in trained if own_old.get(m, {}) != own_new.get(m, {})]


def estimator(method, recipe, **settings):
    """The estimator that ``method`` fits (DEC with ``maxiter=0`` for the
    methods that only need the pretrained embedding), with the recipe's
    parameters that it shares and its own from ``recipe["method_params"]``."""
    cls = estimator_class(method)
    names = _recipe_names(cls)
    params = {k: v for k, v in {**recipe, **settings}.items() if k in names}
    own = recipe.get(METHOD_PARAMS, {}).get(method, {})
    params.update({k: tuple(v) if isinstance(v, list) else v for k, v in own.items()})
    if method not in TRAINED:
        params["maxiter"] = 0
    made = cls(**params)
    if REGISTRY[method].autoencoder and not made.uses_recipe_autoencoder():
        # The recipe's pretraining optimizer is the shared autoencoder's; one of
        # the estimator's own keeps the estimator's choice (VaDE's: Adam).
        made.set_params(pretrain_optimizer=None)
    return made


def shared_autoencoder_methods(recipe):
    """The methods that start from a seed's shared autoencoder, the recipe's:
    not those on the raw data, nor an estimator that pretrains one of its
    own (``VaDE(pretraining="sigmoid")``)."""
    return tuple(method for method, m in REGISTRY.items() if m.autoencoder and (
        method not in TRAINED or estimator(method, recipe).uses_recipe_autoencoder()))


def fit(estimator, x, y, callbacks=None):
    """``estimator.fit(x, y)``, with the Keras ``callbacks`` where its ``fit``
    takes them (DEC's and IDEC's self-training); ``run`` and ``reproduce`` fit
    every method through it."""
    takes = callbacks and "callbacks" in inspect.signature(estimator.fit).parameters
    return estimator.fit(x, y, **({"callbacks": callbacks} if takes else {}))


def params_record(fitted):
    """The parameters ``fitted`` ran with, as JSON stores them: what a result
    file records beside the recipe, so that a later change of a default
    shows (run-time settings such as ``verbose`` left out)."""
    return json.loads(json.dumps({k: v for k, v in fitted.get_params().items()
                                  if k not in NOT_RECIPE}))


def resolved_recipe(recipe):
    """``recipe`` as it ran: ``pretrain_optimizer`` None resolved."""
    DEC = estimator_class("dec")
    dec_params = set(DEC().get_params())
    return {**recipe, "pretrain_optimizer": DEC(**{k: v for k, v in recipe.items() if k in dec_params})
            .pretrain_optimizer_name()}


def cluster_embedding(method, fitted, x, n_clusters, seed, n_init):
    """Labels of an ``ae_*`` method from an estimator fitted with ``maxiter=0``,
    and the seconds they took (AE + K-means: the estimator's K-means)."""
    if method == "ae_kmeans":
        return fitted.kmeans_labels_, fitted.seconds_["kmeans"]
    start = time.perf_counter()
    labels = classical.cluster(fitted.transform(x), method[len("ae_"):], n_clusters,
                               random_state=seed, n_init=n_init)
    return labels, time.perf_counter() - start
