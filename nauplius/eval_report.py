"""`nauplius eval --report DIR`: one self-contained HTML page a taxonomist can read.

Per-class top-1 as a bar chart, the top-1 confusion matrix as a picture (both inline SVG) and the
worst failures as thumbnails: each query beside its nearest neighbours, wrong ones outlined red.
No chart library: plain SVG, thumbnails inlined as base64 JPEG.
"""
from __future__ import annotations

import base64
import html
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from nauplius.training.datasets import ImageFile

THUMB = 96
FAILURES = 24
NEIGHBOURS_SHOWN = 5


def write_report(folder: Path, result: dict, query_files: list[ImageFile],
                 gallery_files: list[ImageFile], neighbours: list[list[tuple[int, float]]]) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    classes = sorted({f.taxon for f in gallery_files} | {f.taxon for f in query_files})
    predicted = [gallery_files[hits[0][0]].taxon if hits else None for hits in neighbours]
    page = PAGE.format(
        title=html.escape(f"{result['model']}: {result['metric']}, {result['mode']}"),
        summary=_summary(result),
        bars=_bar_chart(result["per_class_top1"]),
        confusion=_confusion_matrix(classes, [f.taxon for f in query_files], predicted),
        failures=_failures(query_files, gallery_files, neighbours))
    path = folder / "index.html"
    path.write_text(page)
    return path


def _summary(result: dict) -> str:
    rows = [("queries", result["n_queries"]), ("gallery images", result["n_gallery"]),
            ("classes", result["n_classes"]), ("top-1", f"{result['top1']:.4f}"),
            ("5-NN vote", f"{result['vote5']:.4f}"),
            (f"precision@{result['k']}", f"{result['precision_at_k']:.4f}"),
            ("mean per-class top-1", f"{result['mean_class_top1']:.4f}")]
    return "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows)


def _bar_chart(per_class: dict[str, float]) -> str:
    row, label_w, bar_w = 16, 190, 360
    items = sorted(per_class.items(), key=lambda kv: kv[1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 60}" '
             f'height="{row * len(items) + 24}" font-family="sans-serif" font-size="11">']
    for i, (label, value) in enumerate(items):
        y = i * row
        colour = "#c0392b" if value < 0.5 else "#e67e22" if value < 0.8 else "#27ae60"
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">'
                     f'{html.escape(label)}</text>'
                     f'<rect x="{label_w}" y="{y + 2}" width="{value * bar_w:.1f}" height="{row - 4}"'
                     f' fill="{colour}"><title>{html.escape(label)}: {value:.3f}</title></rect>'
                     f'<text x="{label_w + value * bar_w + 4:.1f}" y="{y + 12}">{value:.2f}</text>')
    y = row * len(items) + 4
    for tick in (0.0, 0.5, 1.0):
        x = label_w + tick * bar_w
        parts.append(f'<line x1="{x}" y1="0" x2="{x}" y2="{y}" stroke="#999" stroke-dasharray="2"/>'
                     f'<text x="{x}" y="{y + 14}" text-anchor="middle">{tick:.1f}</text>')
    return "".join(parts) + "</svg>"


def _confusion_matrix(classes: list[str], truth: list[str], predicted: list[str | None]) -> str:
    """Rows: true class; columns: the class of the nearest neighbour; shade: share of the row."""
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), int)
    for t, p in zip(truth, predicted, strict=True):
        if p is not None:
            counts[index[t], index[p]] += 1
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    cell, margin = max(6, min(16, 640 // max(len(classes), 1))), 190
    size = margin + cell * len(classes)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 10}" height="{size + 10}" '
             f'font-family="sans-serif" font-size="{min(11, cell)}">']
    for i, label in enumerate(classes):
        parts.append(f'<text x="{margin - 4}" y="{margin + i * cell + cell - 3}" '
                     f'text-anchor="end">{html.escape(label)}</text>'
                     f'<text transform="translate({margin + i * cell + cell - 3},{margin - 4}) '
                     f'rotate(-90)">{html.escape(label)}</text>')
    for i, j in zip(*np.nonzero(counts), strict=True):
        share = shares[i, j]
        colour = f"rgb({int(255 - 200 * share)},{int(255 - 200 * share)},255)" if i == j else \
            f"rgb(255,{int(255 - 220 * share)},{int(255 - 220 * share)})"
        parts.append(f'<rect x="{margin + j * cell}" y="{margin + i * cell}" width="{cell}" '
                     f'height="{cell}" fill="{colour}"><title>{html.escape(classes[i])} -&gt; '
                     f'{html.escape(classes[j])}: {counts[i, j]} ({share:.0%})</title></rect>')
    parts.append(f'<rect x="{margin}" y="{margin}" width="{cell * len(classes)}" '
                 f'height="{cell * len(classes)}" fill="none" stroke="#666"/>')
    return "".join(parts) + "</svg>"


def _thumbnail(path: Path) -> str:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return ""
    scale = THUMB / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode() if ok else ""


def _figure(file: ImageFile, caption: str, css: str) -> str:
    return (f'<figure class="{css}"><img src="{_thumbnail(file.path)}" '
            f'alt="{html.escape(file.path.name)}" title="{html.escape(str(file.path))}">'
            f'<figcaption>{caption}</figcaption></figure>')


def _failures(query_files: list[ImageFile], gallery_files: list[ImageFile],
              neighbours: list[list[tuple[int, float]]]) -> str:
    """The queries whose top-1 is wrong, most wrong neighbours among the first five first, then by
    how close the wrong nearest neighbour was."""
    failed = []
    for q, hits in enumerate(neighbours):
        labels = [gallery_files[i].label for i, _ in hits[:NEIGHBOURS_SHOWN]]
        if labels and labels[0] != query_files[q].label:
            wrong = sum(label != query_files[q].label for label in labels)
            failed.append((-wrong, -hits[0][1], q))
    rows = []
    for _, _, q in sorted(failed)[:FAILURES]:
        query = query_files[q]
        cells = [_figure(query, f"<b>{html.escape(query.taxon)}</b><br>query", "query")]
        for i, score in neighbours[q][:NEIGHBOURS_SHOWN]:
            g = gallery_files[i]
            css = "right" if g.label == query.label else "wrong"
            cells.append(_figure(g, f"{html.escape(g.taxon)}<br>{score:.3f}", css))
        rows.append(f'<div class="row">{"".join(cells)}</div>')
    confused = Counter(gallery_files[neighbours[q][0][0]].taxon for _, _, q in failed)
    note = (f"<p>{len(failed)} queries have a wrong nearest neighbour; most often mistaken for: "
            + ", ".join(f"{html.escape(c)} ({n})" for c, n in confused.most_common(5)) + "</p>"
            if failed else "<p>No query has a wrong nearest neighbour.</p>")
    return note + "".join(rows)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ text-align: left; padding: 2px 10px; }}
.row {{ display: flex; gap: 6px; margin: 8px 0; align-items: flex-start; }}
figure {{ margin: 0; width: {thumb}px; text-align: center; font-size: 11px; }}
figure img {{ max-width: {thumb}px; max-height: {thumb}px; border: 3px solid transparent; }}
figure.query img {{ border-color: #2c3e50; }} figure.right img {{ border-color: #27ae60; }}
figure.wrong img {{ border-color: #c0392b; }}
</style></head><body>
<h1>{title}</h1>
<table>{summary}</table>
<h2>Top-1 accuracy per class</h2>
{bars}
<h2>Confusion of the nearest neighbour</h2>
<p>Rows: the query's class; columns: its nearest neighbour's class. Blue: right; red: wrong;
darker: a larger share of the row. Hover a cell for its count.</p>
{confusion}
<h2>Worst failures</h2>
<p>Each query (dark frame) beside its nearest neighbours with their class and score: green the
same class, red another.</p>
{failures}
</body></html>
""".replace("{thumb}", str(THUMB))
