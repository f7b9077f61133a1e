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
    max_files_per_request: int = 256
    # How many per-file catalog calls of one upload batch run at once.
    catalog_concurrency: int = 8
    # "on": every /api/v1 request needs an API key (viewer reads, annotator labels, admin
    # manages taxonomy, projects and keys). "off": a single-user workstation, no keys.
    auth: Literal["on", "off"] = "on"
