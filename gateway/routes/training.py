"""Fine-tuning from a project: POST /api/v1/projects/{project_id}/train queues a `train` job (admins).

The worker fine-tunes the embedding CNN on the project's validated images (where torch is
installed; services/worker/training.py) and writes a new model version with its card to its
models folder; the job's result names the files. Follow it at /api/v1/jobs/{id}.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.auth import Admin
from gateway.deps import DownstreamDep
from nauplius.core.contracts.catalog import JobStatus

router = APIRouter(prefix="/api/v1", tags=["training"])

ProjectId = Annotated[int, Path(ge=1, description="the project's id")]


class TrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(8, ge=1, le=100)
    resolution: int = Field(128, ge=64, le=512, description="input side in px, a multiple of 32")
    base: Literal["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2",
                  "resnet50"] = "efficientnet-lite0"

    @field_validator("resolution")
    @classmethod
    def _stride(cls, resolution: int) -> int:
        if resolution % 32:
            raise ValueError(f"resolution must be a multiple of 32 (the trunk's stride), "
                             f"not {resolution}")
        return resolution


@router.post("/projects/{project_id}/train", response_model=JobStatus, status_code=202)
async def train(project_id: ProjectId, downstream: DownstreamDep, p: Admin,
                body: TrainIn | None = None) -> JobStatus:
    """Queue a fine-tuning run on the project's validated images (202 with the job)."""
    settings = body or TrainIn()
    projects = (await downstream.catalog.projects()).data
    if all(project.id != project_id for project in projects):
        raise HTTPException(404, f"project {project_id} not found")
    validated = (await downstream.catalog.label_counts(project_id)).root.get("validated", 0)
    if validated < 2:
        raise HTTPException(422, f"project {project_id} has {validated} validated image(s); "
                                 "fine-tuning needs validated images of at least two classes")
    job = await downstream.catalog.create_task_job(
        "train", {"project": project_id, **settings.model_dump()}, "train", actor=p.annotator_id)
    return await downstream.catalog.job(job.id)
