"""`nauplius model train` on a handful of real images for one short epoch: no real training here
(that and its accuracy figures live in benchmarks/retrieval.py)."""
# ruff: noqa: E402 (the imports after pytest.importorskip("torch") load torch)
import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nauplius.cli import main
from nauplius.core.preprocess import decode_image, prepare
from nauplius.training.augment import Augmentation
from nauplius.training.data import AugmentedImages
from nauplius.training.model import base_spec, interpolate_with_base
from nauplius.training.train import TrainConfig, checkpoint_path, train, training_loader
from services.embedder.card import load_card
from services.embedder.model import Embedder

CLASSES = ["daphnia", "fish", "ceratium"]
PER_CLASS = 5


@pytest.fixture(scope="module")
def tiny_set(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "zoolake"
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for path in sorted((shared_data / "zoolake" / name).iterdir())[:PER_CLASS]:
            shutil.copy(path, root / name / path.name)
    return root


@pytest.fixture(scope="module")
def trained(tiny_set, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "tiny-lite0"
    return train(TrainConfig(data=[tiny_set], epochs=1, out=out, resolution=64, batch_size=6,
                             frozen_stages=12), progress=False)


def test_the_card_is_complete_and_describes_the_file(trained):
    onnx_path = trained.onnx_path
    card = load_card(onnx_path)  # checks the sha256 against the file
    assert card.input_size == (64, 64) and card.output_dim == 1280
    raw = json.loads(onnx_path.with_suffix(".json").read_text())
    training = raw["training"]
    assert training["base"] == "efficientnet-lite0"
    assert "efficientnet-lite0-57934424.pth" in training["base_weights"]
    assert training["epochs"] == 1 and training["resolution"] == 64
    (data,) = training["data_sets"]
    assert data["name"] == "zoolake" and data["n_images"] == 15 and data["n_classes"] == 3
    assert data["n_train"] + data["n_validation"] == 15 and data["n_validation"] == 3
    assert len(data["file_list_sha256"]) == 64 and data["train_sha256"] != data["validation_sha256"]
    assert training["split"]["seed"] == 0 and training["split"]["validation_fraction"] == 0.2
    assert {"rotation", "flips", "blur_p", "brightness", "contrast", "scale"} <= set(
        training["augmentations"])
    assert "cosine" in training["loss"].lower()
    assert training["sampling"].startswith("every training image once")
    validation = raw["metrics"]["validation"]["zoolake"]
    assert 0.0 <= validation["top1"] <= 1.0 and "mean_class_top1" in validation
    assert checkpoint_path(onnx_path.with_suffix("")).exists()
    assert training["history"][0]["seconds"] > 0


def test_worker_processes_augment_each_epoch_afresh(trained, tiny_set):
    """With data-loading workers (the GPU default), epoch 2 must not replay epoch 1's images."""
    paths = sorted(tiny_set.rglob("*.jpeg"))[:4]
    images = [decode_image(p.read_bytes(), 10_000_000) for p in paths]
    # each image its own target, so a batch says which image each sample is
    dataset = AugmentedImages(images, list(range(len(images))), load_card(trained.onnx_path),
                              Augmentation(), seed=0)
    loader = training_loader(dataset, TrainConfig(data=[], batch_size=len(images), workers=2),
                             torch.device("cpu"))

    def one_epoch(epoch: int) -> np.ndarray:
        dataset.epoch = epoch
        ((x, y),) = list(loader)
        return x[torch.argsort(y)].numpy()

    first, second, first_again = one_epoch(0), one_epoch(1), one_epoch(0)
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(first, first_again)  # seeded by (seed, epoch, index)


def test_balanced_sampling_draws_every_class_equally_often():
    """One class with 90 images, one with 10: balanced, each fills about half of an epoch."""
    targets = [0] * 90 + [1] * 10
    dataset = AugmentedImages([np.zeros((8, 8, 3), np.uint8)] * 100, targets, None, None, seed=0)
    drawn = {}
    for balanced in (False, True):
        loader = training_loader(dataset, TrainConfig(data=[], batch_size=100, balanced=balanced,
                                                      workers=0), torch.device("cpu"))
        indices = [i for _ in range(20) for i in loader.sampler]  # 20 epochs of draws
        drawn[balanced] = np.mean([targets[i] for i in indices])
    assert drawn[False] == pytest.approx(0.10)  # every image once per epoch
    assert 0.45 < drawn[True] < 0.55


def test_onnx_embeddings_match_pytorch(trained, tiny_set):
    result = trained
    embedder = Embedder(result.onnx_path, threads=2)
    images = [decode_image(p.read_bytes(), 10**8) for p in sorted(tiny_set.rglob("*.jp*g"))]
    onnx_vectors = embedder.embed_images(images)
    batch = torch.from_numpy(np.stack([prepare(image, embedder.card) for image in images]))
    with torch.no_grad():
        torch_vectors = torch.nn.functional.normalize(result.trunk(batch)).numpy()
    assert np.abs(onnx_vectors - torch_vectors).max() < 1e-4


def test_interpolation_blends_every_weight_with_the_pretrained_one(trained):
    spec = base_spec("efficientnet-lite0")
    pretrained = spec.build().state_dict()
    tuned = trained.trunk.state_dict()
    half = interpolate_with_base(spec, trained.trunk, 0.5).state_dict()
    moved = [key for key in tuned if tuned[key].is_floating_point()
             and not torch.equal(tuned[key], pretrained[key])]
    assert moved  # the tiny run did train the unfrozen stages
    for key in moved:
        assert torch.allclose(half[key], (tuned[key] + pretrained[key]) / 2, atol=1e-6)
    untouched = interpolate_with_base(spec, trained.trunk, 0.0).state_dict()
    assert all(torch.equal(untouched[key], pretrained[key]) for key in moved)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        interpolate_with_base(spec, trained.trunk, 1.5)


def test_resume_continues_and_refuses_other_settings(trained, tiny_set, capsys):
    """Through the command line; runs last, as it trains the module's model one more epoch."""
    out = trained.onnx_path.with_suffix("")
    base = ["model", "train", "--data", str(tiny_set), "--out", str(out), "--resolution", "64",
            "--batch-size", "6", "--frozen-stages", "12"]
    assert main(base + ["--epochs", "1"]) == 2  # a checkpoint exists and --resume was not given
    assert "--resume" in capsys.readouterr().err
    assert main(base + ["--epochs", "2", "--lr", "0.01", "--resume"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(base + ["--epochs", "3", "--resume", "--validate-every", "5"]) == 0
    history = json.loads(trained.onnx_path.with_suffix(".json").read_text())["training"]["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    # Scored after epoch 1 (every epoch then) and after the last; not after epoch 2.
    assert ["zoolake" in h for h in history] == [True, False, True]


def test_a_finished_checkpoint_re_exports_as_a_blend(trained, tiny_set, capsys):
    """Runs after the resume test, on its finished 3-epoch checkpoint: nothing is trained again."""
    out = trained.onnx_path.with_suffix("")
    base = ["model", "train", "--data", str(tiny_set), "--out", str(out), "--resolution", "64",
            "--batch-size", "6", "--frozen-stages", "12", "--epochs", "3", "--resume"]
    assert main(base + ["--interpolate", "1.5"]) == 2
    assert "--interpolate must lie in [0, 1]" in capsys.readouterr().err
    assert main(base + ["--greyscale", "2"]) == 2
    assert "--greyscale must lie in [0, 1]" in capsys.readouterr().err
    assert main(base + ["--margin", "1"]) == 2
    assert "--margin must lie in [0, 1)" in capsys.readouterr().err
    assert main(base + ["--label-smoothing", "-0.1"]) == 2
    assert "--label-smoothing must lie in [0, 1)" in capsys.readouterr().err
    assert main(base + ["--interpolate", "0.5"]) == 0
    card = load_card(trained.onnx_path)  # the card's sha256 is the re-exported file's
    training = card.model_extra["training"]
    assert [h["epoch"] for h in training["history"]] == [1, 2, 3]
    assert training["interpolation"]["fine_tuned_weight"] == 0.5
    assert 0.0 <= card.metrics["validation"]["zoolake"]["top1"] <= 1.0
