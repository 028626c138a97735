"""The package's shape: no import cycle, and every default of the recipe
owned by the estimators (the functions of the step-by-step API keep the
tutorial's, which must be the same)."""

import ast
import inspect
import pathlib
import re

from deepcluster_keras import (DEC, DESOM, DKM, IDEC, AlternatingKMeans, ClusteringLayer,
                               build_clustering_model, classical, init_centres,
                               kmeans_friendly, methods, pretrain, self_train, training)

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "deepcluster_keras"


def imports_of(path):
    """The package modules that ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("deepcluster_keras"):
            if node.module == "deepcluster_keras":
                found.update(alias.name for alias in node.names
                             if (PACKAGE / f"{alias.name}.py").is_file()
                             or (PACKAGE / alias.name / "__init__.py").is_file())
            else:
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names
                         if a.name.startswith("deepcluster_keras."))
    return found


def package_modules():
    """Each module of the package by name, a subpackage (``estimator``) as one
    module: ``{name: [its files]}``."""
    modules = {p.stem: [p] for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    modules.update({p.parent.name: sorted(p.parent.glob("*.py"))
                    for p in PACKAGE.glob("*/__init__.py")})
    return modules


def test_the_import_graph_has_no_cycle():
    graph = {name: set().union(*map(imports_of, files))
             for name, files in package_modules().items()}
    graph = {module: {m for m in deps if m in graph and m != module} for module, deps in graph.items()}
    assert graph["estimator"] and graph["cli"], "the graph was read"

    def cycle_from(module, path):
        for nxt in graph[module]:
            if nxt in path:
                return path[path.index(nxt):] + [nxt]
            found = cycle_from(nxt, path + [nxt])
            if found:
                return found
        return None

    for module in graph:
        cycle = cycle_from(module, [module])
        assert cycle is None, " -> ".join(cycle)
    # The library never imports the command line or the experiments on top of it.
    for module in ("estimator", "dec", "training", "augmentation", "layers", "autoencoders",
                   "persistence", "methods"):
        assert not graph[module] & {"cli", "run", "reproduce", "report"}, module


def defaults(function):
    return {k: p.default for k, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


#: A file name of the command line's outputs written as a literal.
OUTPUT_NAME = re.compile(r'seed_\{|(results|summary)\.json"|summary\.md"|labels\.npy"|_model\.keras"')


def test_the_output_files_are_named_in_one_module():
    """``layout`` names every file of a run or reproduction folder; the
    command line, ``run``, ``reproduce``, ``report`` and the benchmarks ask it."""
    sources = [*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "benchmarks").glob("*.py")]
    named = {path.name for path in sources if OUTPUT_NAME.search(path.read_text())}
    assert named == {"layout.py"}


def test_the_recipe_has_one_set_of_defaults():
    recipe = IDEC().get_params()
    dec_params = DEC().get_params()
    assert {k: v for k, v in recipe.items() if k != "gamma"} == dec_params
    assert methods.recipe_defaults() == {k: v for k, v in recipe.items() if k not in methods.NOT_RECIPE}
    # The step-by-step functions keep the tutorial's values: the same.
    assert defaults(pretrain)["epochs"] == recipe["pretrain_epochs"]
    assert defaults(pretrain)["batch_size"] == recipe["batch_size"]
    assert defaults(init_centres)["n_init"] == recipe["n_init"]
    assert defaults(classical.cluster)["n_init"] == recipe["n_init"]
    assert defaults(build_clustering_model)["alpha"] == recipe["alpha"]
    assert defaults(ClusteringLayer.__init__)["alpha"] == recipe["alpha"]
    for name in ("maxiter", "update_interval", "tol", "batch_size", "gamma"):
        assert defaults(self_train)[name] == recipe[name], name
    # And the optimizers they fall back on are the estimators' named ones.
    assert defaults(training.pretrain_optimizer)["name"] == "sgd" == DEC().pretrain_optimizer_name()
    assert defaults(training.clustering_optimizer)["name"] == recipe["optimizer"]


def test_every_estimator_shares_the_recipes_start():
    """Each estimator repeats the shared parameters in its signature (as
    scikit-learn's do); their defaults must be DEC's, and the K-means-friendly
    training's batch size the recipe's."""
    shared = ("n_clusters", "autoencoder", "ae_weights", "pretrain_epochs", "pretrain_optimizer",
              "batch_size", "n_init", "verbose", "random_state", "checkpoint_dir")
    recipe = DEC().get_params()
    for cls in (IDEC, DKM, AlternatingKMeans):
        params = cls().get_params()
        assert {k: params[k] for k in shared} == {k: recipe[k] for k in shared}, cls.__name__
    assert defaults(kmeans_friendly.train)["batch_size"] == recipe["batch_size"]
    # Their optimizer follows the pretraining's (None), DEC's is self-training's own.
    assert DKM().optimizer is None and AlternatingKMeans().optimizer is None


def test_a_method_takes_only_the_recipe_it_shares():
    """``reproduce`` builds each method's estimator from the recipe: a DEC
    parameter must not reach another estimator that uses its name for
    something else (IDEC's gamma 0.1 once reached DESOM, whose gamma is
    0.001, and diverged)."""
    recipe = {**methods.recipe_defaults(), "gamma": 0.5, "alpha": 2.0, "optimizer": "adam",
              "maxiter": 7, "tol": 0.5, "update_interval": 3, "pretrain_epochs": 11,
              "batch_size": 64}
    for method, cls in methods.ESTIMATORS.items():
        params, defaults_ = methods.estimator(method, recipe).get_params(), cls().get_params()
        taken = {k for k in params if params[k] != defaults_[k]}
        if issubclass(cls, DEC):
            assert taken == {k for k in recipe if k in params and recipe[k] != defaults_[k]}, method
        elif "ae_weights" in params:
            assert taken == {"pretrain_epochs", "batch_size"}, method
        else:
            assert taken == set(), method
    assert methods.estimator("desom", recipe).gamma == DESOM().gamma
    # A method's own parameters (--param) reach its estimator only, as JSON
    # stored them (lists) or as given.
    own = {"desom": {"gamma": 0.01, "map_size": [4, 5]}, "imsat": {"xi": 7.0}}
    desom = methods.estimator("desom", {**recipe, "method_params": own})
    assert (desom.gamma, desom.map_size) == (0.01, (4, 5))
    assert methods.estimator("imsat", {**recipe, "method_params": own}).xi == 7.0
    assert methods.estimator("vade", {**recipe, "method_params": own}).get_params() == \
        methods.estimator("vade", recipe).get_params()


def test_the_package_list_installs_every_subpackage():
    """setuptools installs the packages pyproject.toml lists, no others: a
    subpackage left out works in the editable install and is missing from a
    wheel (a Colab ``pip install``)."""
    import tomllib

    listed = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = ["deepcluster_keras"] + [f"deepcluster_keras.{p.parent.name}"
                                     for p in PACKAGE.glob("*/__init__.py")]
    assert sorted(listed["packages"]) == sorted(found)


def test_the_registry_names_each_classical_method_and_estimator():
    assert [m for m in methods.METHODS if m.startswith("ae_")] == [
        f"ae_{m}" for m in classical.METHODS]
    for method in methods.METHODS:
        cls = methods.estimator_class(method)
        assert cls is (DEC if method not in methods.TRAINED else getattr(
            __import__("deepcluster_keras"), methods.REGISTRY[method].estimator)), method


def test_importing_the_package_shows_no_tensorflow_start_up_lines():
    """TensorFlow prints its start-up notices (oneDNN, CUDA drivers, CPU
    instructions, and on a CPU machine 'failed call to cuInit ... (303)')
    before its log level applies; the package's import leaves them out."""
    import os
    import subprocess
    import sys

    from deepcluster_keras._startup import startup_notice

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", "import deepcluster_keras, keras, sys; "
                           "keras.ops.ones(3); print('warned', file=sys.stderr)"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == ["warned"], done.stderr[-2000:]
    for line in ("WARNING: All log messages before absl::InitializeLog() is called are written "
                 "to STDERR",
                 "I0000 00:00:1796611899.904492    3860 port.cc:153] oneDNN custom operations",
                 "E0000 00:00:1796611919.639250    3957 cuda_platform.cc:52] failed call to "
                 "cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)"):
        assert startup_notice(line)
    assert not startup_notice("E0000 00:00:17.1 ops.cc:12] a real error")
    assert not startup_notice("UserWarning: something the user must see")


def test_every_slow_test_declares_its_cost():
    """conftest.py starts the slow tests longest first by the seconds each
    declares; one without them would be handed out last, whatever its cost."""
    tests = pathlib.Path(__file__).resolve().parent
    bare = [f"{p.name}:{i}" for p in sorted(tests.glob("test_*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1)
            if re.match(r"\s*@pytest\.mark\.slow\b(?!\(seconds=\d+\))", line)]
    assert not bare, f"@pytest.mark.slow without (seconds=N): {bare}"
