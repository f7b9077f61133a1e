"""docker-compose.yml checked against the services' own settings (Docker cannot run here)."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from gateway.config import GatewaySettings
from services.catalog.config import CatalogSettings
from services.embedder.config import EmbedderSettings
from services.search.config import SearchSettings
from services.worker.config import WorkerSettings

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {"embedder": EmbedderSettings, "search": SearchSettings,
            "catalog": CatalogSettings, "gateway": GatewaySettings, "worker": WorkerSettings}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def env_names(settings_class) -> dict[str, bool]:
    """Every environment variable a settings class reads -> whether it is required."""
    prefix = settings_class.model_config["env_prefix"]
    names = {}
    for field_name, field in settings_class.model_fields.items():
        aliases = getattr(field.validation_alias, "choices", None) or [prefix + field_name]
        for alias in aliases:
            names[str(alias).upper()] = field.is_required()
    return names


def dockerfile_port(service: str) -> int:
    text = (REPO / "deploy" / f"Dockerfile.{service}").read_text()
    found = re.search(r'"--port", "(\d+)"', text)
    assert found is not None, f"Dockerfile.{service} names no --port"
    cmd_port = int(found.group(1))
    assert f"EXPOSE {cmd_port}" in text
    assert f"127.0.0.1:{cmd_port}/health" in text
    return cmd_port


@pytest.mark.parametrize("service", SETTINGS)
def test_every_required_setting_is_set_and_every_variable_is_known(compose, service):
    environment = compose["services"][service].get("environment", {})
    known = env_names(SETTINGS[service])
    missing = [name for name, required in known.items() if required and name not in environment]
    assert not missing, f"{service} requires {missing}"
    unknown = [name for name in environment if name not in known]
    assert not unknown, f"{service} sets variables it never reads: {unknown}"


@pytest.mark.parametrize("service", SETTINGS)
def test_settings_parse_from_the_compose_environment(compose, service, monkeypatch):
    for name, value in compose["services"][service].get("environment", {}).items():
        monkeypatch.setenv(name, str(value))
    SETTINGS[service]()


@pytest.mark.parametrize("service", SETTINGS)
def test_dockerfile_builds_the_service_alone(compose, service):
    build = compose["services"][service]["build"]
    text = (REPO / build["context"] / build["dockerfile"]).read_text()
    assert f"pip install '.[{service}]'" in text


def test_ports_agree(compose):
    services = compose["services"]
    for service in SETTINGS:
        port = dockerfile_port(service)
        assert f"127.0.0.1:{port}/health" in " ".join(services[service]["healthcheck"]["test"])
    gateway_env = services["gateway"]["environment"]
    for service in ("embedder", "search", "catalog"):
        url = urlparse(gateway_env[f"GATEWAY_{service.upper()}_URL"])
        assert (url.hostname, url.port) == (service, dockerfile_port(service))
    worker_env = services["worker"]["environment"]
    for service in ("embedder", "search", "catalog"):
        url = urlparse(worker_env[f"WORKER_{service.upper()}_URL"])
        assert (url.hostname, url.port) == (service, dockerfile_port(service))
        assert services["worker"]["depends_on"][service] == {"condition": "service_healthy"}
    assert services["gateway"]["ports"] == [f"{dockerfile_port('gateway')}:{dockerfile_port('gateway')}"]
    qdrant = urlparse(services["search"]["environment"]["QDRANT_URL"])
    assert qdrant.hostname == "qdrant" and qdrant.port == 6333
    database = urlparse(services["catalog"]["environment"]["CATALOG_DATABASE_URL"])
    postgres_env = services["postgres"]["environment"]
    assert (database.hostname, database.port) == ("postgres", 5432)
    assert (database.username, database.password, database.path.lstrip("/")) == (
        postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_PASSWORD"], postgres_env["POSTGRES_DB"])


def test_every_service_is_healthchecked_and_waits_for_healthy_dependencies(compose):
    services = compose["services"]
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
    assert set(services["gateway"]["depends_on"]) == {"embedder", "search", "catalog"}


def test_qdrant_image_is_pinned(compose):
    assert re.fullmatch(r"qdrant/qdrant:v\d+\.\d+\.\d+", compose["services"]["qdrant"]["image"])


def test_embedder_model_is_in_the_mounted_models_folder(compose):
    embedder = compose["services"]["embedder"]
    host, container = embedder["volumes"][0].split(":")[:2]
    model = Path(embedder["environment"]["EMBEDDER_MODEL_PATH"])
    relative = model.relative_to(container)
    assert (REPO / host / relative).is_file()
    assert (REPO / host / relative).with_suffix(".json").is_file()
