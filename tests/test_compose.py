"""docker-compose.yml checked against the services' own settings (Docker cannot run here)."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from nauplius.core.service_auth import SERVICE_KEY_FILE_ENV
from nauplius.stack import KEEP_ALIVE_S
from services.search.config import SearchSettings
from tests.support.compose import INTERNAL, REPO, SETTINGS, env_names, is_git_ignored


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


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
    catalog_env = services["catalog"]["environment"]
    database = urlparse(catalog_env["CATALOG_DATABASE_URL"])
    postgres_env = services["postgres"]["environment"]
    assert (database.hostname, database.port) == ("postgres", 5432)
    assert (database.username, database.path.lstrip("/")) == (
        postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_DB"])
    # The one password, from the one secret both read.
    assert catalog_env["CATALOG_DATABASE_PASSWORD_FILE"] == postgres_env["POSTGRES_PASSWORD_FILE"]


def secret_file(compose: dict, service: str, variable: str) -> Path:
    """The file of the Docker secret that `variable` of `service` names (checked to be one)."""
    path = compose["services"][service]["environment"][variable]
    name = path.removeprefix("/run/secrets/")
    assert path == f"/run/secrets/{name}", f"{service}: {variable} is no Docker secret"
    assert name in compose["services"][service]["secrets"], f"{service} is not given {name}"
    return REPO / compose["secrets"][name]["file"]


def test_every_internal_service_and_its_callers_get_the_credential_from_a_secret(compose):
    files = {secret_file(compose, service, SERVICE_KEY_FILE_ENV) for service in
             (*INTERNAL, "gateway")}
    assert len(files) == 1 and is_git_ignored(files.pop())
    assert not is_git_ignored(REPO / "deploy" / "secrets" / "README.md")


def test_the_database_password_and_qdrant_key_come_from_secrets(compose):
    password = secret_file(compose, "postgres", "POSTGRES_PASSWORD_FILE")
    assert secret_file(compose, "catalog", "CATALOG_DATABASE_PASSWORD_FILE") == password
    qdrant_key = secret_file(compose, "search", "QDRANT_API_KEY_FILE")
    qdrant = compose["services"]["qdrant"]
    secret = qdrant_key.name.replace("-", "_")
    assert secret in qdrant["secrets"] and compose["secrets"][secret]["file"].endswith(
        qdrant_key.name)
    assert f"QDRANT__SERVICE__API_KEY=\"$(cat /run/secrets/{secret})\"" in " ".join(
        qdrant["command"]).replace("$$", "$")
    assert all(is_git_ignored(path) for path in (password, qdrant_key))


def test_no_password_or_key_is_written_in_the_compose_file(compose):
    for name, service in compose["services"].items():
        for variable, value in service.get("environment", {}).items():
            if re.search(r"PASSWORD|KEY|SECRET|TOKEN", variable):
                assert variable.endswith("_FILE"), f"{name}: {variable} is written in the file"
            if "://" in str(value):
                assert urlparse(str(value)).password is None, f"{name}: {variable} has a password"


def test_only_the_gateway_publishes_a_port_and_the_rest_stay_on_the_private_network(compose):
    services = compose["services"]
    assert [name for name, service in services.items() if "ports" in service] == ["gateway"]
    assert compose["networks"]["internal"] == {"internal": True}
    for name, service in services.items():
        expected = ["internal", "public"] if name == "gateway" else ["internal"]
        assert service["networks"] == expected, name


@pytest.mark.parametrize("service", INTERNAL)
def test_internal_images_listen_on_loopback_unless_told(service):
    lines = (REPO / "deploy" / f"Dockerfile.{service}").read_text().splitlines()
    assert "ENV UVICORN_HOST=127.0.0.1" in lines
    [command] = [line for line in lines if line.startswith("CMD")]
    assert "--host" not in command


@pytest.mark.parametrize("service", [*INTERNAL, "gateway"])
def test_every_image_keeps_idle_connections_as_long_as_the_local_stack(service):
    """Longer than its callers' httpx keeps one (5 s), so a caller drops it first (nauplius.stack)."""
    text = (REPO / "deploy" / f"Dockerfile.{service}").read_text()
    found = re.search(r'"--timeout-keep-alive", "(\d+)"', text)
    assert found is not None and int(found.group(1)) == KEEP_ALIVE_S


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


def test_qdrant_runs_with_the_repository_config_for_this_load(compose, monkeypatch):
    qdrant = compose["services"]["qdrant"]
    assert "--config-path /qdrant/config/nauplius.yaml" in " ".join(qdrant["command"])
    assert "./deploy/qdrant/config.yaml:/qdrant/config/nauplius.yaml:ro" in qdrant["volumes"]
    storage = yaml.safe_load((REPO / "deploy" / "qdrant" / "config.yaml").read_text())["storage"]
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in qdrant["volumes"]}
    for key in ("storage_path", "snapshots_path"):
        assert mounted[storage[key]] in compose["volumes"], f"{key} is not on a named volume"
    # One server: the search service's layout defaults (one shard, vectors on disk, binary codes).
    for name, value in compose["services"]["search"]["environment"].items():
        monkeypatch.setenv(name, str(value))
    settings = SearchSettings()
    assert (settings.qdrant_shards, settings.qdrant_replicas) == (1, 1)
    assert settings.qdrant_on_disk and settings.qdrant_quantization == "binary"
