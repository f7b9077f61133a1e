"""Which light head to fit on a project's stored vectors (issue #17): the shipped shrunk linear
discriminant (`nauplius.core.adaptation.fit_head`, cross-validated) beside two metric-learning
heads, scikit-learn's Neighbourhood Components Analysis (on a PCA reduction, started from its
LDA) and a linear cosine-softmax head (CosFace margin, the trainer's loss, fitted with torch).
Each is fitted on at most N labels per class of the gallery part of `--holdout 0.2 --seed 0`
and scored by kNN top-1 of the held-out queries against the whole gallery, plain vectors beside
it, for docs/benchmarks.md ("Which head").

    .venv/bin/python benchmarks/adaptation_heads.py --model models/efficientnet-lite0-imagenet.onnx \\
        --set ndsb --labels 25 all
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nauplius.core.adaptation import fit_head, subsample_per_class
from nauplius.evaluate import embed_files
from nauplius.training.datasets import labelled_images
from nauplius.training.splits import stratified_split
from services.embedder.config import EmbedderSettings
from services.embedder.model import Embedder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def top1(gallery: np.ndarray, queries: np.ndarray, gallery_labels: np.ndarray,
         query_labels: np.ndarray) -> float:
    nearest = np.argmax(unit(queries) @ unit(gallery).T, axis=1)
    return round(float((gallery_labels[nearest] == query_labels).mean()), 4)


def nca_head(x: np.ndarray, y: np.ndarray, pca_dims: int, iterations: int):
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    pca = PCA(min(pca_dims, len(x) - 1), random_state=0).fit(unit(x))
    components = min(len(set(y.tolist())) - 1, pca.n_components_)
    nca = NeighborhoodComponentsAnalysis(n_components=components, init="lda",
                                         max_iter=iterations, random_state=0)
    nca.fit(pca.transform(unit(x)), y)
    return lambda v: nca.transform(pca.transform(unit(v)))


def cosine_softmax_head(x: np.ndarray, y: np.ndarray, dims: int, steps: int):
    import torch

    torch.manual_seed(0)
    classes = {c: i for i, c in enumerate(sorted(set(y.tolist())))}
    inputs = torch.tensor(unit(x))
    targets = torch.tensor([classes[c] for c in y.tolist()])
    mean = inputs.mean(0)
    linear = torch.nn.Linear(x.shape[1], dims, bias=False)
    proxies = torch.nn.Parameter(torch.randn(len(classes), dims) * 0.01)
    optimiser = torch.optim.AdamW([*linear.parameters(), proxies], lr=1e-3, weight_decay=1e-4)
    normalize = torch.nn.functional.normalize
    for _ in range(steps):  # full batch: a few thousand rows
        cosines = normalize(linear(inputs - mean), dim=1) @ normalize(proxies, dim=1).T
        margin = 0.2 * torch.nn.functional.one_hot(targets, len(classes))
        loss = torch.nn.functional.cross_entropy(16 * (cosines - margin), targets,
                                                 label_smoothing=0.1)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    def transform(v: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return normalize(linear(torch.tensor(unit(v)) - mean), dim=1).numpy()
    return transform


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--set", required=True, help="a folder of ../shared/data")
    parser.add_argument("--labels", nargs="+", default=["25", "all"])
    parser.add_argument("--heads", nargs="+", default=["lda", "nca", "cosine-softmax"])
    args = parser.parse_args()
    settings = EmbedderSettings()
    embedder = Embedder(args.model, settings.threads, settings.batch_size, tta="none")
    split = stratified_split(labelled_images(DATA / args.set), 0.2, 0)
    gallery = embed_files(embedder, split.train, settings.max_pixels, True, "gallery")
    queries = embed_files(embedder, split.validation, settings.max_pixels, True, "queries")
    gl = np.array([f.taxon for f in split.train], dtype=object)
    ql = np.array([f.taxon for f in split.validation], dtype=object)
    base = {"model": args.model.stem, "set": args.set, "queries": len(ql)}
    print(json.dumps({**base, "head": "plain", "top1": top1(gallery, queries, gl, ql)}), flush=True)
    for n in args.labels:
        rows = (np.arange(len(gl)) if n == "all"
                else subsample_per_class(gl.tolist(), int(n), 0))
        x, y = gallery[rows], gl[rows]
        for head in args.heads:
            started = time.perf_counter()
            if head == "lda":
                fitted = fit_head(x, y.tolist())
                transform, about = fitted.transform, fitted.description.get("parameters")
            elif head == "nca":
                transform, about = nca_head(x, y, 256, 50), {"pca": 256, "max_iter": 50}
            else:
                transform, about = cosine_softmax_head(x, y, 256, 300), {"dims": 256, "steps": 300}
            score = top1(transform(gallery), transform(queries), gl, ql)
            print(json.dumps({**base, "head": head, "labels_per_class": n, "labels": len(rows),
                              "top1": score, "parameters": about,
                              "fit_s": round(time.perf_counter() - started, 1)}), flush=True)


if __name__ == "__main__":
    main()
