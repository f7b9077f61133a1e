"""Client of the catalog service (images, labels, taxonomy, access, jobs)."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
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

    # --- job tasks (archive, suggestions, reconcile) -------------------------------------------
    async def create_task_job(self, kind: str, params: Json, source: str | None,
                              actor: int | None = None) -> Json:
        """A job whose work is its own task, claimed by a worker (`kind` archive|suggestions|
        reconcile). An archive job stays open until its archive is uploaded and unpacked."""
        return await self.call("POST", "/v1/jobs", json={"source": source, "kind": kind,
                                                         "params": params}, actor=actor)

    async def upload_archive(self, job_id: int, chunks: AsyncIterator[bytes]) -> Json:
        """Stream an archive into the job's staging (nothing is held in memory)."""
        return await self._call("PUT", f"/v1/jobs/{job_id}/archive", content=chunks,
                                headers={"Content-Type": "application/octet-stream"})

    async def download_archive(self, job_id: int, path: Path) -> None:
        stream = await self._stream(f"/v1/jobs/{job_id}/archive")
        try:
            with path.open("wb") as out:
                async for chunk in stream.chunks:
                    out.write(chunk)
        finally:
            await stream.aclose()

    async def claim_task(self, kinds: list[str], lease_s: float) -> Json | None:
        body = await self._call("POST", "/v1/jobs/tasks/claim",
                                json={"kinds": kinds, "lease_s": lease_s})
        return body["task"]

    async def task_progress(self, job_id: int, done: int | None, total: int | None,
                            lease_s: float) -> None:
        await self._call("POST", f"/v1/jobs/{job_id}/task/progress",
                         json={"done": done, "total": total, "lease_s": lease_s})

    async def finish_task(self, job_id: int, outcome: str, *, error: str | None = None,
                          result: Json | None = None, retry_after_s: float = 0.0) -> None:
        await self._call("POST", f"/v1/jobs/{job_id}/task/result",
                         json={"outcome": outcome, "error": error, "result": result,
                               "retry_after_s": retry_after_s})

    # --- index outbox and reconciliation -------------------------------------------------------
    async def claim_outbox(self, limit: int, lease_s: float) -> list[Json]:
        body = await self._call("POST", "/v1/index-outbox/claim",
                                json={"limit": limit, "lease_s": lease_s})
        return body["data"]

    async def settle_outbox(self, done: list[tuple[int, int]], retry: list[tuple[int, int]],
                            error: str | None, retry_after_s: float) -> None:
        """Entries as (image id, version): done ones are removed unless changed meanwhile."""
        def entries(pairs: list[tuple[int, int]]) -> list[Json]:
            return [{"image_id": image_id, "version": version} for image_id, version in pairs]

        await self._call("POST", "/v1/index-outbox/settle",
                         json={"done": entries(done), "retry": entries(retry), "error": error,
                               "retry_after_s": retry_after_s})

    async def outbox_pending(self) -> int:
        return int((await self._call("GET", "/v1/index-outbox"))["pending"])

    async def index_rows(self, after_id: int, limit: int) -> tuple[list[Json], int | None]:
        """Every image's id and payload fields in id order: (rows, the next cursor or None)."""
        body = await self._call("GET", "/v1/images/index-rows",
                                params={"after_id": after_id, "limit": limit})
        return body["data"], body["next_after_id"]

    async def count_images(self) -> int:
        return int((await self._call("GET", "/v1/images", params={"limit": 1}))["count"])

    # --- suggestions -------------------------------------------------------------------------
    async def taxon_parents(self) -> dict[str, str | None]:
        taxa = (await self._call("GET", "/v1/taxa"))["data"]
        return {t["name"]: t["parent"] for t in taxa}

    async def create_taxon(self, name: str, actor: int | None) -> Json:
        return await self.call("POST", "/v1/taxa", json={"name": name}, actor=actor)

    async def last_label_id(self) -> int:
        return int((await self._call("GET", "/v1/labels/changes", params={"limit": 0}))["last_label_id"])

    async def label_changes_since(self, label_id: int) -> list[int]:
        """Images whose label a person (or an accept) changed after that label id."""
        ids: list[int] = []
        while True:
            body = await self._call("GET", "/v1/labels/changes",
                                    params={"after_label_id": label_id, "limit": 10_000})
            ids += body["image_ids"]
            if body["next_after_label_id"] is None:
                return sorted(set(ids))
            label_id = body["next_after_label_id"]

    async def _image_ids(self, states: list[str], project: int | None,
                         human_only: bool) -> list[Json]:
        rows: list[Json] = []
        after = 0
        while True:
            params: Json = {"states": states, "after_id": after, "limit": 10_000,
                            "human_only": human_only}
            if project is not None:
                params["project_id"] = project
            body = await self._call("GET", "/v1/images/labels", params=params)
            rows += body["data"]
            if body["next_after_id"] is None:
                return rows
            after = body["next_after_id"]

    async def human_validated(self, project: int | None) -> dict[int, str]:
        """Validated images whose label a person set looking at them: id -> taxon."""
        rows = await self._image_ids(["validated"], project, human_only=True)
        return {row["id"]: row["label"] for row in rows}

    async def unjudged_ids(self, project: int | None) -> list[int]:
        return [row["id"] for row in await self._image_ids(["unlabelled", "predicted"], project,
                                                           human_only=False)]

    async def unjudged_count(self, project: int | None) -> int:
        counts = await self._call("GET", "/v1/label-counts",
                                  params={} if project is None else {"project_id": project})
        return int(counts.get("unlabelled", 0)) + int(counts.get("predicted", 0))

    async def calibration(self, model: str) -> Json | None:
        return (await self._call("GET", f"/v1/suggestions/calibration/{model}"))["calibration"]

    async def put_calibration(self, model: str, calibration: Json) -> None:
        await self._call("PUT", "/v1/suggestions/calibration",
                         json={"model": model, "calibration": calibration})

    async def store_predictions(self, predictions: list[Json]) -> int:
        written = 0
        for start in range(0, len(predictions), 5000):
            body = await self._call("POST", "/v1/suggestions",
                                    json={"data": predictions[start:start + 5000]})
            written += int(body["written"])
        return written
