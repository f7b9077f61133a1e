"""The process stack behind `nauplius up`, the benchmarks and the system tests."""
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from nauplius.core.service_auth import SERVICE_KEY_HEADER, ServiceKeyError
from nauplius.stack import (
    SERVICE_APPS,
    ServiceProcess,
    Stack,
    StackError,
    free_ports,
    service_command,
    service_key_file,
    stack_environment,
)


@pytest.fixture
def no_service_key(monkeypatch):
    """A shell that gives no credential of its own: the data directory's is used."""
    monkeypatch.delenv("NAUPLIUS_SERVICE_KEY", raising=False)
    monkeypatch.delenv("NAUPLIUS_SERVICE_KEY_FILE", raising=False)


def environment(data_dir):
    return stack_environment(free_ports(SERVICE_APPS), data_dir, "(no database)")


def test_free_ports_are_all_different():
    ports = free_ports(SERVICE_APPS)
    assert set(ports) == set(SERVICE_APPS) and len(set(ports.values())) == len(ports)


def test_a_port_answered_by_another_service_is_not_healthy(tmp_path):
    """A process that holds the gateway's port and answers /health as the embedder must not pass
    for the gateway (a port handed out twice once let a test talk to the wrong service)."""
    port = free_ports(["impostor"])["impostor"]
    impostor = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from http.server import BaseHTTPRequestHandler, HTTPServer
        class Health(BaseHTTPRequestHandler):
            def do_GET(self):
                body = b'{{"status": "ok", "service": "embedder"}}'
                self.send_response(200); self.end_headers(); self.wfile.write(body)
            def log_message(self, *args): pass
        HTTPServer(("127.0.0.1", {port}), Health).serve_forever()
        """)])
    gateway = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stack = Stack({"gateway": port}, {}, tmp_path)
        # Under its own name the impostor's answer passes (and it is up from here on).
        stack._wait_healthy(ServiceProcess("embedder", port, gateway, tmp_path / "log"), 10.0)
        with pytest.raises(StackError, match="gateway did not answer /health"):
            stack._wait_healthy(ServiceProcess("gateway", port, gateway, tmp_path / "log"), 2.0)
    finally:
        impostor.kill()
        gateway.kill()


def test_the_service_credential_is_made_0600_in_the_data_directory_and_kept(tmp_path,
                                                                            no_service_key):
    env = environment(tmp_path)
    key_file = service_key_file(tmp_path)
    assert env["NAUPLIUS_SERVICE_KEY_FILE"] == str(key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 32
    assert Stack({}, env, tmp_path).service_headers() == {SERVICE_KEY_HEADER: key}
    environment(tmp_path)  # a later start uses the same credential
    assert key_file.read_text().strip() == key


def test_a_link_in_place_of_the_credential_is_refused_and_not_followed(tmp_path, no_service_key):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("k" * 40)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    service_key_file(data_dir).symlink_to(elsewhere)
    with pytest.raises(ServiceKeyError, match="is a symbolic link: refusing it"):
        environment(data_dir)
    assert elsewhere.read_text() == "k" * 40
    dangling = tmp_path / "dangling"
    dangling.mkdir()
    service_key_file(dangling).symlink_to(tmp_path / "made-through-the-link")
    with pytest.raises(ServiceKeyError, match="symbolic link"):
        environment(dangling)
    assert not (tmp_path / "made-through-the-link").exists()


def test_a_credential_file_others_may_read_is_refused(tmp_path, no_service_key):
    environment(tmp_path)
    os.chmod(service_key_file(tmp_path), 0o644)
    with pytest.raises(ServiceKeyError, match="has mode 0644; it must be 0600"):
        environment(tmp_path)
    service_key_file(tmp_path).unlink()
    os.mkfifo(service_key_file(tmp_path), 0o600)  # would block a reader waiting for a writer
    with pytest.raises(ServiceKeyError, match="is not a regular file"):
        environment(tmp_path)


def test_a_credential_the_user_gives_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("NAUPLIUS_SERVICE_KEY_FILE", raising=False)
    monkeypatch.setenv("NAUPLIUS_SERVICE_KEY", "u" * 40)
    env = environment(tmp_path)
    assert "NAUPLIUS_SERVICE_KEY_FILE" not in env and not service_key_file(tmp_path).exists()
    assert Stack({}, env, tmp_path).service_headers() == {SERVICE_KEY_HEADER: "u" * 40}


def _answer(connection: socket.socket) -> bytes:
    """One response read off the socket: until its 2-byte body is in, or the server closed it."""
    answer = b""
    while not answer.endswith(b"\r\n\r\nok"):
        chunk = connection.recv(1024)
        if not chunk:
            return answer
        answer += chunk
    return answer


def test_a_service_keeps_an_idle_connection_longer_than_its_callers_do(tmp_path):
    """httpx (every caller inside the system) keeps an idle connection 5 s; uvicorn's default is 5 s
    too, so a call sent as the server closes it read nothing back. 6 s idle, the same socket still
    gets an answer."""
    (tmp_path / "tiny_app.py").write_text(textwrap.dedent("""
        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})
        """))
    port = free_ports(["tiny"])["tiny"]
    server = subprocess.Popen(service_command("tiny_app:app", port), cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    try:
        for _ in range(100):
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                time.sleep(0.1)
        with connection:
            connection.sendall(request)
            assert _answer(connection).endswith(b"ok")
            time.sleep(6.0)
            connection.sendall(request)
            assert _answer(connection).endswith(b"ok")
    finally:
        server.kill()
        server.wait()
