"""`nauplius eval`: retrieval accuracy of an embedding model on folders laid out `<class>/<image>`.

Embeds with the embedder's own code and searches with the real search engine (Qdrant Edge, HNSW built
by optimize()), so the figures are those the running system gives.
"""
from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from nauplius.core.preprocess import decode_image, prepare
from nauplius.hamming import hamming_search, hyperplanes
from nauplius.training.datasets import ImageFile, labelled_images
from nauplius.training.retrieval_metrics import retrieval_scores
from nauplius.training.splits import file_list_sha256, set_name, stratified_split
from services.embedder.config import EmbedderSettings
from services.embedder.model import Embedder
from services.search.backends.base import Metric, PointRecord
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
                     metric: Metric) -> list[list[tuple[int, float]]]:
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
             metric: Metric | Literal["hamming"] = "cosine", model_path: Path | None = None,
             progress: bool = True,
             bits: int = 512, rerank: int = 0, holdout: float | None = None, seed: int = 0,
             report_dir: Path | None = None, tta: str | None = None,
             embedding_cache: dict | None = None, adapt: bool = False,
             adapt_labels: int | None = None) -> dict:
    """Retrieval scores of the model on GALLERY_DIR (leave-one-out), on QUERIES_DIR against it, or,
    with `holdout`, on the held-out part of the gallery's seeded stratified split against the rest
    (the split `nauplius model train` validates on).

    `embedding_cache` (a dict kept by the caller) reuses the embeddings, and their measured cost,
    of an earlier call with the same model, TTA and files: several metrics, one embedding.

    `adapt` fits an adaptation head (nauplius.core.adaptation) on the gallery's vectors and
    labels only, on at most `adapt_labels` images per class when given, and searches gallery and
    queries in its space."""
    if metric == "hamming":
        hyperplanes(1, bits)  # a wrong length fails before anything is embedded
        if rerank < 0:
            raise ValueError(f"--rerank must be 0 or more, not {rerank}")
    settings = EmbedderSettings()
    embedder = Embedder(model_path or settings.model_path, settings.threads, settings.batch_size,
                        tta=tta or settings.tta)
    gallery_files = labelled_images(gallery_dir)
    if holdout is not None:
        if queries_dir is not None:
            raise ValueError("--holdout splits the gallery into gallery and queries: "
                             "give it no --queries")
        split = stratified_split(gallery_files, holdout, seed)
        check_not_trained_on(embedder.card, gallery_dir, gallery_files, split.validation)
        gallery_files, query_files = split.train, split.validation
    elif queries_dir is not None:
        query_files = labelled_images(queries_dir)
        check_not_trained_on(embedder.card, queries_dir, query_files, query_files)
    else:
        query_files = None
        check_not_trained_on(embedder.card, gallery_dir, gallery_files, gallery_files)
    if adapt_labels is not None and not adapt:
        raise ValueError("--adapt-labels sets how many labels --adapt learns from: give --adapt")
    if adapt and query_files is None:
        raise ValueError("--adapt learns from the gallery's labels and scores other images: "
                         "give --holdout or --queries")

    key = (embedder.card.sha256, embedder.tta, file_list_sha256(gallery_files),
           file_list_sha256(query_files) if query_files else None)
    if embedding_cache is not None and key in embedding_cache:
        gallery, queries, embed_seconds = embedding_cache[key]
    else:
        started = time.perf_counter()
        gallery = embed_files(embedder, gallery_files, settings.max_pixels, progress, "gallery")
        queries = (embed_files(embedder, query_files, settings.max_pixels, progress, "queries")
                   if query_files else None)
        embed_seconds = time.perf_counter() - started
        if embedding_cache is not None:
            embedding_cache[key] = (gallery, queries, embed_seconds)
    n_embedded = len(gallery_files) + len(query_files or [])
    gallery_labels = [f.taxon for f in gallery_files]
    head_report = None
    if adapt:
        assert queries is not None
        gallery, queries, head_report = adapt_to_gallery(gallery, gallery_labels, queries,
                                                         adapt_labels, seed)

    started = time.perf_counter()
    if metric == "hamming":
        neighbours = hamming_search(gallery, queries, k, bits, rerank, seed)
    else:
        neighbours = asyncio.run(search_all(gallery, queries, k, metric))
    search_seconds = time.perf_counter() - started

    truth = [f.taxon for f in (query_files or gallery_files)]
    scores = retrieval_scores(
        truth,
        [[gallery_labels[i] for i, _ in hits] for hits in neighbours],
        [[score for _, score in hits] for hits in neighbours],
        "euclidean" if metric == "euclidean" else "cosine", k)  # Hamming scores estimate cosines
    result = {
        **scores,
        "k": k,
        "metric": metric,
        **({"bits": bits, "rerank": rerank} if metric == "hamming" else {}),
        "model": embedder.card.name,
        "tta": embedder.tta,
        "mode": ("holdout" if holdout is not None else "queries" if query_files
                 else "leave-one-out"),
        **({"holdout": holdout, "seed": seed} if holdout is not None else {}),
        "n_gallery": len(gallery_files),
        "n_queries": len(truth),
        "n_classes": len(set(gallery_labels)),
        "images_per_s": n_embedded / embed_seconds,
        "embed_ms_per_image": 1000 * embed_seconds / n_embedded,
        "query_ms": 1000 * search_seconds / len(truth),
        **({"adapted": True, "head": head_report} if head_report is not None else {}),
    }
    if report_dir is not None:
        from nauplius.eval_report import write_report
        result["report"] = str(write_report(report_dir, result, query_files or gallery_files,
                                            gallery_files, neighbours))
    return result


def adapt_to_gallery(gallery: np.ndarray, gallery_labels: list[str], queries: np.ndarray,
                     per_class: int | None, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Gallery and queries in the space of a head fitted on the gallery's labels alone (at most
    `per_class` of each class, seeded), and the head's description. The queries' labels are not
    an argument: the head cannot see them."""
    from nauplius.core.adaptation import fit_head, subsample_per_class

    rows = (subsample_per_class(gallery_labels, per_class, seed) if per_class is not None
            else np.arange(len(gallery)))
    started = time.perf_counter()
    head = fit_head(gallery[rows], [gallery_labels[i] for i in rows], seed)
    report = {**head.description, "version": head.version,
              "labels_per_class": per_class if per_class is not None else "all",
              "fit_s": round(time.perf_counter() - started, 1)}
    return head.transform(gallery), head.transform(queries), report


def check_not_trained_on(card, query_dir: Path, query_set: list[ImageFile],
                         query_files: list[ImageFile]) -> None:
    """Refuse queries a fine-tuned model was trained on. Its card names each training set (by
    folder name and file-list hash) and the validation part held out of it: of such a set, only
    that part may be queried."""
    training = (card.model_extra or {}).get("training") or {}
    for trained in training.get("data_sets", []):
        same_set = (trained.get("name") == set_name(query_dir)
                    and trained.get("file_list_sha256") == file_list_sha256(query_set))
        if same_set and file_list_sha256(query_files) != trained.get("validation_sha256"):
            split = training.get("split", {})
            raise ValueError(
                f"model {card.name} was trained on most of these {trained['name']} images; "
                f"query only its held-out part: --holdout {split.get('validation_fraction')} "
                f"--seed {split.get('seed')}")


def format_report(result: dict) -> str:
    return "\n".join([
        f"model {result['model']}, {result['metric']}"
        + (f" {result['bits']} bits" + (f", re-rank {result['rerank']}" if result['rerank'] else "")
           if result['metric'] == "hamming" else "")
        + f", {result['mode']}: "
        f"{result['n_queries']} queries against {result['n_gallery']} gallery images "
        f"in {result['n_classes']} classes",
        f"  top-1 accuracy          {result['top1']:.4f}",
        f"  5-NN weighted vote      {result['vote5']:.4f}",
        f"  precision@{result['k']:<13d} {result['precision_at_k']:.4f}",
        f"  mean per-class top-1    {result['mean_class_top1']:.4f}",
        f"  embedding               {result['images_per_s']:.1f} images/s",
        f"  search                  {result['query_ms']:.2f} ms/query",
        *([f"  adapted                 {_head_line(result['head'])}"] if "head" in result else []),
        *([f"  report                  {result['report']}"] if "report" in result else []),
    ])


def _head_line(head: dict) -> str:
    cv = head["cross_validation"]
    learned = head["learned_from"]
    parameters = f" {head['parameters']}" if "parameters" in head else ""
    return (f"{head['kind']} head{parameters}, from {learned['images']} gallery "
            f"labels in {learned['classes']} classes; cross-validated top-1 "
            f"{cv['top1_plain']:.4f} -> {cv['top1_adapted']:.4f}")
