"""The process stack behind `nauplius up`, the benchmarks and the system tests."""
import subprocess
import sys
import textwrap

import pytest

from nauplius.stack import SERVICE_APPS, ServiceProcess, Stack, StackError, free_ports


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
