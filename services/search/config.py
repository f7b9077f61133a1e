from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nauplius.core.contracts.search import MAX_BATCH_QUERIES, MAX_IDS
from services.search.backends.base import HAMMING_BITS

DEFAULT_INDEXING_THRESHOLD_KB = 200_000
DEFAULT_SHARD_POINTS = 50_000
DEFAULT_MAX_SHARDS = 1_000


class SearchSettings(BaseSettings):
    """Settings of the search service (env prefix `SEARCH_`)."""

    model_config = SettingsConfigDict(env_prefix="SEARCH_", populate_by_name=True)

    data_dir: Path = Path("data/search")
    # Set -> a Qdrant server or cluster is used instead of the embedded Qdrant Edge shards.
    qdrant_url: str | None = Field(
        default=None, validation_alias=AliasChoices("QDRANT_URL", "SEARCH_QDRANT_URL", "qdrant_url")
    )
    qdrant_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("QDRANT_API_KEY", "SEARCH_QDRANT_API_KEY", "qdrant_api_key"),
    )
    # Or a file holding it (a Docker secret); not both.
    qdrant_api_key_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("QDRANT_API_KEY_FILE", "SEARCH_QDRANT_API_KEY_FILE",
                                      "qdrant_api_key_file"),
    )
    # Seconds of write quiet before Edge builds its HNSW index (off the request path).
    optimize_delay_s: float = Field(default=5.0, ge=0)
    # Edge: segments larger than this many KB get an HNSW index; smaller ones are scanned exactly.
    # 200 MB is ~40,000 vectors of 1280-d: below it exact search answers in tens of ms with perfect
    # recall, while an HNSW build in qdrant-edge-py 0.9.0 holds the GIL (the service stalls for
    # its whole duration), so it is only worth it for larger collections (docs/benchmarks.md).
    indexing_threshold_kb: int = Field(default=DEFAULT_INDEXING_THRESHOLD_KB, ge=1)
    # Edge: a collection created from now on keeps ids [n * shard_points, (n + 1) * shard_points)
    # in shard n, each built apart in a child process (docs/benchmarks.md: 50,000 keeps a build
    # about 8 s and the pause of swapping it in about 0.13 s at 1280-d on 2 cores).
    shard_points: int = Field(default=DEFAULT_SHARD_POINTS, ge=1)
    # Edge: most shards one collection may open (a write past it is refused with 422).
    max_shards: int = Field(default=DEFAULT_MAX_SHARDS, ge=1)
    # Edge: 0 makes collections created from now on without binary codes (no metric=hamming,
    # upserts about twice as fast); 512 by default.
    hamming_bits: int = Field(default=HAMMING_BITS, ge=0, le=4096)
    # Edge: "binary" keeps 1-bit codes of each vector in RAM; a shard with an HNSW index is built
    # and searched through them (the query in 8 bits) and `oversampling` x k candidates are
    # rescored on the original vectors; a shard without one is searched exactly. Builds ~4x
    # faster; 10 as on a server: recall@10 0.995 on 12,648 real embeddings, 0.965 at 5, where
    # the synthetic bench vectors give 0.993 at 4 (docs/benchmarks.md, docs/deployment.md).
    quantization: Literal["none", "binary"] = "binary"
    oversampling: float = Field(default=10.0, ge=1.0)
    # Edge: original vectors, HNSW graphs and payloads of collections created from now on in
    # memory-mapped files read on demand ("cold"), so the service's memory does not hold them all.
    on_disk: bool = True
    # Threads that may run blocking Edge calls at once.
    worker_threads: int = Field(default=4, ge=1)
    # Most queries one POST .../query/batch may hold (422 above it); its answer holds up to this
    # many times k hits. Below MAX_BATCH_QUERIES, the clients' batches are refused.
    max_batch_queries: int = Field(default=MAX_BATCH_QUERIES, ge=1, le=MAX_IDS)
    # Qdrant server: how the search service lays out a collection it creates (docs/deployment.md);
    # an existing collection keeps its layout. Shards spread a collection over a cluster's nodes
    # (a few per node lets it grow onto new ones); replicas are copies of each shard on other
    # nodes (2 survives the loss of a node). 1 and 1 on a single server.
    qdrant_shards: int = Field(default=1, ge=1)
    qdrant_replicas: int = Field(default=1, ge=1)
    # Original vectors in memory-mapped files, not RAM (1M x 1280-d float32 is 5.1 GB).
    qdrant_on_disk: bool = True
    # The HNSW graph on disk too: least RAM, slower queries unless the page cache holds it.
    qdrant_hnsw_on_disk: bool = False
    # "binary": 1-bit codes kept in RAM (1M x 1280 bits = 160 MB) are searched first (the query
    # in 8 bits), then `qdrant_oversampling` x k candidates are rescored on the original vectors.
    # 10: recall@10 0.995 on 12,648 real embeddings, 0.965 at 5 (docs/deployment.md).
    qdrant_quantization: Literal["none", "binary"] = "binary"
    qdrant_oversampling: float = Field(default=10.0, ge=1.0)

    @field_validator("hamming_bits")
    @classmethod
    def _whole_words(cls, bits: int) -> int:
        if bits % 64:
            raise ValueError(f"hamming_bits must be 0 or a multiple of 64, not {bits}")
        return bits

    def qdrant_key(self) -> str | None:
        """Qdrant's API key, given or read from `qdrant_api_key_file` (at start)."""
        if self.qdrant_api_key_file is None:
            return self.qdrant_api_key
        if self.qdrant_api_key is not None:
            raise ValueError("set QDRANT_API_KEY or QDRANT_API_KEY_FILE, not both")
        try:
            return self.qdrant_api_key_file.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read QDRANT_API_KEY_FILE {self.qdrant_api_key_file}: "
                             f"{exc.strerror or exc}") from exc
