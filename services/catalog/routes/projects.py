"""/v1/projects: named groups of images, and the grants that say who works in each."""

from fastapi import APIRouter, status

from nauplius.core.contracts.catalog import (
    GrantIn,
    GrantList,
    GrantPublic,
    ImageIds,
    ImagesMoved,
    ProjectCreate,
    ProjectList,
    ProjectPublic,
)
from services.catalog import access
from services.catalog.deps import ActorDep, CallerDep, ConnectionDep, ScopeDep

router = APIRouter(prefix="/v1/projects")


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_project(
    conn: ConnectionDep, actor: ActorDep, caller: CallerDep, body: ProjectCreate
) -> ProjectPublic:
    """`grants` absent: everyone at their key's role, as every project before grants."""
    caller.require_admin("creating a project")
    return await access.create_project(conn, body.name, body.description, actor, body.grants)


@router.get("")
async def list_projects(conn: ConnectionDep, scope: ScopeDep) -> ProjectList:
    """The projects the caller may read, with their role in each."""
    return ProjectList(data=await access.list_projects(conn, scope))


@router.post("/{project_id}/images")
async def move_images(
    conn: ConnectionDep, caller: CallerDep, project_id: int, body: ImageIds
) -> ImagesMoved:
    caller.require_admin("moving images between projects")
    moved = await access.move_images(conn, project_id, body.image_ids)
    return ImagesMoved(moved=len(moved), image_ids=moved)


@router.get("/{project_id}/grants")
async def list_grants(conn: ConnectionDep, caller: CallerDep, project_id: int) -> GrantList:
    caller.require_admin("reading a project's grants")
    return GrantList(data=await access.list_grants(conn, project_id))


@router.put("/{project_id}/grants")
async def put_grant(
    conn: ConnectionDep, actor: ActorDep, caller: CallerDep, project_id: int, body: GrantIn
) -> GrantPublic:
    """Give one grantee a role in the project; a grantee's earlier role there is replaced."""
    caller.require_admin("granting roles in a project")
    return await access.put_grant(conn, project_id, body, actor)


@router.delete("/{project_id}/grants/{grant_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_grant(
    conn: ConnectionDep, caller: CallerDep, project_id: int, grant_id: int
) -> None:
    caller.require_admin("revoking a grant")
    await access.delete_grant(conn, project_id, grant_id)
