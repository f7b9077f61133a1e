"""Client of the catalog service (images, labels, taxonomy, access, jobs)."""

import json
from dataclasses import dataclass
from typing import Any

from nauplius.core.clients.base import ByteStream, FilePart, Json, ServiceClient


@dataclass(frozen=True)
class StoredImage:
    image: Json
    duplicate: bool


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
