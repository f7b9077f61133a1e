"""Any ONNX model with a card loads the same way: a tiny grey model with a fixed batch of 1."""

import hashlib
import json

import numpy as np
import pytest

from nauplius.core.preprocess import decode_image
from services.embedder.model import Embedder
from tests.support.data import first_images

onnx = pytest.importorskip("onnx")


def tiny_grey_model(path, filters: int = 4, size: int = 32) -> np.ndarray:
    """Conv 3x3 (fixed random weights) -> ReLU -> global average pool, output (1, filters, 1, 1)."""
    weights = np.random.default_rng(7).normal(size=(filters, 1, 3, 3)).astype(np.float32)
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Conv", ["image", "w"], ["conv"], pads=[1, 1, 1, 1]),
         onnx.helper.make_node("Relu", ["conv"], ["relu"]),
         onnx.helper.make_node("GlobalAveragePool", ["relu"], ["embedding"])],
        "tiny",
        [onnx.helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [1, 1, size, size])],
        [onnx.helper.make_tensor_value_info("embedding", onnx.TensorProto.FLOAT, [1, filters, 1, 1])],
        [onnx.numpy_helper.from_array(weights, "w")],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    card = {
        "name": "tiny-grey", "architecture": "one conv layer", "source_weights": "random",
        "licence": "MIT", "training_data": "none", "input_size": [size, size],
        "colour_mode": "grey", "mean": [0.5], "std": [0.25], "output_dim": filters,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "exported_with": "onnx.helper",
        "metrics": {},
    }
    path.with_suffix(".json").write_text(json.dumps(card))
    return weights


def test_fixed_batch_grey_model_embeds_one_at_a_time(tmp_path):
    model = tmp_path / "tiny-grey.onnx"
    tiny_grey_model(model)
    embedder = Embedder(model, threads=1, batch_size=8)
    assert embedder.card.name == "tiny-grey" and embedder.batch_size == 1
    images = [decode_image(p.read_bytes(), 10**8)
              for p in first_images("zoolake/daphnia", 2) + first_images("ndsb/amphipods", 1)]
    vectors = embedder.embed_images(images)
    assert vectors.shape == (3, 4) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([embedder.embed_images([image]) for image in images])
    np.testing.assert_allclose(vectors, one_by_one, atol=1e-6)
