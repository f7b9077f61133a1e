"""Every configuration file under deploy/ checked without Docker (none runs here): both compose
files (the single machine's and the cluster's), the Qdrant configurations, the HAProxy
configurations (`haproxy -c` where HAProxy is installed) and the PostgreSQL replication scripts.
docs/deployment.md describes the layouts; tests/test_compose.py checks the single-machine file
against the services' settings in more detail."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from gateway.config import GatewaySettings
from gateway.perimeter import door
from tests.support.compose import SETTINGS, env_names, is_git_ignored

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
SINGLE = REPO / "docker-compose.yml"
CLUSTER = DEPLOY / "cluster" / "docker-compose.yml"
# compose file -> the one service that publishes a port
PUBLISHER = {SINGLE: "gateway", CLUSTER: "lb"}
# Qdrant config -> whether it runs in distributed mode
QDRANT_CONFIGS = {DEPLOY / "qdrant" / "config.yaml": False,
                  DEPLOY / "cluster" / "qdrant" / "config.yaml": True}
HAPROXY_CONFIGS = sorted((DEPLOY / "cluster" / "haproxy").glob("*.cfg"))
SCRIPTS = sorted(DEPLOY.rglob("*.sh"))
QDRANT_CONFIG_FLAG = "--config-path"

# The keys Qdrant v1.20 reads (its config/config.yaml; None: a value, a dict: a section). Qdrant
# ignores a key it does not know, so a misspelt one would silently be its default.
QDRANT_KEYS: dict[str, Any] = {
    "log_level": None, "telemetry_disabled": None, "debug": None,
    "storage": {
        "storage_path": None, "snapshots_path": None, "temp_path": None, "on_disk_payload": None,
        "update_concurrency": None, "node_type": None, "shard_transfer_method": None,
        "max_collections": None, "snapshots_config": {"snapshots_storage": None, "s3_config": None},
        "wal": {"wal_capacity_mb": None, "wal_segments_ahead": None},
        "performance": {"max_search_threads": None, "optimizer_cpu_budget": None,
                        "update_rate_limit": None, "incoming_shard_transfers_limit": None,
                        "outgoing_shard_transfers_limit": None, "async_scorer": None},
        "optimizers": {"deleted_threshold": None, "vacuum_min_vector_number": None,
                       "default_segment_number": None, "max_segment_size_kb": None,
                       "indexing_threshold_kb": None, "flush_interval_sec": None,
                       "max_optimization_threads": None},
        "hnsw_index": {"m": None, "ef_construct": None, "full_scan_threshold_kb": None,
                       "max_indexing_threads": None, "on_disk": None, "payload_m": None},
        "collection": {"replication_factor": None, "write_consistency_factor": None,
                       "vectors": {"on_disk": None}, "shard_number_per_node": None,
                       "quantization": None},
    },
    "service": {"max_request_size_mb": None, "max_workers": None, "host": None, "http_port": None,
                "grpc_port": None, "enable_cors": None, "enable_tls": None,
                "verify_https_client_certificate": None, "api_key": None,
                "read_only_api_key": None, "jwt_rbac": None},
    "cluster": {"enabled": None, "p2p": {"port": None, "enable_tls": None},
                "consensus": {"tick_period_ms": None, "compact_wal_entries": None}},
    "tls": {"cert": None, "key": None, "ca_cert": None, "cert_ttl": None},
}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def services_of(compose_file: Path) -> dict[str, Any]:
    services: dict[str, Any] = load(compose_file)["services"]
    return services


def our_kind(service: dict[str, Any]) -> str | None:
    """Which of our images a compose service builds (embedder, ..., gateway), if any."""
    build = service.get("build")
    return build["dockerfile"].removeprefix("deploy/Dockerfile.") if build else None


def command_words(service: dict[str, Any]) -> list[str]:
    """The words of a service's command, the `bash -c` script's included."""
    command = service.get("command") or []
    words = list(command) if isinstance(command, list) else shlex.split(command)
    if words[:2] == ["bash", "-c"]:
        words = words[:2] + shlex.split(words[2].replace("$$", "$"))
    return words


def flag(words: list[str], name: str) -> str | None:
    return words[words.index(name) + 1] if name in words else None


def qdrant_nodes(compose_file: Path) -> dict[str, dict[str, Any]]:
    return {name: service for name, service in services_of(compose_file).items()
            if service.get("image", "").startswith("qdrant/qdrant:")}


def unknown_keys(config: dict[str, Any], known: dict[str, Any], where: str = "") -> list[str]:
    found = []
    for key, value in config.items():
        if key not in known:
            found.append(where + key)
        elif isinstance(known[key], dict) and isinstance(value, dict):
            found += unknown_keys(value, known[key], f"{where}{key}.")
    return found


def haproxy_sections(path: Path) -> dict[str, list[str]]:
    """`frontend public` -> its lines (stripped, comments dropped)."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #")[0].strip() if not raw.strip().startswith("#") else ""
        if not line:
            continue
        if not raw[0].isspace():
            current = sections.setdefault(line, [])
        else:
            current.append(line)
    return sections


def haproxy_servers(path: Path, backend: str) -> dict[str, str]:
    return {line.split()[1]: line.split()[2]
            for line in haproxy_sections(path)[f"backend {backend}"] if line.startswith("server ")}


def test_every_file_in_deploy_is_one_this_test_checks():
    checked = {*QDRANT_CONFIGS, *HAPROXY_CONFIGS, *SCRIPTS, CLUSTER}
    for path in DEPLOY.rglob("*"):
        if path.is_dir() or path.name.startswith("Dockerfile.") or path.suffix == ".md":
            continue  # Dockerfiles: tests/test_compose.py
        if path.parent == DEPLOY / "secrets":
            continue  # made by the operator, never committed
        assert path in checked, f"{path.relative_to(REPO)} is checked by no test"


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.y*ml")), ids=lambda p: str(p.relative_to(REPO)))
def test_every_yaml_file_parses_to_a_mapping(path):
    assert isinstance(load(path), dict)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_parse_and_fail_on_the_first_error(script):
    subprocess.run(["sh", "-n", str(script)], check=True)
    assert "set -eu" in script.read_text()


# -- both compose files ------------------------------------------------------------------------

@pytest.fixture(params=[SINGLE, CLUSTER], ids=["single", "cluster"])
def compose_file(request) -> Path:
    path: Path = request.param
    return path


def test_every_service_has_an_image_or_a_build_and_pinned_images(compose_file):
    for name, service in services_of(compose_file).items():
        assert ("image" in service) != ("build" in service), f"{name}: an image or a build"
        if "build" in service:
            build = service["build"]
            assert (compose_file.parent / build["context"] / build["dockerfile"]).is_file(), name
        else:
            assert re.fullmatch(r"[a-z/]+:v?\d+(\.\d+)*(-alpine)?", service["image"]), name


def test_every_service_is_healthchecked_and_waits_for_healthy_dependencies_only(compose_file):
    services = services_of(compose_file)
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} -> {dependency}"
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"


def test_no_secret_is_written_in_the_file_and_every_secret_is_a_git_ignored_file(compose_file):
    compose = load(compose_file)
    for name, service in compose["services"].items():
        for variable, value in service.get("environment", {}).items():
            if re.search(r"PASSWORD|KEY|SECRET|TOKEN", variable):
                assert variable.endswith("_FILE"), f"{name}: {variable} is written in the file"
                assert str(value).startswith("/run/secrets/"), f"{name}: {variable}"
            if "://" in str(value):
                assert urlparse(str(value)).password is None, f"{name}: {variable} has a password"
        script = " ".join(command_words(service))
        if "API_KEY" in script:
            found = re.search(r"API_KEY=\$\(cat /run/secrets/(\w+)\)", script)
            assert found is not None and found.group(1) in service["secrets"], name
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], f"{name}: unknown secret {secret}"
    for secret in compose["secrets"].values():
        path = (compose_file.parent / secret["file"]).resolve()
        assert path.parent == DEPLOY / "secrets" and is_git_ignored(path), secret


def test_only_the_load_balancer_publishes_a_port_and_the_rest_stay_private(compose_file):
    compose = load(compose_file)
    publisher = PUBLISHER[compose_file]
    assert [name for name, s in compose["services"].items() if "ports" in s] == [publisher]
    assert compose["networks"]["internal"] == {"internal": True}
    for name, service in compose["services"].items():
        expected = ["internal", "public"] if name == publisher else ["internal"]
        assert service["networks"] == expected, name


def test_every_mounted_file_exists(compose_file):
    for name, service in services_of(compose_file).items():
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            if host.startswith("."):
                assert (compose_file.parent / host).exists(), f"{name}: {host}"


def test_our_services_read_every_variable_they_are_given_and_parse_it(compose_file, monkeypatch):
    for name, service in services_of(compose_file).items():
        kind = our_kind(service)
        if kind is None:
            continue
        environment = {key: str(value) for key, value in service.get("environment", {}).items()}
        known = env_names(SETTINGS[kind])
        assert not [v for v, required in known.items() if required and v not in environment], name
        assert not [v for v in environment if v not in known], f"{name} sets unknown variables"
        for variable, value in environment.items():
            monkeypatch.setenv(variable, value)
        SETTINGS[kind]()
        for variable in environment:
            monkeypatch.delenv(variable)


def test_callers_name_services_of_the_same_file(compose_file):
    services = services_of(compose_file)
    for name, service in services.items():
        for variable, value in service.get("environment", {}).items():
            if variable.endswith("_URL"):
                host = urlparse(str(value)).hostname
                assert host in services, f"{name}: {variable} names {host}"


def test_every_qdrant_node_reads_the_mounted_config_and_keeps_its_data_on_volumes(compose_file):
    nodes = qdrant_nodes(compose_file)
    assert nodes
    for name, node in nodes.items():
        config_path = flag(command_words(node), QDRANT_CONFIG_FLAG)
        mounts = {volume.split(":")[1]: volume.split(":") for volume in node["volumes"]}
        host, _, mode = mounts[config_path]
        config_file = (compose_file.parent / host).resolve()
        assert config_file in QDRANT_CONFIGS and mode == "ro", name
        storage = load(config_file)["storage"]
        for key in ("storage_path", "snapshots_path"):
            mount = mounts[storage[key]]
            assert not mount[0].startswith("."), f"{name}: {key} is on a named volume"


# -- Qdrant ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, clustered", QDRANT_CONFIGS.items(), ids=["single", "cluster"])
def test_qdrant_configs_use_only_keys_qdrant_reads(path, clustered):
    config = load(path)
    assert unknown_keys(config, QDRANT_KEYS) == []
    assert "api_key" not in config["service"], "the API key comes from the secret, in the env"
    assert config["cluster"]["enabled"] is clustered
    assert config["storage"]["on_disk_payload"] is True
    assert config["storage"]["collection"]["vectors"]["on_disk"] is True
    assert config["service"]["http_port"] == 6333


def test_the_cluster_has_three_nodes_that_join_the_first_on_the_p2p_port():
    config = load(DEPLOY / "cluster" / "qdrant" / "config.yaml")
    p2p = config["cluster"]["p2p"]["port"]
    nodes = qdrant_nodes(CLUSTER)
    assert len(nodes) == 3
    words = {name: command_words(node) for name, node in nodes.items()}
    for name, node_words in words.items():
        uri = urlparse(flag(node_words, "--uri"))
        assert (uri.hostname, uri.port) == (name, p2p), name
    [first] = [name for name, node_words in words.items() if "--bootstrap" not in node_words]
    for name, node_words in words.items():
        if name != first:
            assert flag(node_words, "--bootstrap") == flag(words[first], "--uri"), name
            assert nodes[name]["depends_on"] == {first: {"condition": "service_healthy"}}


def test_the_cluster_collection_is_sharded_over_every_node_and_survives_losing_one():
    services = services_of(CLUSTER)
    search = services["search"]["environment"]
    nodes = len(qdrant_nodes(CLUSTER))
    shards, replicas = int(search["SEARCH_QDRANT_SHARDS"]), int(search["SEARCH_QDRANT_REPLICAS"])
    assert shards % nodes == 0 and 2 <= replicas < nodes + 1
    # The searches reach the nodes through the internal balancer, which checks each one.
    host = urlparse(search["QDRANT_URL"]).hostname
    volume = services[str(host)]["volumes"][0].split(":")[0]
    config = (CLUSTER.parent / volume).resolve()
    servers = haproxy_servers(config, "qdrant_nodes")
    assert set(servers) == set(qdrant_nodes(CLUSTER))
    assert "http-check send meth GET uri /readyz" in haproxy_sections(config)["backend qdrant_nodes"]


# -- HAProxy -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", HAPROXY_CONFIGS, ids=lambda p: p.name)
def test_haproxy_accepts_the_config(path):
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    checked = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The one warning allowed here: the backends' names resolve only inside compose.
    warnings = [line for line in (checked.stdout + checked.stderr).splitlines() if "[WARNING]" in line]
    assert all("could not resolve address" in line for line in warnings), warnings


@pytest.mark.parametrize("path", HAPROXY_CONFIGS, ids=lambda p: p.name)
def test_every_backend_is_health_checked_with_keep_alive(path):
    sections = haproxy_sections(path)
    assert "option http-keep-alive" in sections["defaults"]
    assert any("check" in line.split() for line in sections["defaults"] if line.startswith("default-server"))
    for name, lines in sections.items():
        if name.startswith("backend "):
            assert "option httpchk" in lines and "http-check expect status 200" in lines, name
            assert "http-reuse safe" in lines, name


def test_the_balancer_sends_to_every_gateway_and_checks_its_health():
    config = DEPLOY / "cluster" / "haproxy" / "haproxy.cfg"
    services = services_of(CLUSTER)
    gateways = {name for name, s in services.items() if our_kind(s) == "gateway"}
    assert len(gateways) >= 2
    servers = haproxy_servers(config, "gateways")
    assert servers == {name: f"{name}:8000" for name in gateways}
    assert "http-check send meth GET uri /health" in haproxy_sections(config)["backend gateways"]
    lb = services["lb"]
    assert lb["volumes"] == ["./haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]
    assert lb["ports"] == ["8000:8000"] and "bind :8000" in haproxy_sections(config)["frontend public"]


def test_the_balancer_takes_every_body_the_gateway_takes_and_no_larger():
    # The caps are the gateway's defaults; the cluster's gateways set none of them.
    for name, service in services_of(CLUSTER).items():
        if our_kind(service) == "gateway":
            assert not [v for v in service["environment"] if v.startswith("GATEWAY_MAX_")], name
    settings = GatewaySettings(embedder_url="http://embedder:8001", search_url="http://search:8002",
                               catalog_url="http://catalog:8003")
    routes = ["/api/v1/search", "/api/v1/images", "/api/v1/jobs/1/items", "/api/v1/jobs",
              "/api/v1/taxa/import", "/api/v1/images/1/label"]
    largest = max(door(method, path, settings).cap for method in ("POST", "PUT") for path in routes)
    [rule] = [line for line in haproxy_sections(DEPLOY / "cluster" / "haproxy" / "haproxy.cfg")
              ["frontend public"] if line.startswith("http-request return status 413")]
    found = re.search(r"req\.hdr\(content-length\) -m int gt (\d+)", rule)
    assert found is not None and int(found.group(1)) == largest
    assert "application/json" in rule and '{\\"detail\\":' in rule


# -- PostgreSQL --------------------------------------------------------------------------------

def test_the_catalog_uses_the_primary_and_the_replica_streams_from_it_through_its_slot():
    services = services_of(CLUSTER)
    database = urlparse(services["catalog"]["environment"]["CATALOG_DATABASE_URL"])
    assert database.hostname == "postgres-primary"
    primary, replica = services["postgres-primary"], services["postgres-replica"]
    init = (DEPLOY / "cluster" / "postgres" / "primary-init.sh").read_text()
    script = (DEPLOY / "cluster" / "postgres" / "replica-entrypoint.sh").read_text()
    assert "./postgres/primary-init.sh:/docker-entrypoint-initdb.d/10-replication.sh:ro" in primary["volumes"]
    [slot] = re.findall(r"pg_create_physical_replication_slot\('(\w+)'\)", init)
    basebackup = " ".join(script.split("\\\n"))
    assert f"-S {slot}" in basebackup and "-h postgres-primary" in basebackup and " -R" in basebackup
    assert "replication replicator" in init and "-U replicator" in basebackup
    secret = "postgres_replication_password"
    assert secret in primary["secrets"] and secret in replica["secrets"]
    assert f"/run/secrets/{secret}" in init and f"/run/secrets/{secret}" in script
    [entrypoint] = replica["entrypoint"]
    assert any(v.endswith(f":{entrypoint}:ro") for v in replica["volumes"])


# -- the replication scripts on a real PostgreSQL ----------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def as_postgres(*command: str, env: dict[str, str] | None = None) -> str:
    """Run as the `postgres` user (initdb and the server refuse root), output returned."""
    done = subprocess.run(["runuser", "-u", "postgres", "--", *command], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def start_server(data: Path, port: int) -> None:
    as_postgres("pg_ctl", "-D", str(data), "-w", "-l", str(data / "server.log"), "-o",
                f"-p {port} -k {data.parent} -c listen_addresses=127.0.0.1", "start")


def sql(port: int, host: Path, query: str, database: str = "postgres") -> str:
    return as_postgres("psql", "-h", str(host), "-p", str(port), "-d", database, "-XAtc", query)


@pytest.fixture
def servers():
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in
                                    ("initdb", "pg_ctl", "pg_basebackup", "runuser")):
        pytest.skip("needs root and PostgreSQL's initdb, pg_ctl and pg_basebackup")
    # pytest's tmp_path is root's alone; the servers run as postgres.
    root = Path(tempfile.mkdtemp(prefix="nauplius-replication-"))
    shutil.chown(root, "postgres", "postgres")
    started: list[Path] = []
    try:
        yield root, started
    finally:
        for data in started:
            subprocess.run(["runuser", "-u", "postgres", "--", "pg_ctl", "-D", str(data), "-m",
                            "fast", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(root)


def test_the_replica_streams_from_a_primary_set_up_by_the_init_script(servers):
    """primary-init.sh on a real primary (as the image runs it: after initdb, password from the
    secret file), then the replica's pg_basebackup flags: a row written on the primary is read
    on the replica, which is in recovery and uses the slot."""
    root, started = servers
    primary, replica = root / "primary", root / "replica"
    secret = root / "replication-password"
    secret.write_text("s3cret-for-the-test\n")
    shutil.chown(secret, "postgres", "postgres")
    as_postgres("initdb", "-D", str(primary), "-U", "postgres", "--auth-local=trust")
    # The image's rules: the socket trusted, any host by password; replication connections match
    # no "all" rule, so only the script's line lets the replica in.
    (primary / "pg_hba.conf").write_text("local all all trust\nhost all all all scram-sha-256\n")
    primary_port = free_port()
    start_server(primary, primary_port)
    started.append(primary)
    as_postgres("sh", str(DEPLOY / "cluster" / "postgres" / "primary-init.sh"),
                env={"POSTGRES_USER": "postgres", "POSTGRES_DB": "postgres", "PGDATA": str(primary),
                     "REPLICATION_PASSWORD_FILE": str(secret), "PGHOST": str(root),
                     "PGPORT": str(primary_port)})
    as_postgres("pg_ctl", "-D", str(primary), "reload")
    # The replica's own pg_basebackup options, its data folder here instead of $PGDATA.
    script = (DEPLOY / "cluster" / "postgres" / "replica-entrypoint.sh").read_text()
    flags = re.search(r"pg_basebackup -h postgres-primary -p 5432 (.*?)\n",
                      script.replace("\\\n", " "))
    assert flags is not None
    options = [str(replica) if word == "$PGDATA" else word for word in shlex.split(flags.group(1))]
    as_postgres("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary_port), *options,
                env={"PGPASSWORD": secret.read_text().strip()})
    replica_port = free_port()
    start_server(replica, replica_port)
    started.append(replica)
    sql(primary_port, root, "CREATE TABLE images (id bigint); INSERT INTO images VALUES (42)")
    for _ in range(600):
        if sql(replica_port, root, "SELECT to_regclass('images') IS NOT NULL").strip() == "t" \
                and sql(replica_port, root, "SELECT count(*) FROM images").strip() == "1":
            break
        time.sleep(0.1)
    assert sql(replica_port, root, "SELECT id FROM images").strip() == "42"
    assert sql(replica_port, root, "SELECT pg_is_in_recovery()").strip() == "t"
    assert sql(primary_port, root, "SELECT active FROM pg_replication_slots "
                                   "WHERE slot_name = 'replica_1'").strip() == "t"


# -- the public balancer, running ---------------------------------------------------------------

class GatewayStandIn(ThreadingHTTPServer):
    """Answers /health with `health` and anything else with its name: enough to see where the
    balancer sends requests (the gateway's own /health is tested with the gateway)."""

    def __init__(self, name: str, health: int) -> None:
        self.name, self.health = name, health
        super().__init__(("127.0.0.1", 0), StandInHandler)


class StandInHandler(BaseHTTPRequestHandler):
    server: GatewayStandIn

    def do_GET(self) -> None:
        status, body = ((self.server.health, b"{}") if self.path == "/health"
                        else (200, self.server.name.encode()))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


def test_the_running_balancer_skips_an_unhealthy_gateway_and_refuses_an_oversized_body(tmp_path):
    """haproxy.cfg as shipped, but on free local ports, the gateways' names replaced by two
    stand-ins (one healthy, one answering /health with 503) and checks every 200 ms."""
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    healthy, unhealthy = GatewayStandIn("gateway-1", 200), GatewayStandIn("gateway-2", 503)
    for stand_in in (healthy, unhealthy):
        threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    port, health_port = free_port(), free_port()
    config = (DEPLOY / "cluster" / "haproxy" / "haproxy.cfg").read_text()
    for old, new in {"bind :8000": f"bind 127.0.0.1:{port}",
                     "bind 127.0.0.1:8405": f"bind 127.0.0.1:{health_port}",
                     "check inter 5s": "check inter 200ms",
                     "gateway-1:8000": f"127.0.0.1:{healthy.server_address[1]}",
                     "gateway-2:8000": f"127.0.0.1:{unhealthy.server_address[1]}"}.items():
        assert old in config
        config = config.replace(old, new)
    (tmp_path / "haproxy.cfg").write_text(config)
    balancer = subprocess.Popen(["haproxy", "-db", "-f", str(tmp_path / "haproxy.cfg")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        served: list[bytes] = []
        for _ in range(100):  # until gateway-2 has failed its three checks
            time.sleep(0.2)
            try:
                served = [raw_request(port, b"GET /api/v1/images HTTP/1.0\r\n\r\n").split(b"\r\n\r\n")[-1]
                          for _ in range(6)]
            except OSError:
                continue
            if set(served) == {b"gateway-1"}:
                break
        assert set(served) == {b"gateway-1"}
        oversized = raw_request(port, b"POST /api/v1/jobs HTTP/1.1\r\nHost: lb\r\n"
                                      b"Content-Length: 2147483649\r\nConnection: close\r\n\r\n")
        # One byte over the cap: refused before any body is sent.
        head, _, body = oversized.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413") and b"application/json" in head
        assert "GATEWAY_MAX_ARCHIVE_BYTES" in json.loads(body)["detail"]
        assert raw_request(health_port, b"GET /lb-health HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200")
    finally:
        balancer.terminate()
        balancer.wait(timeout=30)
        for stand_in in (healthy, unhealthy):
            stand_in.shutdown()
            stand_in.server_close()
