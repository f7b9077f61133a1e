"""Taxonomy, projects, annotators and keys, batch labelling, suggestions, review, export."""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway import export
from gateway.auth import Admin, Annotator, Viewer
from gateway.deps import ActiveModelDep, DownstreamDep, ServicesDep, SettingsDep
from gateway.routes.common import UNCACHED, Cursor, Offset, thumbnail_url, with_urls
from gateway.schemas import (
    EXPORT_FILES,
    ExampleMatch,
    ExampleMatches,
    ImagePage,
    LabelCounts,
    LabelsAssigned,
    Me,
    SuggestionRefresh,
    SuggestionsAccepted,
)
from nauplius.core.adapted_search import nearest_in_project
from nauplius.core.clients import Downstream
from nauplius.core.contracts.catalog import (
    AnnotatorCreate,
    AnnotatorList,
    AnnotatorPublic,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyPublic,
    ExportRow,
    GrantIn,
    GrantList,
    GrantPublic,
    ImageIds,
    ImagesMoved,
    JobStatus,
    LabelPublic,
    LabelState,
    ProjectCreate,
    ProjectList,
    ProjectPublic,
    SuggestionGroups,
    TaxaImported,
    TaxonIn,
    TaxonList,
    TaxonPublic,
    TaxonUpdated,
)
from nauplius.core.contracts.text import Line
from nauplius.core.index_sync import sync_ids
from nauplius.core.jobs import wait_for_job

router = APIRouter(prefix="/api/v1", tags=["labelling"])

class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BatchLabelIn(Strict):
    image_ids: list[int] = Field(min_length=1, max_length=10_000)
    taxon: Line | None = Field(default=None, min_length=1, max_length=500)
    state: Literal["validated", "dubious", "unlabelled"] = "validated"


class AcceptIn(Strict):
    taxon: Line = Field(min_length=1, max_length=500)
    min_confidence: float = Field(ge=0, le=1)
    project: int | None = None
    instrument: Line | None = None
    image_ids: list[int] | None = Field(default=None, max_length=10_000)


class ReconcileIn(Strict):
    repair: bool = False


# The deepest rank a recommendation page reaches (the search service's largest k).
MAX_SIMILAR_RANK = 1000


class SimilarIn(Strict):
    image_ids: list[int] = Field(min_length=1, max_length=50)
    # "not like these": with any, the page is the recommendation query instead
    negative_ids: list[int] = Field(default_factory=list, max_length=50)
    state: LabelState | None = None
    suggested_taxon: Line | None = None
    instrument: Line | None = None
    project: int | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=800)


# --- taxonomy ------------------------------------------------------------------------------
@router.get("/taxa", response_model=TaxonList)
async def list_taxa(downstream: DownstreamDep, _: Viewer) -> TaxonList:
    return await downstream.catalog.taxa()


@router.post("/taxa", status_code=201, response_model=TaxonPublic)
async def create_taxon(downstream: DownstreamDep, p: Admin, body: TaxonIn) -> TaxonPublic:
    return await downstream.catalog.create_taxon(body, p.annotator_id)


@router.post("/taxa/import", response_model=TaxaImported, openapi_extra={
    "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}})
async def import_taxa(request: Request, downstream: DownstreamDep, p: Admin) -> TaxaImported:
    """Body: CSV text, header `name,rank,parent,aphia_id`."""
    return await downstream.catalog.import_taxa(await request.body(), p.annotator_id)


@router.put("/taxa/{taxon_id}", response_model=TaxonUpdated)
async def update_taxon(
    taxon_id: int, downstream: DownstreamDep, active_model: ActiveModelDep, p: Admin, body: TaxonIn,
) -> TaxonUpdated:
    taxon = await downstream.catalog.update_taxon(taxon_id, body, p.annotator_id)
    await sync_ids(downstream, active_model, taxon.relabelled_image_ids)
    return taxon


@router.delete("/taxa/{taxon_id}", status_code=204)
async def delete_taxon(taxon_id: int, downstream: DownstreamDep, p: Admin) -> Response:
    await downstream.catalog.delete_taxon(taxon_id, p.annotator_id)
    return Response(status_code=204)


# --- projects, annotators, keys ------------------------------------------------------------
@router.get("/projects", response_model=ProjectList)
async def list_projects(downstream: DownstreamDep, _: Viewer) -> ProjectList:
    return await downstream.catalog.projects()


@router.post("/projects", status_code=201, response_model=ProjectPublic)
async def create_project(downstream: DownstreamDep, p: Admin, body: ProjectCreate) -> ProjectPublic:
    return await downstream.catalog.create_project(body, p.annotator_id)


@router.post("/projects/{project_id}/images", response_model=ImagesMoved)
async def move_images(
    project_id: int, downstream: DownstreamDep, active_model: ActiveModelDep, p: Admin, body: ImageIds,
) -> ImagesMoved:
    moved = await downstream.catalog.move_images(project_id, body, p.annotator_id)
    await sync_ids(downstream, active_model, moved.image_ids)
    return moved


@router.get("/projects/{project_id}/grants", response_model=GrantList)
async def list_grants(project_id: int, downstream: DownstreamDep, _: Admin) -> GrantList:
    """Who may work in the project, and at what role (capped at each key's own)."""
    return await downstream.catalog.grants(project_id)


@router.put("/projects/{project_id}/grants", response_model=GrantPublic)
async def put_grant(project_id: int, downstream: DownstreamDep, p: Admin,
                    body: GrantIn) -> GrantPublic:
    """Give everyone, an institution or one annotator a role in the project; a grantee's earlier
    role there is replaced. Takes effect at once (grants are not cached)."""
    return await downstream.catalog.put_grant(project_id, body, p.annotator_id)


@router.delete("/projects/{project_id}/grants/{grant_id}", status_code=204)
async def delete_grant(project_id: int, grant_id: int, downstream: DownstreamDep,
                       _: Admin) -> Response:
    await downstream.catalog.delete_grant(project_id, grant_id)
    return Response(status_code=204)


@router.get("/me", response_model=Me)
async def me(p: Viewer) -> Me:
    return Me(annotator_id=p.annotator_id, name=p.name, institution=p.institution, role=p.role)


@router.get("/annotators", response_model=AnnotatorList)
async def list_annotators(downstream: DownstreamDep, _: Admin) -> AnnotatorList:
    return await downstream.catalog.annotators()


@router.post("/annotators", status_code=201, response_model=AnnotatorPublic)
async def create_annotator(downstream: DownstreamDep, p: Admin, body: AnnotatorCreate) -> AnnotatorPublic:
    return await downstream.catalog.create_annotator(body, p.annotator_id)


@router.get("/api-keys", response_model=ApiKeyList)
async def list_keys(downstream: DownstreamDep, _: Admin) -> ApiKeyList:
    return await downstream.catalog.api_keys()


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated)
async def create_key(downstream: DownstreamDep, p: Admin, body: ApiKeyCreate) -> ApiKeyCreated:
    """Answers the key once, in `key`; only its hash is kept."""
    return await downstream.catalog.create_api_key(body, p.annotator_id)


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyPublic)
async def revoke_key(key_id: int, request: Request, downstream: DownstreamDep, p: Admin) -> ApiKeyPublic:
    """Refused by this gateway at once; by other gateways within AUTH_CACHE_S."""
    revoked = await downstream.catalog.revoke_api_key(key_id, p.annotator_id)
    request.app.state.key_cache.clear()
    return revoked


# --- labels --------------------------------------------------------------------------------
# How long a label write waits for the incremental suggestions refresh it starts: long enough for
# a small batch's refresh, short enough that a busy refresh never holds an "Assign" for long
# (the answer then says the job, and the page's job counter follows it).
AFTER_VALIDATION_WAIT_S = 10.0


async def _refresh_job(downstream: DownstreamDep, mode: str, project: int | None,
                       actor: int | None, wait_s: float) -> JobStatus:
    if project is not None:
        writable = (await downstream.catalog.scope()).writable
        if writable is not None and project not in writable:
            raise HTTPException(403, f"project {project} is not one you may write")
        if project not in {p.id for p in (await downstream.catalog.projects()).data}:
            raise HTTPException(404, f"project {project} not found")
    job = await downstream.catalog.create_task_job(
        "suggestions", {"mode": mode, "project": project}, f"suggestions refresh ({mode})",
        actor=actor)
    status = await wait_for_job(downstream.catalog, job.id, wait_s)
    if status.task is not None and status.task.status == "failed":
        raise HTTPException(500, f"suggestions job {job.id} failed: {status.task.error}")
    return status


async def _after_validation(downstream: ServicesDep, active_model: ActiveModelDep,
                            image_ids: list[int], actor: int | None) -> tuple[int | None, int]:
    """Index payloads follow the catalog at once (the outbox makes sure); the suggestions whose
    neighbourhoods the validations changed are refreshed by an incremental job (the gateway's
    own work, following writes already allowed: the services unscoped). Answers what
    that job changed (None while it still runs) and its id."""
    await sync_ids(downstream, active_model, image_ids)
    status = await _refresh_job(downstream, "incremental", None, actor, AFTER_VALIDATION_WAIT_S)
    result = status.task.result if status.task is not None else None
    changed = result["changed"] if status.finished and result is not None else None
    return changed, status.id


@router.post("/labels/batch", response_model=LabelsAssigned)
async def assign_labels(
    body: BatchLabelIn, downstream: DownstreamDep, services: ServicesDep,
    active_model: ActiveModelDep, p: Annotator
) -> LabelsAssigned:
    """One taxon and state for every listed image, in one transaction."""
    result = await downstream.catalog.assign_labels(
        body.image_ids, body.taxon, body.state, create_taxon=p.may("admin"), actor=p.annotator_id)
    changed, job = await _after_validation(services, active_model, result.image_ids, p.annotator_id)
    return LabelsAssigned(**dict(result), suggestions_changed=changed, suggestions_job=job)


@router.post("/labels/{label_id}/revert", response_model=LabelPublic)
async def revert_label(
    label_id: int, downstream: DownstreamDep, active_model: ActiveModelDep, p: Annotator
) -> LabelPublic:
    """Undo one change of an image's label: it gets back what it had before that change."""
    label = await downstream.catalog.revert_label(label_id, p.annotator_id)
    await sync_ids(downstream, active_model, [label.image_id])
    return label


# --- suggestions and review ------------------------------------------------------------------
@router.post("/suggestions/refresh", response_model=SuggestionRefresh,
             responses={202: {"model": SuggestionRefresh,
                              "description": "still running after wait_s: follow the job"}})
async def refresh_suggestions(
    downstream: DownstreamDep, p: Annotator, response: Response,
    project: Annotated[int | None, Query(ge=1)] = None,
    wait_s: Annotated[float, Query(ge=0, le=300, description="how long to wait for the job")] = 60,
    mode: Literal["full", "incremental"] = "full",
) -> dict[str, Any]:
    """Re-calibrate on the validated images, then suggest a taxon for every unjudged image (or,
    `incremental`, only where label changes since the last run reach): a job the worker runs;
    answered once done, or with 202 and the job after `wait_s`."""
    status = await _refresh_job(downstream, mode, project, p.annotator_id, wait_s)
    if not status.finished:
        response.status_code = 202
    result = (status.task.result if status.task is not None else None) or {}
    return {"images": result.get("images"), "changed": result.get("changed"),
            "calibrated_on": result.get("calibrated_on"),
            "reliability": result.get("reliability", []), "mode": result.get("mode"),
            "revoted": result.get("revoted"), "job": status}


@router.post("/reconcile", response_model=JobStatus, status_code=202)
async def reconcile(body: ReconcileIn, downstream: DownstreamDep, p: Admin) -> JobStatus:
    """Compare the catalog with the search index in both directions (a job; `repair` mends what
    differs). Follow it at /api/v1/jobs/{id}; its task's result is the report."""
    job = await downstream.catalog.create_task_job("reconcile", {"repair": body.repair},
                                                   "reconcile", actor=p.annotator_id)
    return await downstream.catalog.job(job.id)


@router.get("/suggestions/groups", response_model=SuggestionGroups)
async def suggestion_groups(
    downstream: DownstreamDep, _: Viewer,
    min_confidence: Annotated[float, Query(ge=0, le=1)] = 0.9,
    project: Annotated[int | None, Query(ge=1)] = None,
) -> SuggestionGroups:
    return await downstream.catalog.suggestion_groups(min_confidence, project)


@router.post("/suggestions/accept", response_model=SuggestionsAccepted)
async def accept_suggestions(
    body: AcceptIn, downstream: DownstreamDep, services: ServicesDep,
    active_model: ActiveModelDep, p: Annotator
) -> SuggestionsAccepted:
    """Validate every image whose suggestion is `taxon` with confidence >= `min_confidence`, in
    the projects where the caller annotates."""
    result = await downstream.catalog.accept_suggestions(
        body.taxon, body.min_confidence, project_id=body.project, instrument=body.instrument,
        image_ids=body.image_ids, actor=p.annotator_id)
    changed, job = await _after_validation(services, active_model, result.image_ids, p.annotator_id)
    return SuggestionsAccepted(**dict(result), suggestions_changed=changed, suggestions_job=job)


@router.get("/review", response_model=ImagePage)
async def review_queue(
    downstream: DownstreamDep, _: Viewer,
    order: Literal["confident", "uncertain"] = "confident",
    project: Annotated[int | None, Query(ge=1)] = None,
    taxon: Line | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> ImagePage:
    """Unvalidated images with a suggestion, grouped by suggested taxon, most confident first
    (`order=uncertain`: least confident first, to check); `next_cursor` pages on."""
    page = await downstream.catalog.list_images(limit, offset, state="predicted", order=order,
                                                project_id=project, label=taxon, cursor=cursor)
    return ImagePage(data=[with_urls(i) for i in page.data], count=page.count,
                     next_cursor=page.next_cursor)


@router.post("/similar", response_model=ExampleMatches)
async def query_by_example(
    body: SimilarIn, downstream: DownstreamDep, active_model: ActiveModelDep, _: Viewer
) -> ExampleMatches:
    """Images most similar to any of the examples (best score over them), filtered, paged; only
    examples and neighbours of projects the caller may read.

    With `negative_ids` (at most 50, "not like these"), the images most like the examples and
    unlike the negatives: the search service's recommendation query (average_vector: the score
    is the cosine to 2 * mean(examples) - mean(negatives)), filtered and paged the same way;
    negatives must be readable too, and neither examples nor negatives are answered."""
    model = await active_model.get()
    if both := sorted(set(body.image_ids) & set(body.negative_ids)):
        raise HTTPException(422, f"image ids both in image_ids and negative_ids: {both[:20]}")
    asked = [*body.image_ids, *body.negative_ids]
    known = {image.id for image in await downstream.catalog.lookup(asked)}
    if unknown := sorted(set(asked) - known):
        raise HTTPException(404, f"unknown image ids: {unknown[:20]}")
    projects = (await downstream.catalog.scope()).readable
    conditions: dict[str, str] = {}
    if body.suggested_taxon is not None:
        conditions.update(label=body.suggested_taxon, state="predicted")
    if body.state is not None:
        if conditions.get("state", body.state) != body.state:
            raise HTTPException(422, "suggested_taxon filters on state 'predicted'")
        conditions["state"] = body.state
    if body.instrument is not None:
        conditions["instrument"] = body.instrument
    if body.project is not None:
        if projects is not None and body.project not in projects:
            raise HTTPException(403, f"project {body.project} is not one you may read")
        conditions["project"] = str(body.project)
        projects = None
    if body.negative_ids:
        ranked = await _recommended(downstream, model.name, body, conditions, projects)
    else:
        ranked = await _nearest_to_any(downstream, model.name, body, conditions, projects)
    if (adapted := await nearest_in_project(downstream.search, downstream.catalog, model.name, body.project,
            body.image_ids, body.negative_ids, conditions, body.offset + body.limit)) is not None:
        ranked = adapted  # the project's adaptation head is active (nauplius/core/adapted_search.py)
    page = ranked[body.offset: body.offset + body.limit]
    images = {image.id: image for image in await downstream.catalog.lookup([i for i, _ in page])}
    return ExampleMatches(
        data=[ExampleMatch(**dict(images[i]), score=score, thumbnail_url=thumbnail_url(i))
              for i, score in page if i in images],
        offset=body.offset, more=len(ranked) > body.offset + body.limit,
    )


async def _recommended(downstream: Downstream, model: str, body: SimilarIn,
                       conditions: dict[str, str], projects: list[int] | None) -> list[tuple[int, float]]:
    # One more than the page: whether another follows (offset + limit is at most 1,000).
    wanted = min(MAX_SIMILAR_RANK, body.offset + body.limit + 1)
    hits = await downstream.search.recommend(
        model, positive_ids=body.image_ids, negative_ids=body.negative_ids, k=wanted,
        filter=conditions, projects=projects)
    return [(hit.id, hit.score) for hit in hits]


async def _nearest_to_any(downstream: Downstream, model: str, body: SimilarIn,
                          conditions: dict[str, str], projects: list[int] | None) -> list[tuple[int, float]]:
    wanted = body.offset + body.limit + len(body.image_ids)
    results = await asyncio.gather(*(
        downstream.search.query(model, k=wanted, metric="cosine", image_id=i,
                                filter=conditions, projects=projects)
        for i in body.image_ids))
    best: dict[int, float] = {}
    examples = set(body.image_ids)
    for hits in results:
        for hit in hits:
            if hit.id not in examples:
                best[hit.id] = max(best.get(hit.id, -2.0), hit.score)
    return sorted(best.items(), key=lambda item: -item[1])


@router.get("/label-counts", response_model=LabelCounts)
async def label_counts(
    downstream: DownstreamDep, _: Viewer, project: Annotated[int | None, Query(ge=1)] = None
) -> LabelCounts:
    counts = (await downstream.catalog.label_counts(project)).root
    return LabelCounts.model_validate(counts)


# --- export --------------------------------------------------------------------------------
@router.get("/export", response_class=Response, responses=EXPORT_FILES)
async def export_labels(
    request: Request, downstream: DownstreamDep, settings: SettingsDep, _: Viewer,
    format: Literal["csv", "ecotaxa", "dwca"] = "csv",
    states: Annotated[list[LabelState] | None, Query(description="default: validated only")] = None,
    project: Annotated[int | None, Query(ge=1)] = None,
) -> StreamingResponse:
    """Streamed: the catalog is read a page of rows at a time and each page written out as it
    comes, so memory stays bounded whatever the number of rows."""
    pages = downstream.catalog.export_pages(states or ["validated"], project,
                                            settings.export_page_rows)
    # The first page is asked before the answer starts: a refusal (a project the caller may not
    # read, a bad state) is still the catalog's own status and detail, not a broken download.
    first = await anext(pages, None)
    writer, media_type, filename = _EXPORTS[format](str(request.base_url))
    return StreamingResponse(export.stream(writer, _as_json(first, pages)), media_type=media_type,
                             headers=_download(filename))


_EXPORTS: dict[str, Callable[[str], tuple[export.Writer, str, str]]] = {
    "csv": lambda _: (export.CsvWriter(), "text/csv", "nauplius.csv"),
    "ecotaxa": lambda _: (export.EcotaxaWriter(), "text/tab-separated-values",
                          "ecotaxa_nauplius.tsv"),
    "dwca": lambda base_url: (export.DwcaWriter(base_url), "application/zip",
                              "nauplius-dwca.zip"),
}


async def _as_json(first: list[ExportRow] | None,
                   rest: AsyncIterator[list[ExportRow]]) -> AsyncIterator[list[dict[str, Any]]]:
    # The writers take the rows as the catalog's JSON has them (times as ISO 8601 text).
    if first is None:
        return
    yield [row.model_dump(mode="json") for row in first]
    async for page in rest:
        yield [row.model_dump(mode="json") for row in page]


def _download(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": UNCACHED}
