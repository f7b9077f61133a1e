"""One tiny image costs no gigabytes, and one bad file is one refused file (issue #16).

A 1 x 60,000 PNG is a few hundred bytes; padded to a square before resizing it was 3.6 GB (grey,
three times that in colour). Memory is measured with tracemalloc, which sees numpy's and the
OpenCV bindings' arrays: the bound (64 MB) is far above what preparing any image now takes (a few
MB) and far below what padding the strip took.
"""

import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from nauplius.core import preprocess
from nauplius.core.image_probe import DEFAULT_MAX_SIDE
from services.embedder.card import load_card
from services.embedder.config import DEFAULT_MODEL
from tests.support.data import first_images
from tests.support.embedder import encode
from tests.support.images import resize_failing_on, strip_png
from tests.support.service_key import SERVICE_HEADERS
from tests.support.services import embedder_app

PEAK_BOUND = 64 * 1024 * 1024


# Named width x height, as the refusals name them.
STRIPS = {"60000x1 grey": strip_png((1, 60_000)), "1x60000 grey": strip_png((60_000, 1)),
          "60000x1 colour": strip_png((1, 60_000, 3))}


@asynccontextmanager
async def embedder(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = embedder_app(**settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://embedder",
        headers=SERVICE_HEADERS,
    ) as client:
        yield client


@contextmanager
def peak_growth() -> Iterator[list[int]]:
    """Bytes allocated at the peak above those allocated at the start, once the block ends."""
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    measured: list[int] = []
    try:
        yield measured
    finally:
        measured.append(tracemalloc.get_traced_memory()[1] - start)
        tracemalloc.stop()


def as_files(named: dict[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (f"{name}.png", data, "image/png")) for name, data in named.items()]


def test_the_strips_are_a_few_hundred_bytes():
    assert all(len(data) < 1_000 for data in STRIPS.values())


async def test_strips_over_the_longest_side_are_refused_naming_the_limit():
    daphnia = first_images("zoolake/daphnia", 1)[0].read_bytes()
    async with embedder() as client:
        with peak_growth() as peak:
            answer = await client.post("/v1/embed", files=[
                *as_files(STRIPS), ("files", ("daphnia.jpg", daphnia, "image/jpeg"))])
    assert answer.status_code == 200, answer.text
    *refused, embedded = answer.json()["data"]
    for entry, name in zip(refused, STRIPS, strict=True):
        size = name.split()[0]
        assert entry["vector"] is None
        assert entry["error"] == (f"ImageTooLarge: image is {size} pixels: its longest side is "
                                  f"over the limit of {DEFAULT_MAX_SIDE} pixels")
    assert embedded["error"] is None and embedded["vector"] is not None
    assert peak[0] < PEAK_BOUND


@pytest.mark.parametrize("name", list(STRIPS))
async def test_a_strip_within_the_limits_is_embedded_in_bounded_memory(name):
    async with embedder(max_side=60_000) as client:
        with peak_growth() as peak:
            answer = await client.post("/v1/embed", files=as_files({name: STRIPS[name]}))
    assert answer.status_code == 200, answer.text
    [entry] = answer.json()["data"]
    assert entry["error"] is None and len(entry["vector"]) == 1280
    assert peak[0] < PEAK_BOUND, f"embedding a {len(STRIPS[name])}-byte strip took {peak[0]} bytes"


@pytest.mark.parametrize("shape", [(1, 60_000), (60_000, 1), (1, 60_000, 3), (60_000, 1, 3)])
def test_preparing_a_strip_makes_nothing_larger_than_a_few_model_inputs(shape):
    card = load_card(DEFAULT_MODEL)
    image = preprocess.decode_image(strip_png(shape), 50_000_000, max_side=60_000)
    with peak_growth() as peak:
        x = preprocess.prepare(image, card)
    assert x.shape == (3, *card.input_size)
    background = (230 / 255 - 0.5) / 0.5
    assert x.min() < background - 0.1  # the dark organism is still there, a 1 px line thinned
    model_input = 3 * card.input_size[0] * card.input_size[1]  # bytes, uint8
    assert peak[0] < 2 * preprocess.PAD_SCALE**2 * model_input


async def test_a_batch_with_a_fault_a_truncated_and_a_garbage_file_embeds_the_others(monkeypatch):
    good = [path.read_bytes() for path in first_images("zoolake/daphnia", 1)
            + first_images("ndsb/amphipods", 1)]
    # A real image whose (padded) pixels make OpenCV fail: a fault no file causes on purpose.
    faulty = encode(".png", np.full((41, 97, 3), 200, np.uint8))
    monkeypatch.setattr(cv2, "resize", resize_failing_on((97, 97)))
    files = [("files", ("a.jpg", good[0], "image/jpeg")),
             ("files", ("fault.png", faulty, "image/png")),
             ("files", ("cut.jpg", good[1][: len(good[1]) // 2], "image/jpeg")),
             ("files", ("garbage.jpg", bytes(range(256)) * 8, "image/jpeg")),
             ("files", ("b.jpg", good[1], "image/jpeg"))]
    async with embedder() as client:
        answer = await client.post("/v1/embed", files=files)
        alone = [(await client.post("/v1/embed", files=[files[i]])).json()["data"][0]["vector"]
                 for i in (0, 4)]
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    errors = [entry["error"] for entry in data]
    assert errors[0] is None and errors[4] is None
    assert errors[1] == ("UndecodableImage: could not be decoded or prepared for the model "
                         "(error: OpenCV(5.0.0) resize.cpp:4158: error: (-4:Insufficient memory) "
                         "Failed to allocate 129600000000 bytes in function 'OutOfMemoryError')")
    assert errors[2].startswith("UndecodableImage: ") and "Truncated" in errors[2]
    assert errors[3].startswith("UndecodableImage: not an image")
    assert all(entry["vector"] is None for entry in data[1:4])
    np.testing.assert_allclose([data[0]["vector"], data[4]["vector"]], alone, atol=1e-5)
