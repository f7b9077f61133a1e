"""Domain errors of the search service; routes map them to HTTP answers in one place."""


class SearchError(Exception):
    """Base of the errors below; the message is the answer's detail."""


class CollectionNotFound(SearchError):
    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} not found")


class PointNotFound(SearchError):
    def __init__(self, collection: str, point_id: int) -> None:
        super().__init__(f"point {point_id} not found in collection {collection!r}")


class DimensionMismatch(SearchError):
    """A vector whose length is not the collection's dim (422)."""

    def __init__(self, collection: str, expected: int, got: int, what: str = "vector") -> None:
        super().__init__(
            f"{what} has dimension {got} but collection {collection!r} has dimension {expected}"
        )


class CollectionDimensionConflict(SearchError):
    """The collection exists with another dim (409)."""

    def __init__(self, name: str, existing: int, asked: int) -> None:
        super().__init__(
            f"collection {name!r} already exists with dimension {existing}, not {asked}"
        )


class InvalidVector(SearchError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class ShardLocked(SearchError):
    """Another process holds the collection's shard folder."""

    def __init__(self, folder: str) -> None:
        super().__init__(
            f"shard folder {folder} is locked by another process; only one search service "
            "may open a SEARCH_DATA_DIR at a time"
        )


class BatchTooLarge(SearchError):
    """A batch query over SEARCH_MAX_BATCH_QUERIES (422)."""

    def __init__(self, queries: int, cap: int) -> None:
        super().__init__(
            f"a batch holds at most {cap} queries (SEARCH_MAX_BATCH_QUERIES); this one holds {queries}"
        )


class HammingUnavailable(SearchError):
    """metric=hamming on a collection created before binary codes were kept (422)."""

    def __init__(self, name: str, fix: str) -> None:
        super().__init__(
            f"collection {name!r} was created without binary codes, so it cannot answer "
            f"metric=hamming; {fix}"
        )


class TooManyShards(SearchError):
    """A write whose ids would open more Edge shards than SEARCH_MAX_SHARDS (422)."""

    def __init__(self, name: str, cap: int, shard_points: int) -> None:
        super().__init__(
            f"collection {name!r} would need more than {cap} shards (SEARCH_MAX_SHARDS) of "
            f"{shard_points} ids each; point ids are expected to be the catalog's dense image ids"
        )


class PointsNotFound(SearchError):
    """Examples of a recommendation query that are not stored (404)."""

    def __init__(self, collection: str, point_ids: list[int]) -> None:
        super().__init__(f"points not found in collection {collection!r}: {point_ids[:50]}")
