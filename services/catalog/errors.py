"""Domain errors of the catalog and their one mapping to HTTP responses."""

import logging

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from nauplius.core.request_errors import install_request_validation_handler

logger = logging.getLogger("nauplius.catalog")


class CatalogError(Exception):
    status_code = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ImageNotFound(CatalogError):
    status_code = 404


class UndecodableImage(CatalogError):
    status_code = 422


class ImageTooLarge(CatalogError):
    status_code = 413


class InvalidMetadata(CatalogError):
    status_code = 422


class NotFound(CatalogError):
    """A taxon, project, annotator, API key or label id that does not exist."""

    status_code = 404


class TaxonNotFound(NotFound):
    pass


class UnknownTaxon(CatalogError):
    """A label or parent names a taxon that is not in the tree."""

    status_code = 422


class Conflict(CatalogError):
    """A unique name or AphiaID taken, or a delete of something still in use."""

    status_code = 409


class TaxonConflict(Conflict):
    pass


class StagedBytesGone(CatalogError):
    """A job item whose staged bytes are gone: no retry can ingest it (410, so its worker fails
    that item alone and goes on with the rest of the batch)."""

    status_code = 410


class StoredFileMissing(CatalogError):
    """A catalogued image whose bytes are gone from data_dir: a server-side fault."""

    status_code = 500


class MigrationChanged(RuntimeError):
    """An applied migration file was edited afterwards; refuse to start."""


async def _catalog_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CatalogError)
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail})


async def _unstorable_text_handler(request: Request, exc: Exception) -> JSONResponse:
    """The last line behind the contracts' text types (nauplius.core.contracts.text): text
    PostgreSQL cannot hold (a NUL) that reached a query is the caller's 422, never a 500."""
    return JSONResponse(status_code=422, content={"detail": f"text the catalog cannot store: {exc}"})


async def _unstorable_value_handler(request: Request, exc: Exception) -> JSONResponse:
    """Any other value PostgreSQL cannot take (SQLSTATE class 22, or asyncpg's own check: an id
    past the int64 range, a number out of its column's range) is the caller's 422 too."""
    logger.warning("refused a value the catalog cannot store: %s", exc)
    return JSONResponse(status_code=422, content={"detail": f"a value the catalog cannot store: {exc}"})


def install_error_handlers(app: FastAPI) -> None:
    install_request_validation_handler(app)
    app.add_exception_handler(CatalogError, _catalog_error_handler)
    for unstorable in (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError):
        app.add_exception_handler(unstorable, _unstorable_text_handler)
    app.add_exception_handler(asyncpg.DataError, _unstorable_value_handler)
