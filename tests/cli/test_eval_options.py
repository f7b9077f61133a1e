"""`nauplius eval` with --holdout, --metric hamming and --report, on a small real ZooLake subset
with the shipped model."""
import json
import re
import shutil

import pytest

from nauplius.cli import main
from nauplius.training.datasets import labelled_images
from nauplius.training.splits import file_list_sha256, stratified_split
from services.embedder.config import DEFAULT_MODEL

CLASSES = ["daphnia", "fish", "ceratium", "kellicottia", "dinobryon", "asplanchna"]


@pytest.fixture(scope="module")
def small_set(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("sets") / "zoolake"
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for path in sorted((shared_data / "zoolake" / name).iterdir())[:8]:
            shutil.copy(path, root / name / path.name)
    return root


def _eval(capsys, *args):
    assert main(["eval", "--json", *map(str, args)]) == 0
    return json.loads(capsys.readouterr().out)


def test_holdout_queries_the_split_part_and_hamming_with_rerank_matches_cosine(small_set, capsys):
    cosine = _eval(capsys, "--gallery", small_set, "--holdout", 0.25)
    assert cosine["mode"] == "holdout" and cosine["n_queries"] == 12 and cosine["n_gallery"] == 36
    assert cosine["top1"] >= 0.75
    reranked = _eval(capsys, "--gallery", small_set, "--holdout", 0.25, "--metric", "hamming",
                     "--bits", 256, "--rerank", 36)
    assert reranked["bits"] == 256 and reranked["rerank"] == 36
    for key in ("top1", "vote5", "precision_at_k", "mean_class_top1"):
        assert reranked[key] == pytest.approx(cosine[key])  # re-ranking the whole gallery is exact


def test_report_shows_classes_confusion_and_failures(small_set, tmp_path, capsys):
    # Two swapped labels make sure of failures to show: the shipped model gets every query of the
    # clean subset right.
    mislabelled = tmp_path / "zoolake"
    shutil.copytree(small_set, mislabelled)
    fish, daphnia = (sorted((mislabelled / name).iterdir())[0] for name in ("fish", "daphnia"))
    fish.rename(mislabelled / "daphnia" / fish.name)
    daphnia.rename(mislabelled / "fish" / daphnia.name)
    result = _eval(capsys, "--gallery", mislabelled, "--metric", "hamming", "--bits", 256,
                   "--report", tmp_path / "report")
    page = (tmp_path / "report" / "index.html").read_text()
    assert result["report"].endswith("index.html")
    for name in CLASSES:
        assert page.count(f">{name}<") >= 3  # bar label and both confusion-matrix axes
    n_failed = round((1 - result["top1"]) * result["n_queries"])
    assert n_failed >= 2
    assert f"{n_failed} queries have a wrong nearest neighbour" in page
    assert len(re.findall(r'<figure class="query">', page)) == min(n_failed, 24)
    assert "data:image/jpeg;base64," in page and "src=\"\"" not in page


def test_a_fine_tuned_model_is_refused_the_images_it_was_trained_on(small_set, tmp_path, capsys):
    files = labelled_images(small_set)
    split = stratified_split(files, 0.25, seed=0)
    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    card["training"] = {"split": {"validation_fraction": 0.25, "seed": 0}, "data_sets": [{
        "name": "zoolake", "file_list_sha256": file_list_sha256(files),
        "train_sha256": file_list_sha256(split.train),
        "validation_sha256": file_list_sha256(split.validation)}]}
    model = tmp_path / "tuned.onnx"
    shutil.copy(DEFAULT_MODEL, model)
    model.with_suffix(".json").write_text(json.dumps(card))
    assert main(["eval", "--gallery", str(small_set), "--model", str(model), "--json"]) == 2
    assert "--holdout 0.25 --seed 0" in capsys.readouterr().err
    assert main(["eval", "--gallery", str(small_set), "--model", str(model), "--json",
                 "--holdout", "0.25", "--seed", "1"]) == 2
    assert _eval(capsys, "--gallery", small_set, "--model", model, "--holdout", 0.25)["top1"] > 0.5


def test_a_wrong_code_length_is_refused_before_embedding(small_set, capsys):
    assert main(["eval", "--gallery", str(small_set), "--metric", "hamming", "--bits", "100"]) == 2
    assert "multiple of 64" in capsys.readouterr().err


def test_an_embedding_cache_embeds_once_for_several_metrics(small_set, monkeypatch):
    import nauplius.evaluate as evaluate_module

    calls = []
    real = evaluate_module.embed_files
    monkeypatch.setattr(evaluate_module, "embed_files",
                        lambda *a, **kw: calls.append(a[-1]) or real(*a, **kw))
    cache: dict = {}
    cosine = evaluate_module.evaluate(small_set, holdout=0.25, progress=False, embedding_cache=cache)
    hamming = evaluate_module.evaluate(small_set, holdout=0.25, progress=False, metric="hamming",
                                       bits=256, rerank=36, embedding_cache=cache)
    assert calls == ["gallery", "queries"] and len(cache) == 1
    assert hamming["top1"] == pytest.approx(cosine["top1"])
    assert hamming["embed_ms_per_image"] == cosine["embed_ms_per_image"]


def test_adapt_fits_on_the_gallery_only_and_says_so(small_set, capsys):
    plain = _eval(capsys, "--gallery", small_set, "--holdout", 0.25)
    assert "adapted" not in plain and "head" not in plain
    adapted = _eval(capsys, "--gallery", small_set, "--holdout", 0.25, "--adapt")
    head = adapted["head"]
    assert adapted["adapted"] is True and adapted["n_queries"] == plain["n_queries"] == 12
    assert head["kind"] in {"lda", "identity"} and len(head["version"]) == 64
    assert head["learned_from"] == {"images": 36, "classes": 6, "images_per_class_min": 6,
                                    "images_per_class_max": 6}
    assert {"top1_plain", "top1_adapted", "folds", "tried"} <= head["cross_validation"].keys()
    assert head["labels_per_class"] == "all" and head["input_dim"] == 1280

    capped = _eval(capsys, "--gallery", small_set, "--holdout", 0.25, "--adapt",
                   "--adapt-labels", 3)
    assert capped["head"]["learned_from"]["images"] == 18 and capped["head"]["labels_per_class"] == 3
    assert capped["n_gallery"] == 36  # the gallery searched stays whole


def test_adapt_without_queries_or_with_a_bad_count_is_refused(small_set, capsys):
    assert main(["eval", "--gallery", str(small_set), "--adapt"]) == 2
    assert "give --holdout or --queries" in capsys.readouterr().err
    assert main(["eval", "--gallery", str(small_set), "--holdout", "0.25",
                 "--adapt-labels", "5"]) == 2
    assert "give --adapt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "--gallery", str(small_set), "--adapt", "--adapt-labels", "0"])
    assert "must be 1 or more, not 0" in capsys.readouterr().err
