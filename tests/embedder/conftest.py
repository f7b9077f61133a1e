"""Embedder fixtures: the shipped model loaded once, a real ZooLake JPEG."""

from pathlib import Path

import pytest

from services.embedder.model import Embedder
from tests.support.data import first_images
from tests.support.embedder import MODEL


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder(MODEL, threads=2, batch_size=32)


@pytest.fixture(scope="session")
def zoolake_jpeg() -> Path:
    return first_images("zoolake/daphnia")[0]
