import json

import pytest

from deepcluster_keras import pipeline, reproduce


def config(tmp_path):
    return pipeline.Config(dataset="blobs", out=str(tmp_path / "results"), pretrain_epochs=2,
                           pretrain_optimizer="adam", maxiter=40, update_interval=10,
                           batch_size=32, n_init=2, plots=False, verbose=0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # may stop at maxiter
def test_interrupted_reproduction_resumes_without_redoing_finished_stages(tmp_path, blobs, monkeypatch):
    x, y = blobs
    real_self_train = reproduce.dec.self_train
    calls = []

    def interrupt_second_seed(model, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_self_train(model, *args, **kwargs)

    monkeypatch.setattr(reproduce.dec, "self_train", interrupt_second_seed)
    with pytest.raises(KeyboardInterrupt):
        reproduce.reproduce(config(tmp_path), [0, 1], x=x, y=y)
    out = tmp_path / "results"
    assert json.loads((out / "seed_0.json").read_text())["complete"]
    partial = json.loads((out / "seed_1.json").read_text())
    assert not partial["complete"] and set(partial["metrics"]) == {"kmeans_raw", "ae_kmeans"}
    assert (out / "work" / "seed_1" / "ae_weights.weights.h5").is_file()

    # The rerun pretrains nothing and does not repeat raw K-means.
    def no_pretraining(*args, **kwargs):
        raise AssertionError("pretrained again")

    monkeypatch.setattr(reproduce.dec, "self_train", real_self_train)
    monkeypatch.setattr(pipeline.dec, "pretrain", no_pretraining)
    summary = reproduce.reproduce(config(tmp_path), [0, 1], x=x, y=y)
    assert summary["complete_seeds"] == [0, 1]
    assert json.loads((out / "seed_1.json").read_text())["seconds"]["kmeans_raw"] == \
        partial["seconds"]["kmeans_raw"]
    stats = summary["methods"]["dec"]["stats"]["acc"]
    assert stats["min"] <= stats["median"] <= stats["max"]
    assert summary["methods"]["dec"]["published"] is None, "published figures are MNIST's"
    table = (out / "summary.md").read_text()
    assert "| DEC | 2 |" in table and "pretraining samples/s" in table


def test_summary_lists_published_mnist_figures(tmp_path):
    out = tmp_path
    for seed, acc in ((0, 0.96), (1, 0.84), (2, 0.88)):
        scores = {"acc": acc, "nmi": acc - 0.05, "ari": acc - 0.04}
        (out / f"seed_{seed}.json").write_text(json.dumps(
            {"complete": True, "metrics": {"dec": scores}, "seconds": {"dec": 60.0}}))
    summary = reproduce.summarize(str(out), [0, 1, 2], dataset="mnist")
    dec = summary["methods"]["dec"]
    assert dec["stats"]["acc"] == {"min": 0.84, "median": 0.88, "max": 0.96}
    assert dec["published"]["acc"] == 0.962
    assert "0.962 (0.830-0.964)" in summary["markdown"]
