"""The shipped model's features must tell plankton taxa apart: a guard against a broken export.

An export that swapped EfficientNet-Lite0's ReLU6 for Swish still matched its own (wrong) PyTorch
module to 1e-6 but scored 0.475 here; the correct export scores 0.875.
"""
import numpy as np

from nauplius.core.preprocess import decode_image
from services.embedder.config import DEFAULT_MODEL
from services.embedder.model import Embedder

CLASSES = ["asplanchna", "ceratium", "conochilus", "daphnia", "dinobryon", "fish", "fragilaria",
           "kellicottia", "paradileptus", "uroglena"]


def test_leave_one_out_top1_on_eighty_zoolake_images(shared_data):
    files = [(name, path) for name in CLASSES
             for path in sorted((shared_data / "zoolake" / name).iterdir())[:8]]
    labels = np.array([name for name, _ in files])
    vectors = Embedder(DEFAULT_MODEL, threads=2).embed_images(
        [decode_image(path.read_bytes(), 10**8) for _, path in files])
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    top1 = (labels[similarity.argmax(axis=1)] == labels).mean()
    assert top1 >= 0.8
