"""Typed clients for the three internal services, sharing one httpx.AsyncClient.

Every call goes through `ServiceClient._call`, which turns transport failures and error statuses
into the named exceptions of `gateway.errors`.
"""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.errors import (
    DownstreamFailed,
    DownstreamRejected,
    DownstreamTimeout,
    DownstreamUnavailable,
)

Json = dict[str, Any]


@dataclass(frozen=True)
class FilePart:
    """One uploaded file on its way to a downstream service."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class EmbedResult:
    vector: list[float] | None
    error: str | None
    vector_b64: str | None = None  # with encoding="base64": float32 bytes, for the search upsert


@dataclass(frozen=True)
class StoredImage:
    image: Json
    duplicate: bool


@dataclass
class ByteStream:
    """An open downstream response whose body is streamed to the caller, then closed."""

    media_type: str
    chunks: AsyncIterator[bytes]
    response: httpx.Response

    async def aclose(self) -> None:
        await self.response.aclose()


def _detail_of(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return body["detail"]
    return body


class ServiceClient:
    service: str

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")

    async def _send(
        self, method: str, path: str, *, not_found_ok: bool = False, stream: bool = False, **kw: Any
    ) -> httpx.Response | None:
        request = self._http.build_request(method, self._base + path, **kw)
        try:
            response = await self._http.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise DownstreamTimeout(self.service) from exc
        except httpx.TransportError as exc:  # ConnectError, other NetworkErrors, dropped connection
            raise DownstreamUnavailable(self.service) from exc
        if response.is_success:
            return response
        if stream:
            await response.aread()
            await response.aclose()
        if response.status_code == 404 and not_found_ok:
            return None
        if 400 <= response.status_code < 500:
            raise DownstreamRejected(self.service, response.status_code, _detail_of(response))
        raise DownstreamFailed(self.service, response.status_code)

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        response = await self._send(method, path, **kw)
        assert response is not None
        return self._json(response)

    async def _call_or_none(self, method: str, path: str, **kw: Any) -> Any:
        response = await self._send(method, path, not_found_ok=True, **kw)
        return None if response is None else self._json(response)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise DownstreamFailed(self.service, response.status_code) from exc

    async def _stream(self, path: str) -> ByteStream:
        response = await self._send("GET", path, stream=True)
        assert response is not None
        media_type = response.headers.get("content-type", "application/octet-stream")
        return ByteStream(media_type, response.aiter_bytes(), response)

    async def health(self, timeout_s: float) -> Json:
        return await self._call("GET", "/health", timeout=timeout_s)


class EmbedderClient(ServiceClient):
    service = "embedder"

    async def model_card(self) -> Json:
        return await self._call("GET", "/v1/model")

    async def embed(self, files: list[FilePart], encoding: str = "json") -> list[EmbedResult]:
        """`encoding="base64"` answers float32 bytes (`vector_b64`) instead of JSON numbers:
        for vectors that only travel on to the search service."""
        parts = [("files", (f.filename, f.data, f.content_type)) for f in files]
        body = await self._call("POST", "/v1/embed", files=parts, params={"encoding": encoding})
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or len(data) != len(files):
            raise DownstreamFailed(self.service, 200)
        return [EmbedResult(item.get("vector"), item.get("error"), item.get("vector_b64"))
                for item in data]


class SearchClient(ServiceClient):
    service = "search"

    async def ensure_collection(self, name: str, dim: int) -> None:
        await self._call("PUT", f"/v1/collections/{name}", json={"dim": dim})

    async def upsert(self, collection: str, points: list[Json]) -> int:
        body = await self._call("PUT", f"/v1/collections/{collection}/points", json={"points": points})
        return int(body["upserted"])

    async def set_payload(self, collection: str, ids: list[int], payload: Json) -> None:
        await self._call(
            "POST", f"/v1/collections/{collection}/points/payload", json={"ids": ids, "payload": payload}
        )

    async def query(
        self,
        collection: str,
        *,
        k: int,
        metric: str,
        image_id: int | None = None,
        vector: list[float] | None = None,
        label: str | None = None,
        filter: Json | None = None,
    ) -> list[Json]:
        body: Json = {"k": k, "metric": metric}
        if image_id is not None:
            body["id"] = image_id
        else:
            body["vector"] = vector
        conditions = {**(filter or {}), **({"label": label} if label is not None else {})}
        if conditions:
            body["filter"] = conditions
        result = await self._call("POST", f"/v1/collections/{collection}/query", json=body)
        return result["data"]


class CatalogClient(ServiceClient):
    service = "catalog"

    async def by_sha256(self, sha256: str) -> Json | None:
        return await self._call_or_none("GET", f"/v1/images/by-sha256/{sha256}")

    async def store_many(
        self, files: list[tuple[FilePart, dict[str, Any]]], actor: int | None = None
    ) -> list[StoredImage | str]:
        """Store a batch in one request: per file the stored image, or the reason it was refused.
        Fields are those of `POST /v1/images` (None = absent; metadata may be a dict)."""
        entries = [{k: v for k, v in fields.items() if v is not None} for _, fields in files]
        body = await self.call(
            "POST", "/v1/images/batch",
            files=[("files", (f.filename, f.data, f.content_type)) for f, _ in files],
            data={"items": json.dumps(entries)}, actor=actor,
        )
        results: list[StoredImage | str] = []
        for entry in body["data"]:
            if entry["image"] is None:
                results.append(entry["error"])
            else:
                image = entry["image"]
                results.append(StoredImage(image, bool(image.pop("duplicate", False))))
        return results

    async def by_sha256_many(self, sha256s: list[str]) -> dict[str, Json]:
        """The known images among these contents, by sha256 (one call)."""
        if not sha256s:
            return {}
        body = await self._call("POST", "/v1/images/by-sha256", json={"sha256": sha256s})
        return {image["sha256"]: image for image in body["data"]}

    async def mark_indexed_many(self, image_ids: list[int], model: str) -> int:
        body = await self._call("POST", "/v1/images/indexed", json={"ids": image_ids, "model": model})
        return int(body["updated"])

    async def mark_indexed(self, image_id: int, model: str) -> None:
        await self._call("POST", f"/v1/images/{image_id}/indexed", json={"model": model})

    async def list_images(self, limit: int, offset: int) -> Json:
        return await self._call("GET", "/v1/images", params={"limit": limit, "offset": offset})

    async def get(self, image_id: int) -> Json:
        return await self._call("GET", f"/v1/images/{image_id}")

    async def lookup(self, ids: list[int]) -> list[Json]:
        if not ids:
            return []
        body = await self._call("POST", "/v1/images/lookup", json={"ids": ids})
        return body["data"]

    async def set_label(self, image_id: int, taxon: str, annotator: str | None) -> Json:
        body = {"taxon": taxon, "annotator": annotator, "state": "validated"}
        return await self._call("PUT", f"/v1/images/{image_id}/label", json=body)

    async def labels(self, image_id: int) -> Json:
        return await self._call("GET", f"/v1/images/{image_id}/labels")

    # --- ingest jobs -------------------------------------------------------------------------
    async def create_job(self, source: str | None, actor: int | None = None) -> Json:
        return await self.call("POST", "/v1/jobs", json={"source": source}, actor=actor)

    async def add_job_items(
        self, job_id: int, files: list[FilePart], items: list[Json], refused: list[Json]
    ) -> Json:
        parts = [("files", (f.filename, f.data, f.content_type)) for f in files]
        data = {"items": json.dumps(items), "refused": json.dumps(refused)}
        return await self._call("POST", f"/v1/jobs/{job_id}/items", files=parts or None, data=data)

    async def close_job(self, job_id: int) -> Json:
        return await self._call("POST", f"/v1/jobs/{job_id}/close")

    async def job(self, job_id: int) -> Json:
        return await self._call("GET", f"/v1/jobs/{job_id}")

    async def list_jobs(self, running: bool, limit: int) -> Json:
        params = {"running": str(running).lower(), "limit": limit}
        return await self._call("GET", "/v1/jobs", params=params)

    async def claim_items(self, limit: int, lease_s: float, with_data: bool = False) -> list[Json]:
        """Claimed items; with_data adds each one's staged bytes as base64 `data` (None if none)."""
        body = await self._call("POST", "/v1/jobs/claim",
                                json={"limit": limit, "lease_s": lease_s, "with_data": with_data})
        return body["data"]

    async def unindexed(self, model: str, after_id: int, limit: int) -> list[Json]:
        body = await self._call("GET", "/v1/images/unindexed",
                                params={"model": model, "after_id": after_id, "limit": limit})
        return body["data"]

    async def image_bytes(self, image_id: int) -> bytes:
        response = await self._send("GET", f"/v1/images/{image_id}/file")
        assert response is not None
        return response.content

    async def item_data(self, item_id: int) -> bytes:
        response = await self._send("GET", f"/v1/jobs/items/{item_id}/data")
        assert response is not None
        return response.content

    async def record_results(self, results: list[Json]) -> int:
        body = await self._call("POST", "/v1/jobs/items/results", json={"results": results})
        return int(body["updated"])

    async def call(self, method: str, path: str, *, actor: int | None = None, **kw: Any) -> Any:
        """Any catalog route, recording `actor` (an annotator id) as who wrote."""
        if actor is not None:
            kw["headers"] = {**kw.get("headers", {}), "X-Nauplius-Annotator": str(actor)}
        response = await self._send(method, path, **kw)
        assert response is not None
        return None if response.status_code == 204 else self._json(response)

    async def file(self, image_id: int) -> ByteStream:
        return await self._stream(f"/v1/images/{image_id}/file")

    async def thumbnail(self, image_id: int) -> ByteStream:
        return await self._stream(f"/v1/images/{image_id}/thumbnail")


@dataclass(frozen=True)
class Downstream:
    """The three service clients, built once per app on its shared httpx client."""

    embedder: EmbedderClient
    search: SearchClient
    catalog: CatalogClient

    @classmethod
    def over(cls, http: httpx.AsyncClient, embedder_url: str, search_url: str, catalog_url: str) -> "Downstream":
        return cls(
            EmbedderClient(http, embedder_url),
            SearchClient(http, search_url),
            CatalogClient(http, catalog_url),
        )
