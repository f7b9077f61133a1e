"""Downstream failures (nauplius.core.errors) mapped to HTTP answers in one place."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from nauplius.core.errors import DownstreamError
from nauplius.core.request_errors import install_request_validation_handler


async def _downstream_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DownstreamError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


def install_error_handlers(app: FastAPI) -> None:
    install_request_validation_handler(app)
    app.add_exception_handler(DownstreamError, _downstream_error)
