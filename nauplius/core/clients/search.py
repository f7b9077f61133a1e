"""Client of the search service (`/v1/collections/...`)."""

from nauplius.core.clients.base import Json, ServiceClient


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
