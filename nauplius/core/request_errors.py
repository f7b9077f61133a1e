"""The 422 of a request its models refuse, as FastAPI answers it, written so that any input can be
echoed back: a lone surrogate (no UTF-8 form) or a NaN (no JSON form) sent in a body made
FastAPI's own error answer fail, a 500 instead of the 422. Every service installs it."""

import math
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

_SURROGATES = re.compile(r"[\ud800-\udfff]")


def echoable(value: Any) -> Any:
    """`value` with every lone surrogate replaced by U+FFFD and every NaN or infinity as text."""
    if isinstance(value, str):
        return _SURROGATES.sub("\ufffd", value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {echoable(key): echoable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [echoable(item) for item in value]
    return value


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": echoable(jsonable_encoder(exc.errors()))})


def install_request_validation_handler(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _request_validation_error)
