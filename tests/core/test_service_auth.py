"""The service credential's middleware and where a process finds the credential."""

import httpx
import pytest
from fastapi import FastAPI

from nauplius.core.service_auth import (
    OPEN_PATHS,
    SERVICE_KEY_HEADER,
    ServiceKeyError,
    ServiceKeyMiddleware,
    service_key_from_environment,
)

KEY = "k" * 40


def tiny_app(**middleware: object) -> FastAPI:
    app = FastAPI()
    app.add_middleware(ServiceKeyMiddleware, **middleware)  # type: ignore[arg-type]
    app.state.service_key = KEY
    for path in ("/health", "/metrics", "/v1/things"):
        app.add_api_route(path, lambda: {"ok": True})
    return app


async def status(app: FastAPI, path: str, headers: dict[str, str] | None = None) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://service") as client:
        return (await client.get(path, headers=headers)).status_code


async def test_exempt_paths_are_a_parameter():
    default, scraped = tiny_app(), tiny_app(exempt=OPEN_PATHS | {"/metrics"})
    assert [await status(default, p) for p in ("/health", "/metrics", "/v1/things")] == [
        200, 401, 401]
    assert [await status(scraped, p) for p in ("/health", "/metrics", "/v1/things")] == [
        200, 200, 401]
    assert await status(default, "/v1/things", {SERVICE_KEY_HEADER: KEY}) == 200


async def test_a_prefix_or_a_longer_key_is_refused():
    app = tiny_app()
    for near in (KEY[:-1], KEY + "k", KEY.upper(), ""):
        assert await status(app, "/v1/things", {SERVICE_KEY_HEADER: near}) == 401
    assert await status(app, "/health/", {}) == 401  # exempt means exactly that path


async def test_an_app_whose_key_was_never_set_refuses_everyone():
    app = tiny_app()
    del app.state.service_key
    assert await status(app, "/v1/things", {SERVICE_KEY_HEADER: KEY}) == 401


def test_the_credential_comes_from_a_file_or_the_environment(tmp_path):
    key_file = tmp_path / "service-key"
    key_file.write_text(KEY + "\n")
    assert service_key_from_environment({"NAUPLIUS_SERVICE_KEY_FILE": str(key_file)}) == KEY
    assert service_key_from_environment({"NAUPLIUS_SERVICE_KEY": KEY}) == KEY
    with pytest.raises(ServiceKeyError, match="not both"):
        service_key_from_environment({"NAUPLIUS_SERVICE_KEY_FILE": str(key_file),
                                      "NAUPLIUS_SERVICE_KEY": KEY})
    with pytest.raises(ServiceKeyError, match="at least 32 printable ASCII"):
        service_key_from_environment({"NAUPLIUS_SERVICE_KEY": "secret"})
    with pytest.raises(ServiceKeyError, match="cannot read the service credential file"):
        service_key_from_environment({"NAUPLIUS_SERVICE_KEY_FILE": str(tmp_path / "none")})
    with pytest.raises(ServiceKeyError, match="no service credential"):
        service_key_from_environment({})
