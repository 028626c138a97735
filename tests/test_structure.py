"""The package's shape: no import cycle, and every default of the recipe
owned by the estimators (the functions of the step-by-step API keep the
tutorial's, which must be the same)."""

import ast
import inspect
import pathlib

from deepcluster_keras import (DEC, DESOM, DKM, IDEC, AlternatingKMeans, ClusteringLayer,
                               build_clustering_model, classical, dec, init_centres,
                               kmeans_friendly, methods, pretrain, self_train)

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
    for module in ("estimator", "dec", "layers", "autoencoders", "persistence", "methods"):
        assert not graph[module] & {"cli", "run", "reproduce", "report"}, module


def defaults(function):
    return {k: p.default for k, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


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
    assert defaults(dec.pretrain_optimizer)["name"] == "sgd" == DEC().pretrain_optimizer_name()
    assert defaults(dec.clustering_optimizer)["name"] == recipe["optimizer"]


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
