"""Settings of the catalog service (env prefix CATALOG_)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from nauplius.core.image_probe import DEFAULT_MAX_SIDE


class CatalogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_")

    # Required: a missing DSN fails at start, not at first request.
    database_url: str
    # A file holding the database's password (a Docker secret), so that the DSN carries none.
    database_password_file: Path | None = None
    data_dir: Path = Path("data/catalog")
    thumbnail_size: int = Field(128, ge=16, le=2048)
    max_pixels: int = Field(50_000_000, gt=0)
    # An image's longest side, checked from its header with max_pixels (nauplius/core/image_probe.py).
    max_side: int = Field(DEFAULT_MAX_SIDE, gt=0)
    max_image_bytes: int = Field(20 * 1024 * 1024, gt=0)
    # An uploaded archive (an archive job's) is streamed to staging up to this size.
    max_archive_bytes: int = Field(2 * 1024**3, gt=0)
    # An ingest item whose lease ran out this many times (each worker that took it stopped
    # while working on it) fails instead of being taken again.
    max_item_claims: int = Field(10, ge=1)
    pool_min_size: int = Field(1, ge=0)
    pool_max_size: int = Field(10, ge=1)
    # Threads for decoding, thumbnails and file writes (off the event loop).
    image_threads: int = Field(2, ge=1)
    # How long start-up waits for the database to accept connections.
    connect_timeout_s: float = Field(15.0, ge=0)
    # When set and the catalog has no API key yet, an admin key is created at start and written
    # to this file (mode 0600): how `nauplius up` gets its first key.
    bootstrap_key_file: Path | None = None

    def database_password(self) -> str | None:
        """The password in `database_password_file`, if one is named (read at start)."""
        if self.database_password_file is None:
            return None
        try:
            return self.database_password_file.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read CATALOG_DATABASE_PASSWORD_FILE "
                             f"{self.database_password_file}: {exc.strerror or exc}") from exc
