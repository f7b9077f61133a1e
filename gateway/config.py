"""Gateway settings (env prefix GATEWAY_)."""

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_")

    # Required: a gateway without its services cannot do anything useful, so fail at start.
    embedder_url: str
    search_url: str
    catalog_url: str
    timeout_s: float = 30.0
    max_upload_bytes: int = 20 * 1024 * 1024
    # Body caps per route group, enforced while the body streams in (gateway/perimeter.py); a
    # body over its cap is a 413 naming it. POST /search takes one image: max_upload_bytes.
    # JSON (and every other) route: the largest real body, 10,000 image ids, is about 80 KB.
    max_body_bytes: int = 1024 * 1024
    # POST /images and /jobs/{id}/items: a batch of files, held in memory while it is sent on
    # (the command line sends 128 per request; plankton images are tens of kilobytes).
    max_upload_request_bytes: int = 512 * 1024 * 1024
    # POST /jobs: files or an archive, spooled to disk; CATALOG_MAX_ARCHIVE_BYTES's default.
    max_archive_bytes: int = 2 * 1024**3
    # POST /taxa/import: the catalog's own limit for a taxonomy CSV.
    max_taxa_csv_bytes: int = 10 * 1024 * 1024
    max_files_per_request: int = 256
    # How many per-file catalog calls of one upload batch run at once.
    catalog_concurrency: int = 8
    # Rows per catalog request of a streaming export: what the gateway holds at once.
    export_page_rows: int = 5000
    # "on": every /api/v1 request needs an API key (viewer reads, annotator labels, admin
    # manages taxonomy, projects and keys). "off": a single-user workstation, no keys.
    auth: Literal["on", "off"] = "on"
