"""Numbered plain-SQL migrations (migrations/NNN_name.sql), applied in order at start.

Each file runs in its own transaction under a transaction-level advisory lock, so two
processes starting at once apply every migration exactly once.
"""

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from services.catalog import queries
from services.catalog.errors import MigrationChanged

logger = logging.getLogger("nauplius.catalog")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in directory.glob("*.sql"):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file name {path.name!r} is not NNN_name.sql")
        migrations.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {directory}")
    return migrations


async def apply_migrations(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply the migrations not yet recorded in schema_migrations; return their versions."""
    applied_now = []
    async with conn.transaction():
        await conn.execute(queries.MIGRATION_LOCK, queries.MIGRATION_LOCK_KEY)
        await conn.execute(queries.CREATE_SCHEMA_MIGRATIONS)
    for migration in load_migrations(directory):
        async with conn.transaction():
            await conn.execute(queries.MIGRATION_LOCK, queries.MIGRATION_LOCK_KEY)
            recorded = await conn.fetchval(queries.MIGRATION_CHECKSUM, migration.version)
            if recorded is not None:
                if recorded != migration.checksum:
                    raise MigrationChanged(
                        f"migration {migration.version:03d}_{migration.name} "
                        "was edited after it was applied"
                    )
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                queries.RECORD_MIGRATION, migration.version, migration.name, migration.checksum
            )
            applied_now.append(migration.version)
            logger.info("applied migration %03d_%s", migration.version, migration.name)
    return applied_now
