from services.search.backends.base import (
    PAYLOAD_KEYS,
    CollectionInfo,
    Hit,
    Metric,
    PointRecord,
    VectorIndex,
)

__all__ = ["PAYLOAD_KEYS", "CollectionInfo", "Hit", "Metric", "PointRecord", "VectorIndex"]
