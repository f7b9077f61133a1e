"""A query by image that the embedder refuses is a 422 naming the reason (issue #16): a strip
of a few hundred bytes over the longest side, a truncated file, or one whose pixels make OpenCV
fail (cv2.resize raising as when it cannot allocate: the one fault no real file causes). The
gateway runs over the real services in-process (the catalog names the active model version)."""

from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from gateway.config import GatewaySettings
from nauplius.core.image_probe import DEFAULT_MAX_SIDE
from tests.support.data import first_images
from tests.support.embedder import encode
from tests.support.gateway import running_gateway
from tests.support.images import resize_failing_on, strip_png
from tests.support.services import in_process_services


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(embedder_url="http://embedder", search_url="http://search",
                               catalog_url="http://catalog", auth="off")
    async with (in_process_services(tmp_path, "nauplius_refusal_test") as router,
                running_gateway(settings, router) as client):
        yield client


def cut_jpeg() -> bytes:
    data = first_images("zoolake/daphnia", 1)[0].read_bytes()
    return data[: len(data) // 2]


@pytest.mark.parametrize(("make", "reason"), [
    (lambda: strip_png((1, 60_000)), "ImageTooLarge: image is 60000x1 pixels: its longest side "
                                     f"is over the limit of {DEFAULT_MAX_SIDE} pixels"),
    (lambda: strip_png((60_000, 1, 3)), "ImageTooLarge: image is 1x60000 pixels"),
    (cut_jpeg, "UndecodableImage: "),
    (lambda: encode(".png", np.full((41, 97, 3), 200, np.uint8)),
     "UndecodableImage: could not be decoded or prepared for the model (error: OpenCV"),
], ids=["wide strip", "tall colour strip", "truncated", "opencv fault"])
async def test_a_refused_query_image_is_a_422_naming_the_reason(gateway, monkeypatch, make, reason):
    monkeypatch.setattr(cv2, "resize", resize_failing_on((97, 97)))
    answer = await gateway.post("/api/v1/search", files={"file": ("q.png", make(), "image/png")})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(f"query image refused: {reason}")
