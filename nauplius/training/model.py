"""The network being fine-tuned: a pretrained trunk (what gets exported) plus a cosine-softmax head
(what gets dropped).

Why a normalised (CosFace) head: its logits are s * cos(feature, class centre) minus a margin for
the true class, so training pulls each image's pooled feature towards its class *direction* and
pushes the classes apart by angle, which is exactly what the embedder's cosine search compares.
A plain softmax head also rewards feature length and bias terms that cosine search throws away.
Label smoothing keeps the many look-alike and "unknown/detritus" classes from being over-fitted.
"""
from __future__ import annotations

import torch
from torch import nn

from nauplius.training.export import EXPORTS

BASES = {
    "efficientnet-lite0": "efficientnet-lite0-imagenet",
    "efficientnet-lite1": "efficientnet-lite1-imagenet",
    "efficientnet-lite2": "efficientnet-lite2-imagenet",
    "resnet50": "resnet50-imgsim",
}


def base_spec(base: str):
    if base not in BASES:
        raise ValueError(f"unknown base {base!r}; known: {', '.join(BASES)}")
    return EXPORTS[BASES[base]](None)


def trunk_stages(base: str, trunk: nn.Module) -> list[nn.Module]:
    """The trunk's stages from input to output, to freeze the first ones."""
    if base.startswith("efficientnet-lite"):
        net = trunk.get_submodule("trunk")
        part = net.get_submodule
        return [nn.ModuleList([part("_conv_stem"), part("_bn0")]), *part("_blocks").children(),
                nn.ModuleList([part("_conv_head"), part("_bn1")])]
    part = trunk.get_submodule
    return [nn.ModuleList([part("conv1"), part("bn1")]), part("layer1"), part("layer2"),
            part("layer3"), part("layer4")]


def freeze_stages(base: str, trunk: nn.Module, n: int) -> list[nn.Module]:
    """Freeze the weights of the first n stages; returns them, to be kept in eval mode (their
    batch-norm statistics stay the pretrained ones) by `train_mode`."""
    frozen = trunk_stages(base, trunk)[:n]
    for stage in frozen:
        for p in stage.parameters():
            p.requires_grad_(False)
    return frozen


def train_mode(model: nn.Module, frozen: list[nn.Module]) -> None:
    model.train()
    for stage in frozen:
        stage.eval()


def interpolate_with_base(spec, trunk: nn.Module, alpha: float) -> nn.Module:
    """WiSE-FT (Wortsman et al., CVPR 2022): a new trunk whose every weight and batch-norm statistic
    is alpha x the fine-tuned one + (1 - alpha) x the pretrained one. Fine-tuning on one
    instrument's images specialises the trunk to that instrument; the blend keeps most of the gain
    there and much of the pretrained features' generality elsewhere."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"the interpolation weight must lie in [0, 1], not {alpha}")
    device = next(trunk.parameters()).device
    blended = spec.build().to(device, memory_format=torch.channels_last)
    pretrained = blended.state_dict()
    blended.load_state_dict({
        key: alpha * tuned + (1.0 - alpha) * pretrained[key] if tuned.is_floating_point() else tuned
        for key, tuned in trunk.state_dict().items()})
    return blended.eval()


class CosineHead(nn.Module):
    """CosFace: logits = scale * (cos(x, w_c) - margin * [c == label])."""

    def __init__(self, dim: int, n_classes: int, scale: float = 30.0, margin: float = 0.2):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_classes, dim) * 0.01)
        self.scale, self.margin = scale, margin

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cos = nn.functional.linear(nn.functional.normalize(features),
                                   nn.functional.normalize(self.weight))
        if labels is not None:
            cos = cos - self.margin * nn.functional.one_hot(labels, cos.shape[1]).to(cos.dtype)
        return self.scale * cos
