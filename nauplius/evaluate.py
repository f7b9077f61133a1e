"""`nauplius eval`: retrieval accuracy of an embedding model on folders laid out `<class>/<image>`.

Embeds with the embedder's own code and searches with the real search engine (Qdrant Edge, HNSW built
by optimize()), so the figures are those the running system gives.
"""
from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nauplius.datasets import ImageFile, labelled_images
from nauplius.retrieval_metrics import retrieval_scores
from services.embedder.config import EmbedderSettings
from services.embedder.model import Embedder
from services.embedder.preprocess import decode_image, prepare
from services.search.backends.base import PointRecord
from services.search.backends.edge import EdgeIndex

EMBED_CHUNK = 64


def embed_files(embedder: Embedder, files: list[ImageFile], max_pixels: int,
                progress: bool, what: str) -> np.ndarray:
    vectors = []
    with tqdm(total=len(files), unit="img", desc=f"embedding {what}", disable=not progress) as bar:
        for start in range(0, len(files), EMBED_CHUNK):
            chunk = files[start:start + EMBED_CHUNK]
            batch = np.stack([prepare(decode_image(f.path.read_bytes(), max_pixels), embedder.card)
                              for f in chunk])
            vectors.append(embedder.embed_prepared(batch))
            bar.update(len(chunk))
    return np.concatenate(vectors)


async def search_all(gallery: np.ndarray, queries: np.ndarray | None, k: int,
                     metric: str) -> list[list[tuple[int, float]]]:
    """Neighbours (gallery index, score) of each query; leave-one-out when queries is None."""
    with tempfile.TemporaryDirectory(prefix="nauplius-eval-") as folder:
        index = EdgeIndex.open(Path(folder))
        try:
            await index.ensure_collection("eval", gallery.shape[1])
            for start in range(0, len(gallery), 1000):
                await index.upsert("eval", [PointRecord(i, v.tolist()) for i, v in
                                            enumerate(gallery[start:start + 1000], start)])
            await index.optimize("eval")
            if queries is None:
                searches = [index.query("eval", point_id=i, k=k, metric=metric)
                            for i in range(len(gallery))]
            else:
                searches = [index.query("eval", vector=v.tolist(), k=k, metric=metric)
                            for v in queries]
            results = [await search for search in searches]
        finally:
            await index.close()
    return [[(hit.id, hit.score) for hit in hits] for hits in results]


def evaluate(gallery_dir: Path, queries_dir: Path | None = None, k: int = 10,
             metric: str = "cosine", model_path: Path | None = None, progress: bool = True) -> dict:
    settings = EmbedderSettings()
    embedder = Embedder(model_path or settings.model_path, settings.threads, settings.batch_size)
    gallery_files = labelled_images(gallery_dir)
    query_files = labelled_images(queries_dir) if queries_dir else None

    started = time.perf_counter()
    gallery = embed_files(embedder, gallery_files, settings.max_pixels, progress, "gallery")
    queries = (embed_files(embedder, query_files, settings.max_pixels, progress, "queries")
               if query_files else None)
    embed_seconds = time.perf_counter() - started
    n_embedded = len(gallery_files) + len(query_files or [])

    started = time.perf_counter()
    neighbours = asyncio.run(search_all(gallery, queries, k, metric))
    search_seconds = time.perf_counter() - started

    truth = [f.label for f in (query_files or gallery_files)]
    gallery_labels = [f.label for f in gallery_files]
    scores = retrieval_scores(
        truth,
        [[gallery_labels[i] for i, _ in hits] for hits in neighbours],
        [[score for _, score in hits] for hits in neighbours],
        metric, k)
    return {
        **scores,
        "k": k,
        "metric": metric,
        "model": embedder.card.name,
        "mode": "queries" if query_files else "leave-one-out",
        "n_gallery": len(gallery_files),
        "n_queries": len(truth),
        "n_classes": len(set(gallery_labels)),
        "images_per_s": n_embedded / embed_seconds,
        "query_ms": 1000 * search_seconds / len(truth),
    }


def format_report(result: dict) -> str:
    return "\n".join([
        f"model {result['model']}, {result['metric']}, {result['mode']}: "
        f"{result['n_queries']} queries against {result['n_gallery']} gallery images "
        f"in {result['n_classes']} classes",
        f"  top-1 accuracy          {result['top1']:.4f}",
        f"  5-NN weighted vote      {result['vote5']:.4f}",
        f"  precision@{result['k']:<13d} {result['precision_at_k']:.4f}",
        f"  mean per-class top-1    {result['mean_class_top1']:.4f}",
        f"  embedding               {result['images_per_s']:.1f} images/s",
        f"  search                  {result['query_ms']:.2f} ms/query",
    ])
