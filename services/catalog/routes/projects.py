"""/v1/projects: named groups of images."""

from fastapi import APIRouter, status

from nauplius.core.contracts.catalog import (
    ImageIds,
    ImagesMoved,
    ProjectCreate,
    ProjectList,
    ProjectPublic,
)
from services.catalog import access
from services.catalog.deps import ActorDep, ConnectionDep

router = APIRouter(prefix="/v1/projects")


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_project(
    conn: ConnectionDep, actor: ActorDep, body: ProjectCreate
) -> ProjectPublic:
    return await access.create_project(conn, body.name, body.description, actor)


@router.get("")
async def list_projects(conn: ConnectionDep) -> ProjectList:
    return ProjectList(data=await access.list_projects(conn))


@router.post("/{project_id}/images")
async def move_images(conn: ConnectionDep, project_id: int, body: ImageIds) -> ImagesMoved:
    moved = await access.move_images(conn, project_id, body.image_ids)
    return ImagesMoved(moved=len(moved), image_ids=moved)
