"""The service credential: one shared secret every internal service asks of each caller.

Only the gateway (for the people behind their API keys), the worker and the command line's
direct calls hold it; a request without it is refused before its body is read, so no other
process on the host, however it reaches a port, can write to the catalog or the index, or claim
to speak for an annotator.

Where it comes from, in every process: `NAUPLIUS_SERVICE_KEY_FILE` (a file holding it: a Docker
secret, or `DATA_DIR/service-key`, which `nauplius up` makes) or `NAUPLIUS_SERVICE_KEY` (the
value, from an env file); a service refuses to start without one.
"""

import hmac
import json
import os
import re
import secrets
import stat
from collections.abc import Collection, Mapping
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

SERVICE_KEY_HEADER = "X-Nauplius-Service-Key"
SERVICE_KEY_ENV = "NAUPLIUS_SERVICE_KEY"
SERVICE_KEY_FILE_ENV = "NAUPLIUS_SERVICE_KEY_FILE"
# Answered without the credential: liveness probes (and `nauplius.stack`, which waits on them).
OPEN_PATHS: frozenset[str] = frozenset({"/health"})

# Printable ASCII (it travels in a header), long enough not to be guessed.
_KEY_FORM = re.compile(r"[\x21-\x7e]{32,}")
_HEADER = SERVICE_KEY_HEADER.lower().encode()


class ServiceKeyError(RuntimeError):
    """No usable service credential: the message says what to do."""


def checked_key(value: str, origin: str) -> str:
    key = value.strip()
    if not _KEY_FORM.fullmatch(key):
        raise ServiceKeyError(
            f"the service credential in {origin} must be at least 32 printable ASCII characters "
            "without spaces (make one with: python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')")
    return key


def read_key_file(path: Path) -> str:
    """The credential in a file named by the deployment (a Docker or Kubernetes secret, which
    may be a link: followed here, unlike the file `nauplius up` owns)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ServiceKeyError(f"cannot read the service credential file {path}: "
                              f"{exc.strerror or exc}") from exc
    return checked_key(text, str(path))


def service_key_from_environment(environ: Mapping[str, str] = os.environ) -> str:
    """The credential this process proves or checks (see the module's docstring)."""
    file, value = environ.get(SERVICE_KEY_FILE_ENV), environ.get(SERVICE_KEY_ENV)
    if file and value:
        raise ServiceKeyError(f"set {SERVICE_KEY_FILE_ENV} or {SERVICE_KEY_ENV}, not both")
    if file:
        return read_key_file(Path(file))
    if value:
        return checked_key(value, SERVICE_KEY_ENV)
    raise ServiceKeyError(
        f"no service credential: set {SERVICE_KEY_FILE_ENV} to a file holding the secret the "
        f"services share (`nauplius up` makes DATA_DIR/service-key; compose takes a Docker "
        f"secret) or {SERVICE_KEY_ENV} to the secret itself")


def ensure_key_file(path: Path) -> str:
    """The credential in `path`, made there first if there is none: created exclusively with
    mode 0600, never through a link; an existing file is used only if it is a regular file of
    ours with mode 0600 (anything else is refused, with what to do)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:  # also a link, dangling or not: O_EXCL never follows one
        return _reuse_key_file(path)
    os.fchmod(descriptor, 0o600)  # whatever the umask
    key = secrets.token_urlsafe(32)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
    return key


def _reuse_key_file(path: Path) -> str:
    try:
        # O_NONBLOCK: a FIFO put in its place must not hang the start (it is refused below).
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:  # ELOOP: the name is a symbolic link
        kind = "a symbolic link" if path.is_symlink() else "not readable"
        raise ServiceKeyError(f"the service credential file {path} is {kind}: refusing it; "
                              "remove it and start again to make a new one") from exc
    with os.fdopen(descriptor) as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise ServiceKeyError(f"the service credential file {path} is not a regular file")
        if status.st_uid != os.getuid():
            raise ServiceKeyError(f"the service credential file {path} belongs to another user")
        mode = stat.S_IMODE(status.st_mode)
        if mode != 0o600:
            raise ServiceKeyError(f"the service credential file {path} has mode {mode:04o}; "
                                  f"it must be 0600 (chmod 600 {path})")
        return checked_key(handle.read(), str(path))


class ServiceKeyMiddleware:
    """Pure ASGI: answers 401 unless the request carries the app's credential
    (`app.state.service_key`, set in its lifespan), before anything reads the body.

    `exempt`: exact paths answered without it (`OPEN_PATHS`; add "/metrics" for a scraper)."""

    def __init__(self, app: ASGIApp, exempt: Collection[str] = OPEN_PATHS) -> None:
        self.app = app
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (scope["type"] == "http"
                                           and scope["path"] in self.exempt):
            await self.app(scope, receive, send)
            return
        problem = self._problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await _refuse(send, problem)
        else:  # a websocket: none is served; close it unanswered
            await send({"type": "websocket.close", "code": 1008})

    def _problem(self, scope: Scope) -> str | None:
        expected = getattr(scope["app"].state, "service_key", None)
        given = [value for name, value in scope["headers"] if name == _HEADER]
        if not given:
            return (f"missing service credential ({SERVICE_KEY_HEADER}): internal services "
                    "answer only the gateway, the worker and the command line")
        if expected is None or len(given) != 1 or not hmac.compare_digest(given[0],
                                                                          expected.encode()):
            return f"wrong service credential ({SERVICE_KEY_HEADER})"
        return None


async def _refuse(send: Send, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
