"""Migration 007 on an install from before grants: every project it finds grants everyone at their
key's role, so a single-lab install works on as before; jobs get the project they work in."""

import shutil
from pathlib import Path

import asyncpg
import pytest

from services.catalog.migrations import MIGRATIONS_DIR, apply_migrations
from tests.support.database import create_database, drop_database


async def test_projects_from_before_grants_grant_everyone(tmp_path: Path) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if int(path.name[:3]) < 7:
            shutil.copy(path, before / path.name)
    url = await create_database("nauplius_grants_migration")
    try:
        conn = await asyncpg.connect(url)
        try:
            await apply_migrations(conn, before)
            lake = await conn.fetchval("INSERT INTO projects (name) VALUES ('lake') RETURNING id")
            await conn.execute(
                "INSERT INTO ingest_jobs (kind, params) VALUES ('ingest', '{}'),"
                " ('suggestions', $1::jsonb), ('suggestions', '{\"project\": null}')",
                f'{{"project": {lake}}}')
            assert 7 in await apply_migrations(conn)  # and any later ones

            grants = await conn.fetch("SELECT project_id, everyone, institution, annotator_id,"
                                      " role FROM project_grants ORDER BY project_id")
            assert [tuple(g) for g in grants] == [(1, True, None, None, "admin"),
                                                  (lake, True, None, None, "admin")]
            projects = await conn.fetch("SELECT project_id FROM ingest_jobs ORDER BY id")
            assert [r["project_id"] for r in projects] == [1, lake, 1]
            with pytest.raises(asyncpg.CheckViolationError):  # a grant names one grantee
                await conn.execute("INSERT INTO project_grants (project_id, everyone,"
                                   " institution, role) VALUES (1, true, 'X-Lab', 'viewer')")
            with pytest.raises(asyncpg.UniqueViolationError):  # one grant per grantee
                await conn.execute("INSERT INTO project_grants (project_id, everyone, role)"
                                   " VALUES (1, true, 'viewer')")
        finally:
            await conn.close()
    finally:
        await drop_database(url)
