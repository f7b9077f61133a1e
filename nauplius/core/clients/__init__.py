"""Typed async clients of the three internal services, sharing one httpx.AsyncClient."""

from dataclasses import dataclass

import httpx

from nauplius.core.clients.base import ByteStream, FilePart, ServiceClient
from nauplius.core.clients.catalog import CatalogClient, StoredImage
from nauplius.core.clients.embedder import EmbedderClient
from nauplius.core.clients.search import SearchClient

__all__ = ["ByteStream", "CatalogClient", "Downstream", "EmbedderClient", "FilePart",
           "SearchClient", "ServiceClient", "StoredImage"]


@dataclass(frozen=True)
class Downstream:
    """The three service clients, built once per app on its shared httpx client."""

    embedder: EmbedderClient
    search: SearchClient
    catalog: CatalogClient

    @classmethod
    def over(cls, http: httpx.AsyncClient, embedder_url: str, search_url: str,
             catalog_url: str, *, service_key: str) -> "Downstream":
        """`service_key`: the credential every call proves (nauplius.core.service_auth)."""
        return cls(
            EmbedderClient(http, embedder_url, service_key),
            SearchClient(http, search_url, service_key),
            CatalogClient(http, catalog_url, service_key),
        )
