"""Client of the catalog service (images, labels, taxonomy, access, jobs).

One named method per catalog route; each answers the model of `nauplius.core.contracts.catalog`
the route answers. Methods of routes that record who wrote take `actor` (an annotator id), sent as
the `X-Nauplius-Annotator` header. `acting_for` gives a client whose every call speaks for one
person (their annotator id and key role), whom the catalog holds to their project grants.
"""

import copy
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from nauplius.core.clients.base import ByteStream, FilePart, Json, M, ServiceClient
from nauplius.core.contracts.adaptation import ActiveHead, AdaptationState, HeadIn, HeadPublic, RefitQueued
from nauplius.core.contracts.catalog import (
    MAX_ERROR_LENGTH,
    AnnotatorCreate,
    AnnotatorList,
    AnnotatorPublic,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyPublic,
    Calibration,
    CallerScope,
    ClaimedItem,
    ClaimedItems,
    ClaimedTask,
    ExportRow,
    ExportRows,
    GrantIn,
    GrantList,
    GrantPublic,
    ImageIds,
    ImageList,
    ImageLookup,
    ImagePublic,
    ImagesMoved,
    IndexedMany,
    IndexRows,
    ItemResult,
    JobItemsAdded,
    JobList,
    JobStatus,
    LabelChanges,
    LabelCounts,
    LabelHistory,
    LabelledRow,
    LabelledRows,
    LabelPublic,
    LabelsAssigned,
    LabelState,
    OutboxEntries,
    OutboxEntry,
    OutboxSettled,
    OutboxStatus,
    Prediction,
    PredictionsWritten,
    Principal,
    ProjectCreate,
    ProjectList,
    ProjectPublic,
    ResultsRecorded,
    Role,
    StoredCalibration,
    SuggestionGroups,
    SuggestionsAccepted,
    TaskClaim,
    TaskKind,
    TaxaImported,
    TaxonIn,
    TaxonList,
    TaxonPublic,
    TaxonUpdated,
    UploadedBatch,
)
from nauplius.core.contracts.clusters import ClusterQueue, ClusterRunIn, ClustersQueued
from nauplius.core.contracts.duplicates import (
    DuplicatePairs,
    DuplicateSettled,
    DuplicateStatus,
    NearDuplicateIn,
    NearDuplicatesFlagged,
)
from nauplius.core.contracts.models import (
    ModelVersion,
    ModelVersions,
    ReembedIn,
    ReembedProgress,
    ReembedQueued,
    VersionRetired,
)

# Predictions per store request (the catalog takes at most 10,000).
PREDICTION_BATCH = 5000
# Rows per page when a method pages through the catalog for its caller.
PAGE = 10_000


@dataclass(frozen=True)
class StoredImage:
    image: ImagePublic
    duplicate: bool


def _present(params: dict[str, Any]) -> dict[str, Any]:
    """Query parameters without the absent (None) ones."""
    return {key: value for key, value in params.items() if value is not None}


def _error_text(error: str | None) -> str | None:
    """A failure's reason, cut to what the catalog keeps (a long downstream detail must not get the
    settling request itself refused, which would leave the work claimed until its lease ran out)."""
    return None if error is None else error[:MAX_ERROR_LENGTH]


class CatalogClient(ServiceClient):
    service = "catalog"
    # The headers naming whom every call speaks for; none: a service's own calls.
    _caller: tuple[tuple[str, str], ...] = ()

    def acting_for(self, annotator_id: int | None, role: Role) -> "CatalogClient":
        """This client with every call made for this person (None: the local admin of a
        gateway with keys off, bound by no grant: this client as it is)."""
        if annotator_id is None:
            return self
        scoped = copy.copy(self)
        scoped._caller = (("X-Nauplius-Annotator", str(annotator_id)), ("X-Nauplius-Role", role))
        return scoped

    async def _send(self, method: str, path: str, *, stream: bool = False,
                    **kw: Any) -> httpx.Response:
        if self._caller:
            kw["headers"] = {**(kw.get("headers") or {}), **dict(self._caller)}
        return await super()._send(method, path, stream=stream, **kw)

    async def _write(self, answer: type[M], method: str, path: str, actor: int | None,
                     **kw: Any) -> M:
        """A call whose writes the catalog records as `actor`'s."""
        if actor is not None:
            kw["headers"] = {**kw.get("headers", {}), "X-Nauplius-Annotator": str(actor)}
        return await self._ask(answer, method, path, **kw)

    # --- images ------------------------------------------------------------------------------
    async def by_sha256(self, sha256: str) -> ImagePublic | None:
        return await self._ask_or_none(ImagePublic, "GET", f"/v1/images/by-sha256/{sha256}")

    async def store_many(
        self, files: list[tuple[FilePart, dict[str, Any]]], actor: int | None = None
    ) -> list[StoredImage | str]:
        """Store a batch in one request: per file the stored image, or the reason it was refused.
        Fields are those of `POST /v1/images` (None = absent; metadata may be a dict)."""
        entries = [{k: v for k, v in fields.items() if v is not None} for _, fields in files]
        batch = await self._write(
            UploadedBatch, "POST", "/v1/images/batch", actor,
            files=[("files", (f.filename, f.data, f.content_type)) for f, _ in files],
            data={"items": json.dumps(entries)},
        )
        results: list[StoredImage | str] = []
        for entry in batch.data:
            if entry.image is None:
                results.append(entry.error or "refused")
            else:
                image = ImagePublic.model_validate(entry.image.model_dump(exclude={"duplicate"}))
                results.append(StoredImage(image, entry.image.duplicate))
        return results

    async def by_sha256_many(self, sha256s: list[str]) -> dict[str, ImagePublic]:
        """The known images among these contents, by sha256 (one call)."""
        if not sha256s:
            return {}
        found = await self._ask(ImageLookup, "POST", "/v1/images/by-sha256", json={"sha256": sha256s})
        return {image.sha256: image for image in found.data}

    async def mark_indexed_many(self, image_ids: list[int], model: str) -> IndexedMany:
        return await self._ask(IndexedMany, "POST", "/v1/images/indexed",
                               json={"ids": image_ids, "model": model})

    async def mark_indexed(self, image_id: int, model: str) -> ImagePublic:
        return await self._ask(ImagePublic, "POST", f"/v1/images/{image_id}/indexed",
                               json={"model": model})

    async def list_images(
        self, limit: int, offset: int = 0, *, project_id: int | None = None,
        state: LabelState | None = None, label: str | None = None, instrument: str | None = None,
        min_confidence: float | None = None, order: str | None = None,
        cursor: str | None = None,
    ) -> ImageList:
        """A page of images; `order=confident|uncertain` with `state=predicted` is the review
        queue; `cursor` (a page's `next_cursor`) pages on by key."""
        params = _present({"limit": limit, "offset": offset or None, "project_id": project_id,
                           "state": state, "label": label, "instrument": instrument,
                           "min_confidence": min_confidence, "order": order, "cursor": cursor})
        return await self._ask(ImageList, "GET", "/v1/images", params=params)

    async def count_images(self) -> int:
        # Unfiltered, the count is always there (the catalog's maintained counts).
        return (await self.list_images(1)).count or 0

    async def get(self, image_id: int) -> ImagePublic:
        return await self._ask(ImagePublic, "GET", f"/v1/images/{image_id}")

    async def lookup(self, ids: list[int]) -> list[ImagePublic]:
        if not ids:
            return []
        return (await self._ask(ImageLookup, "POST", "/v1/images/lookup", json={"ids": ids})).data

    async def unindexed(self, model: str, after_id: int, limit: int) -> list[ImagePublic]:
        found = await self._ask(ImageLookup, "GET", "/v1/images/unindexed",
                                params={"model": model, "after_id": after_id, "limit": limit})
        return found.data

    async def image_bytes(self, image_id: int) -> bytes:
        return (await self._send("GET", f"/v1/images/{image_id}/file")).content

    async def file(self, image_id: int) -> ByteStream:
        return await self._stream(f"/v1/images/{image_id}/file")

    async def thumbnail(self, image_id: int) -> ByteStream:
        return await self._stream(f"/v1/images/{image_id}/thumbnail")

    async def index_rows(self, after_id: int, limit: int) -> IndexRows:
        """Every image's id and payload fields in id order, a page from `after_id` on."""
        return await self._ask(IndexRows, "GET", "/v1/images/index-rows",
                               params={"after_id": after_id, "limit": limit})

    async def labelled_rows(self, states: Sequence[LabelState], *, project_id: int | None,
                            after_id: int, limit: int, human_only: bool) -> LabelledRows:
        params = _present({"states": list(states), "project_id": project_id, "after_id": after_id,
                           "limit": limit, "human_only": human_only})
        return await self._ask(LabelledRows, "GET", "/v1/images/labels", params=params)

    # --- labels ------------------------------------------------------------------------------
    async def set_label(self, image_id: int, taxon: str, annotator: str | None,
                        state: LabelState = "validated", *, create_taxon: bool = False,
                        actor: int | None = None) -> ImagePublic:
        """`create_taxon` adds a taxon missing from the tree (an admin's label)."""
        body = {"taxon": taxon, "annotator": annotator, "state": state}
        return await self._write(ImagePublic, "PUT", f"/v1/images/{image_id}/label", actor, json=body,
                                 params={"create_taxon": str(create_taxon).lower()})

    async def labels(self, image_id: int) -> LabelHistory:
        return await self._ask(LabelHistory, "GET", f"/v1/images/{image_id}/labels")

    async def assign_labels(self, image_ids: list[int], taxon: str | None, state: LabelState, *,
                            create_taxon: bool = False, actor: int | None = None) -> LabelsAssigned:
        """One taxon and state for every listed image, in one transaction."""
        body = {"image_ids": image_ids, "taxon": taxon, "state": state}
        return await self._write(LabelsAssigned, "POST", "/v1/labels/batch", actor, json=body,
                                 params={"create_taxon": str(create_taxon).lower()})

    async def revert_label(self, label_id: int, actor: int | None) -> LabelPublic:
        return await self._write(LabelPublic, "POST", f"/v1/labels/{label_id}/revert", actor)

    async def label_changes(self, after_label_id: int, limit: int) -> LabelChanges:
        return await self._ask(LabelChanges, "GET", "/v1/labels/changes",
                               params={"after_label_id": after_label_id, "limit": limit})

    async def last_label_id(self) -> int:
        return (await self.label_changes(0, 0)).last_label_id

    async def label_changes_since(self, label_id: int) -> list[int]:
        """Images whose label a person (or an accept) changed after that label id."""
        ids: set[int] = set()
        while True:
            page = await self.label_changes(label_id, PAGE)
            ids.update(page.image_ids)
            if page.next_after_label_id is None:
                return sorted(ids)
            label_id = page.next_after_label_id

    async def label_counts(self, project_id: int | None = None) -> LabelCounts:
        return await self._ask(LabelCounts, "GET", "/v1/label-counts",
                               params=_present({"project_id": project_id}))

    async def export_rows(self, states: Sequence[LabelState], project_id: int | None,
                          after_id: int = 0, limit: int | None = None) -> ExportRows:
        params = _present({"states": list(states), "project_id": project_id,
                           "after_id": after_id or None, "limit": limit})
        return await self._ask(ExportRows, "GET", "/v1/export-rows", params=params)

    async def export_pages(self, states: Sequence[LabelState], project_id: int | None,
                           page_rows: int) -> AsyncIterator[list[ExportRow]]:
        """Every export row, a page of `page_rows` per request, so neither side holds more."""
        after_id: int | None = 0
        while after_id is not None:
            page = await self.export_rows(states, project_id, after_id, page_rows)
            if page.data:
                yield page.data
            after_id = page.next_after_id

    # --- taxa --------------------------------------------------------------------------------
    async def taxa(self) -> TaxonList:
        return await self._ask(TaxonList, "GET", "/v1/taxa")

    async def taxon_parents(self) -> dict[str, str | None]:
        return {taxon.name: taxon.parent for taxon in (await self.taxa()).data}

    async def create_taxon(self, taxon: TaxonIn, actor: int | None) -> TaxonPublic:
        return await self._write(TaxonPublic, "POST", "/v1/taxa", actor, json=taxon.model_dump())

    async def import_taxa(self, csv: bytes, actor: int | None) -> TaxaImported:
        """CSV text, header `name,rank,parent,aphia_id`."""
        return await self._write(TaxaImported, "POST", "/v1/taxa/import", actor, content=csv,
                                 headers={"Content-Type": "text/csv"})

    async def update_taxon(self, taxon_id: int, taxon: TaxonIn, actor: int | None) -> TaxonUpdated:
        return await self._write(TaxonUpdated, "PUT", f"/v1/taxa/{taxon_id}", actor,
                                 json=taxon.model_dump())

    async def delete_taxon(self, taxon_id: int, actor: int | None) -> None:
        headers = {} if actor is None else {"X-Nauplius-Annotator": str(actor)}
        await self._send("DELETE", f"/v1/taxa/{taxon_id}", headers=headers)

    # --- projects, annotators, API keys ------------------------------------------------------
    async def projects(self) -> ProjectList:
        return await self._ask(ProjectList, "GET", "/v1/projects")

    async def create_project(self, project: ProjectCreate, actor: int | None) -> ProjectPublic:
        return await self._write(ProjectPublic, "POST", "/v1/projects", actor, json=project.model_dump())

    async def move_images(self, project_id: int, images: ImageIds, actor: int | None) -> ImagesMoved:
        return await self._write(ImagesMoved, "POST", f"/v1/projects/{project_id}/images", actor,
                                 json=images.model_dump())

    async def grants(self, project_id: int) -> GrantList:
        return await self._ask(GrantList, "GET", f"/v1/projects/{project_id}/grants")

    async def put_grant(self, project_id: int, grant: GrantIn, actor: int | None) -> GrantPublic:
        return await self._write(GrantPublic, "PUT", f"/v1/projects/{project_id}/grants", actor,
                                 json=grant.model_dump())

    async def delete_grant(self, project_id: int, grant_id: int) -> None:
        await self._send("DELETE", f"/v1/projects/{project_id}/grants/{grant_id}")

    async def scope(self) -> CallerScope:
        """The projects the caller may read and write (None: every project)."""
        return await self._ask(CallerScope, "GET", "/v1/scope")

    async def annotators(self) -> AnnotatorList:
        return await self._ask(AnnotatorList, "GET", "/v1/annotators")

    async def create_annotator(self, annotator: AnnotatorCreate, actor: int | None) -> AnnotatorPublic:
        return await self._write(AnnotatorPublic, "POST", "/v1/annotators", actor,
                                 json=annotator.model_dump())

    async def api_keys(self) -> ApiKeyList:
        return await self._ask(ApiKeyList, "GET", "/v1/api-keys")

    async def create_api_key(self, key: ApiKeyCreate, actor: int | None) -> ApiKeyCreated:
        """The key itself is in this answer only; the catalog keeps its hash."""
        return await self._write(ApiKeyCreated, "POST", "/v1/api-keys", actor, json=key.model_dump())

    async def revoke_api_key(self, key_id: int, actor: int | None) -> ApiKeyPublic:
        return await self._write(ApiKeyPublic, "POST", f"/v1/api-keys/{key_id}/revoke", actor)

    async def principal(self, key_hash: str) -> Principal | None:
        """Who the key with this sha256 speaks for; None for an unknown or revoked key."""
        return await self._ask_or_none(Principal, "GET", f"/v1/api-keys/by-hash/{key_hash}")

    # --- ingest jobs -------------------------------------------------------------------------
    async def create_job(self, source: str | None, actor: int | None = None) -> JobStatus:
        return await self._write(JobStatus, "POST", "/v1/jobs", actor, json={"source": source})

    async def add_job_items(
        self, job_id: int, files: list[FilePart], items: list[Json], refused: list[Json]
    ) -> JobItemsAdded:
        parts = [("files", (f.filename, f.data, f.content_type)) for f in files]
        data = {"items": json.dumps(items), "refused": json.dumps(refused)}
        return await self._ask(JobItemsAdded, "POST", f"/v1/jobs/{job_id}/items",
                               files=parts or None, data=data)

    async def close_job(self, job_id: int) -> JobStatus:
        return await self._ask(JobStatus, "POST", f"/v1/jobs/{job_id}/close")

    async def job(self, job_id: int) -> JobStatus:
        return await self._ask(JobStatus, "GET", f"/v1/jobs/{job_id}")

    async def list_jobs(self, running: bool, limit: int) -> JobList:
        params = {"running": str(running).lower(), "limit": limit}
        return await self._ask(JobList, "GET", "/v1/jobs", params=params)

    async def claim_items(self, limit: int, lease_s: float, with_data: bool = False) -> list[ClaimedItem]:
        """Claimed items; with_data adds each one's staged bytes as base64 `data` (None if none)."""
        claimed = await self._ask(ClaimedItems, "POST", "/v1/jobs/claim",
                                  json={"limit": limit, "lease_s": lease_s, "with_data": with_data})
        return claimed.data

    async def item_data(self, item_id: int) -> bytes:
        return (await self._send("GET", f"/v1/jobs/items/{item_id}/data")).content

    async def record_results(self, results: Sequence[ItemResult]) -> ResultsRecorded:
        body = {"results": [result.model_dump(mode="json") for result in results]}
        return await self._ask(ResultsRecorded, "POST", "/v1/jobs/items/results", json=body)

    # --- job tasks (archive, suggestions, reconcile) -------------------------------------------
    async def create_task_job(self, kind: TaskKind, params: Json, source: str | None,
                              actor: int | None = None) -> JobStatus:
        """A job whose work is its own task, claimed by a worker (`kind` archive|suggestions|
        reconcile). An archive job stays open until its archive is uploaded and unpacked."""
        return await self._write(JobStatus, "POST", "/v1/jobs", actor,
                                 json={"source": source, "kind": kind, "params": params})

    async def upload_archive(self, job_id: int, chunks: AsyncIterator[bytes]) -> JobStatus:
        """Stream an archive into the job's staging (nothing is held in memory)."""
        return await self._ask(JobStatus, "PUT", f"/v1/jobs/{job_id}/archive", content=chunks,
                               headers={"Content-Type": "application/octet-stream"})

    async def download_archive(self, job_id: int, path: Path) -> None:
        stream = await self._stream(f"/v1/jobs/{job_id}/archive")
        try:
            with path.open("wb") as out:
                async for chunk in stream.chunks:
                    out.write(chunk)
        finally:
            await stream.aclose()

    async def claim_task(self, kinds: list[TaskKind], lease_s: float) -> ClaimedTask | None:
        claim = await self._ask(TaskClaim, "POST", "/v1/jobs/tasks/claim",
                                json={"kinds": kinds, "lease_s": lease_s})
        return claim.task

    async def task_progress(self, job_id: int, done: int | None, total: int | None,
                            lease_s: float) -> JobStatus:
        return await self._ask(JobStatus, "POST", f"/v1/jobs/{job_id}/task/progress",
                               json={"done": done, "total": total, "lease_s": lease_s})

    async def finish_task(self, job_id: int, outcome: str, *, error: str | None = None,
                          result: Json | None = None, retry_after_s: float = 0.0) -> JobStatus:
        return await self._ask(JobStatus, "POST", f"/v1/jobs/{job_id}/task/result",
                               json={"outcome": outcome, "error": _error_text(error),
                                     "result": result, "retry_after_s": retry_after_s})

    # --- index outbox ------------------------------------------------------------------------
    async def claim_outbox(self, limit: int, lease_s: float) -> list[OutboxEntry]:
        claimed = await self._ask(OutboxEntries, "POST", "/v1/index-outbox/claim",
                                  json={"limit": limit, "lease_s": lease_s})
        return claimed.data

    async def settle_outbox(self, done: list[tuple[int, int]], retry: list[tuple[int, int]],
                            error: str | None, retry_after_s: float) -> OutboxSettled:
        """Entries as (image id, version): done ones are removed unless changed meanwhile."""
        def entries(pairs: list[tuple[int, int]]) -> list[Json]:
            return [{"image_id": image_id, "version": version} for image_id, version in pairs]

        return await self._ask(OutboxSettled, "POST", "/v1/index-outbox/settle",
                               json={"done": entries(done), "retry": entries(retry),
                                     "error": _error_text(error), "retry_after_s": retry_after_s})

    async def outbox_pending(self) -> int:
        return (await self._ask(OutboxStatus, "GET", "/v1/index-outbox")).pending

    # --- suggestions -------------------------------------------------------------------------
    async def suggestion_groups(self, min_confidence: float, project_id: int | None) -> SuggestionGroups:
        params = _present({"min_confidence": min_confidence, "project_id": project_id})
        return await self._ask(SuggestionGroups, "GET", "/v1/suggestions/groups", params=params)

    async def accept_suggestions(
        self, taxon: str, min_confidence: float, *, project_id: int | None = None,
        instrument: str | None = None, image_ids: list[int] | None = None, actor: int | None = None,
    ) -> SuggestionsAccepted:
        """Validate every image whose suggestion is `taxon` with confidence >= `min_confidence`."""
        body = {"taxon": taxon, "min_confidence": min_confidence, "project_id": project_id,
                "instrument": instrument, "image_ids": image_ids}
        return await self._write(SuggestionsAccepted, "POST", "/v1/suggestions/accept", actor,
                                 json=body)

    async def human_validated(self, project: int | None) -> dict[int, str]:
        """Validated images whose label a person set looking at them: id -> taxon."""
        rows = await self._labelled(["validated"], project, human_only=True)
        return {row.id: row.label for row in rows if row.label is not None}

    async def unjudged_ids(self, project: int | None) -> list[int]:
        return [row.id for row in await self._labelled(["unlabelled", "predicted"], project,
                                                       human_only=False)]

    async def suggested(self, project: int | None) -> list[LabelledRow]:
        """Every image with a suggestion: its taxon, confidence and raw vote share."""
        return await self._labelled(["predicted"], project, human_only=False)

    async def _labelled(self, states: list[LabelState], project: int | None,
                        human_only: bool) -> list[LabelledRow]:
        rows: list[LabelledRow] = []
        after: int | None = 0
        while after is not None:
            page = await self.labelled_rows(states, project_id=project, after_id=after, limit=PAGE,
                                            human_only=human_only)
            rows += page.data
            after = page.next_after_id
        return rows

    async def unjudged_count(self, project: int | None) -> int:
        counts = (await self.label_counts(project)).root
        return counts.get("unlabelled", 0) + counts.get("predicted", 0)

    async def calibration(self, model: str) -> StoredCalibration:
        return await self._ask(StoredCalibration, "GET", f"/v1/suggestions/calibration/{model}")

    async def put_calibration(self, model: str, calibration: Json) -> Calibration:
        return await self._ask(Calibration, "PUT", "/v1/suggestions/calibration",
                               json={"model": model, "calibration": calibration})

    async def store_predictions(self, predictions: Sequence[Prediction]) -> int:
        """Store suggestions, in batches the catalog takes; how many were written."""
        written = 0
        for start in range(0, len(predictions), PREDICTION_BATCH):
            batch = [p.model_dump() for p in predictions[start:start + PREDICTION_BATCH]]
            written += (await self._ask(PredictionsWritten, "POST", "/v1/suggestions",
                                        json={"data": batch})).written
        return written

    # --- adaptation heads (routes/adaptation.py) ---
    async def adaptation_state(self, project_id: int, model: str) -> AdaptationState:
        return await self._ask(AdaptationState, "GET", f"/v1/projects/{project_id}/adaptation",
                               params={"model": model})

    async def queue_adaptation(self, project_id: int, model: str, *, when_due: bool = False,
                               actor: int | None = None) -> RefitQueued:
        return await self._write(RefitQueued, "POST",
                                 f"/v1/projects/{project_id}/adaptation/refit", actor,
                                 params={"model": model, "when_due": when_due})

    async def active_head(self, project_id: int, model: str) -> ActiveHead:
        return await self._ask(ActiveHead, "GET", f"/v1/projects/{project_id}/adaptation/active",
                               params={"model": model})

    async def store_head(self, project_id: int, head: HeadIn) -> HeadPublic:
        return await self._ask(HeadPublic, "POST", f"/v1/projects/{project_id}/adaptation/heads",
                               json=head.model_dump(mode="json"))

    # --- cluster proposals (routes/clusters.py) ---
    async def cluster_queue(self, project_id: int) -> ClusterQueue:
        return await self._ask(ClusterQueue, "GET", f"/v1/projects/{project_id}/clusters")

    async def store_clusters(self, project_id: int, run: ClusterRunIn) -> int:
        answer = await self._send("PUT", f"/v1/projects/{project_id}/clusters",
                                  json=run.model_dump(mode="json"))
        return int(answer.json()["stored"])

    async def queue_clusters(self, project_id: int, *, when_due: bool = False,
                             actor: int | None = None) -> ClustersQueued:
        return await self._write(ClustersQueued, "POST",
                                 f"/v1/projects/{project_id}/clusters/refresh", actor,
                                 params={"when_due": when_due})

    async def cluster_images(self, cluster_id: int, limit: int, offset: int) -> ImageList:
        return await self._ask(ImageList, "GET", f"/v1/clusters/{cluster_id}/images",
                               params={"limit": limit, "offset": offset})

    async def cluster_remaining_ids(self, cluster_id: int) -> list[int]:
        answer = await self._send("GET", f"/v1/clusters/{cluster_id}/remaining-ids")
        return [int(i) for i in answer.json()["ids"]]

    # --- near-duplicates (routes/duplicates.py) ---
    async def flag_near_duplicates(self, flags: Sequence[NearDuplicateIn]) -> int:
        """Store the flags of one ingest batch; how many were new."""
        body = {"data": [f.model_dump() for f in flags]}
        return (await self._ask(NearDuplicatesFlagged, "POST", "/v1/duplicates", json=body)).flagged

    async def duplicate_pairs(self, status: DuplicateStatus, limit: int, offset: int) -> DuplicatePairs:
        return await self._ask(DuplicatePairs, "GET", "/v1/duplicates",
                               params={"status": status, "limit": limit, "offset": offset})

    async def merge_duplicate(self, image_id: int, actor: int | None) -> DuplicateSettled:
        return await self._write(DuplicateSettled, "POST", f"/v1/duplicates/{image_id}/merge", actor)

    async def dismiss_duplicate(self, image_id: int, actor: int | None) -> DuplicateSettled:
        return await self._write(DuplicateSettled, "POST", f"/v1/duplicates/{image_id}/dismiss", actor)

    # --- model versions (routes/models.py) ---
    async def model_versions(self) -> ModelVersions:
        return await self._ask(ModelVersions, "GET", "/v1/models")

    async def queue_reembed(self, name: str, body: ReembedIn,
                            actor: int | None = None) -> ReembedQueued:
        return await self._write(ReembedQueued, "POST", f"/v1/models/{name}/reembed", actor,
                                 json=body.model_dump(mode="json"))

    async def reembed_progress(self, name: str, progress: ReembedProgress) -> ModelVersion:
        return await self._ask(ModelVersion, "POST", f"/v1/models/{name}/progress",
                               json=progress.model_dump(mode="json"))

    async def activate_model(self, name: str) -> ModelVersion:
        return await self._ask(ModelVersion, "POST", f"/v1/models/{name}/activate")

    async def retire_model(self, name: str) -> VersionRetired:
        return await self._ask(VersionRetired, "DELETE", f"/v1/models/{name}")
