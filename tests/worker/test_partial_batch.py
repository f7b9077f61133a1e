"""One bad file in an ingest batch is one failed item with its reason; the rest are indexed
(issue #16). The worker runs over the real catalog (PostgreSQL), embedder (ONNX) and search
(Qdrant Edge) in-process; the one liberty is an OpenCV fault on one file's pixels (cv2.resize
raising, as it does when it cannot allocate), a fault no file causes on purpose."""

import cv2
import httpx
import numpy as np
import pytest

from nauplius.core.image_probe import DEFAULT_MAX_SIDE
from tests.support.catalog import Catalog, closed_job, job_status
from tests.support.data import zoolake_images
from tests.support.embedder import encode
from tests.support.images import resize_failing_on, strip_png
from tests.support.services import ServiceRouter
from tests.support.worker import worker_over


async def test_a_batch_with_bad_files_fails_them_alone_and_indexes_the_others(
    catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
):
    good = [(path.name, path.read_bytes()) for path in zoolake_images("daphnia", 2)]
    monkeypatch.setattr(cv2, "resize", resize_failing_on((97, 97)))
    bad = {
        "cut.jpg": (good[0][1][:400], "JPEG"),
        "notes.jpg": (b"plankton notes, not pixels" * 20, "not an image"),
        "strip.png": (strip_png((1, 60_000)),
                      f"60000x1 pixels: its longest side is over the limit of {DEFAULT_MAX_SIDE}"),
        "fault.png": (encode(".png", np.full((41, 97, 3), 200, np.uint8)),
                      "could not be decoded or prepared for the model (error: OpenCV"),
    }
    files = good + [(name, data) for name, (data, _) in bad.items()]
    job_id = await closed_job(catalog, files, [{"source": f"drop/{name}"} for name, _ in files])

    worker = worker_over(http)
    assert await worker.run_once()

    job = await job_status(catalog, job_id)
    assert job["finished"], job
    assert (job["counts"]["done"], job["counts"]["failed"]) == (2, 4), job
    errors = {entry["source"]: entry["error"] for entry in job["errors"]}
    assert set(errors) == {f"drop/{name}" for name in bad}
    for name, (_, reason) in bad.items():
        assert reason in errors[f"drop/{name}"], errors
        assert "gave up" not in errors[f"drop/{name}"]  # refused for what it is, not retried
    assert await catalog.row_count() == 2
    model = (await http.get("http://embedder/v1/model")).json()["name"]
    count = await http.get(f"http://search/v1/collections/{model}/count")
    assert count.json()["count"] == 2
