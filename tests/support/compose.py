"""What the compose checks share (tests/test_compose.py, tests/test_deploy.py): the settings each
service reads, and the repository's git-ignore rule for secrets."""
from __future__ import annotations

from pathlib import Path

from gateway.config import GatewaySettings
from nauplius.core.service_auth import SERVICE_KEY_ENV, SERVICE_KEY_FILE_ENV
from services.catalog.config import CatalogSettings
from services.embedder.config import EmbedderSettings
from services.search.config import SearchSettings
from services.worker.config import WorkerSettings

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {"embedder": EmbedderSettings, "search": SearchSettings,
            "catalog": CatalogSettings, "gateway": GatewaySettings, "worker": WorkerSettings}
INTERNAL = ("embedder", "search", "catalog", "worker")
# Read by every one of our processes besides its settings: the service credential
# (nauplius.core.service_auth) and uvicorn's listening address.
COMMON_ENV = {SERVICE_KEY_FILE_ENV: False, SERVICE_KEY_ENV: False, "UVICORN_HOST": False}


def env_names(settings_class) -> dict[str, bool]:
    """Every environment variable a settings class reads -> whether it is required."""
    prefix = settings_class.model_config["env_prefix"]
    names = dict(COMMON_ENV)
    for field_name, field in settings_class.model_fields.items():
        aliases = getattr(field.validation_alias, "choices", None) or [prefix + field_name]
        for alias in aliases:
            names[str(alias).upper()] = field.is_required()
    return names


def is_git_ignored(path: Path) -> bool:
    """Whether the repository's .gitignore (the patterns this compose file relies on) ignores
    `path`: the secrets folder is ignored, all but its README."""
    patterns = (REPO / ".gitignore").read_text().splitlines()
    relative = path.relative_to(REPO).as_posix()
    return ("/deploy/secrets/*" in patterns and relative.startswith("deploy/secrets/")
            and f"!/{relative}" not in patterns)
