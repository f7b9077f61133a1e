"""`nauplius up` as a person runs it: its own PostgreSQL (pgserver), embedded Qdrant, Ctrl-C stops all."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e


def five_free_ports() -> int:
    for base in range(28000 + os.getpid() % 1000 * 8, 60000, 8):
        try:
            sockets = [socket.create_server(("127.0.0.1", base + i)) for i in range(5)]
        except OSError:
            continue
        for s in sockets:
            s.close()
        return base
    raise RuntimeError("no five consecutive free ports")


def start_up(data_dir: Path, port: int) -> subprocess.Popen:
    # As a person runs it: API keys on (the default), the first admin key in the data directory.
    env = {k: v for k, v in os.environ.items()
           if k not in ("CATALOG_DATABASE_URL", "QDRANT_URL", "GATEWAY_AUTH")}
    return subprocess.Popen([sys.executable, "-m", "nauplius.cli", "up", "--data-dir", str(data_dir),
                             "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for_url(process: subprocess.Popen, timeout_s: float = 240) -> str:
    printed = wait_for_line(process, "Nauplius is running at", timeout_s)
    return printed.rsplit("running at ", 1)[1].split()[0]


def wait_for_line(process: subprocess.Popen, text: str, timeout_s: float = 240) -> str:
    """Everything `nauplius up` printed up to the line holding `text`."""
    deadline = time.monotonic() + timeout_s
    output = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        output.append(line)
        if text in line:
            return "".join(output)
    process.kill()
    raise AssertionError(f"nauplius up never printed {text!r}:\n" + "".join(output))


def kill_service(command_part: str) -> None:
    """SIGKILL the one process whose command line holds `command_part`."""
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
            and command_part in _command_line(p)]
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGKILL)


def _command_line(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=60)


def test_up_serves_keeps_data_and_stops_on_ctrl_c(tmp_path, shared_data):
    port = five_free_ports()
    image = sorted((shared_data / "zoolake" / "fish").iterdir())[0]

    process = start_up(tmp_path / "data", port)
    try:
        url = wait_for_url(process)
        assert url == f"http://127.0.0.1:{port}/"
        assert httpx.get(f"{url}health", timeout=10).status_code == 200
        key_file = tmp_path / "data" / "admin-api-key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        admin = {"Authorization": f"Bearer {key_file.read_text().strip()}"}
        assert httpx.get(f"{url}api/v1/images", timeout=10).status_code == 401
        stored = httpx.post(f"{url}api/v1/images", files={"files": (image.name, image.read_bytes())},
                            data={"label": "fish"}, headers=admin, timeout=60).json()["data"][0]
        assert stored["error"] is None and stored["duplicate"] is False
        # A service killed (out of memory, say) is restarted alone; the system answers again.
        kill_service(f"services.embedder.main:app --host 127.0.0.1 --port {port + 1} ")
        again = wait_for_line(process, "embedder is back at")
        assert "embedder stopped unexpectedly" in again and process.poll() is None
        assert httpx.get(f"{url}health", timeout=10).json()["status"] == "ok"
    finally:
        assert stop(process) == 0
    for offset in range(5):  # every service (and the worker) has let go of its port
        socket.create_server(("127.0.0.1", port + offset)).close()

    process = start_up(tmp_path / "data", port)  # the same data directory again
    try:
        url = wait_for_url(process)
        # The key of the first start still works; no second key was made.
        assert key_file.read_text().strip() == admin["Authorization"][7:]
        again = httpx.post(f"{url}api/v1/images", files={"files": (image.name, image.read_bytes())},
                           headers=admin, timeout=60).json()["data"][0]
        assert (again["id"], again["duplicate"]) == (stored["id"], True)
        image_now = httpx.get(f"{url}api/v1/images/{stored['id']}", headers=admin, timeout=10).json()
        assert image_now["label"] == "fish"
        assert len(httpx.get(f"{url}api/v1/api-keys", headers=admin, timeout=10).json()["data"]) == 1
    finally:
        assert stop(process) == 0


def test_slow_embedded_postgres_start_is_retried(monkeypatch, tmp_path):
    """pgserver waits a fixed 10 s for `pg_ctl start`; a loaded machine can need longer (a timing
    fault a test cannot cause on demand, hence the stand-in)."""
    import pgserver

    from nauplius import up

    calls = []

    class Running:
        def get_uri(self):
            return "postgresql://postgres:@/postgres?host=/somewhere"

    def get_server(pgdata, cleanup_mode):
        calls.append(pgdata)
        if len(calls) == 1:
            raise subprocess.TimeoutExpired(["pg_ctl", "start"], 10)
        return Running()

    monkeypatch.setattr(pgserver, "get_server", get_server)
    monkeypatch.setattr(up.time, "sleep", lambda s: None)
    assert up.embedded_postgres_url(tmp_path) == Running().get_uri()
    assert calls == [tmp_path / "postgres"] * 2


def test_up_refuses_a_link_in_place_of_the_service_credential(tmp_path, monkeypatch, capsys):
    from nauplius.up import run_up

    for name in ("NAUPLIUS_SERVICE_KEY", "NAUPLIUS_SERVICE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CATALOG_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")  # unused
    (tmp_path / "service-key").symlink_to(tmp_path / "target")
    assert run_up(tmp_path, five_free_ports()) == 2
    assert "service-key is a symbolic link: refusing it" in capsys.readouterr().out
    assert not (tmp_path / "target").exists() and not (tmp_path / "logs").exists()
