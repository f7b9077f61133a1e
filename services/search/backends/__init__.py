from services.search.backends.base import PAYLOAD_KEYS, Metric, PointRecord, VectorIndex

__all__ = ["PAYLOAD_KEYS", "Metric", "PointRecord", "VectorIndex"]
