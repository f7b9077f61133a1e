"""Ingest worker settings (env prefix WORKER_)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WORKER_")

    embedder_url: str
    search_url: str
    catalog_url: str
    timeout_s: float = Field(60.0, gt=0)
    # Items claimed per round: one embedder call and one search upsert per batch.
    batch_size: int = Field(64, ge=1, le=1000)
    # A claimed item not settled within the lease is claimed again (its worker died).
    lease_s: float = Field(120.0, gt=0)
    idle_poll_s: float = Field(0.5, gt=0)
    # Retries of an item whose services were down, with exponential back-off, before it fails.
    max_attempts: int = Field(8, ge=1)
    max_backoff_s: float = Field(30.0, gt=0)
    catalog_concurrency: int = Field(8, ge=1)
    # The largest image an archive job sends the catalog: keep it at CATALOG_MAX_IMAGE_BYTES, so
    # a bigger member is one refused item instead of a refused batch.
    max_item_bytes: int = Field(20 * 1024 * 1024, gt=0)
    # Batches in flight at once in this process: two are embedded (the embedder runs two calls
    # at once, one onnxruntime thread each) while another is fetched from and stored in the
    # catalog, so neither core waits on the catalog (docs/benchmarks.md, "Ingest at instrument
    # rate": two loops kept 0.9 of the 2 cores busy, three 1.8).
    loops: int = Field(3, ge=1, le=16)
    # An image at least this cosine-close to an earlier one of the same project, instrument and
    # sample is flagged as its near-duplicate (docs/benchmarks.md, "Near-duplicates": measured on
    # augmented copies against distinct same-class organisms).
    near_duplicate_cosine: float = Field(0.96, gt=0, le=1.0)
    # Where a `train` job writes the new model version (NAME.onnx, its card NAME.json and its
    # checkpoint): the folder the embedder's model paths name versions from.
    models_dir: Path = Path("models")
