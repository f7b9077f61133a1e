"""The whole system as real processes: gateway, embedder, search (Qdrant Edge) and catalog (PostgreSQL)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nauplius.core.contracts.gateway import gateway_headers
from nauplius.ingest import ingest
from tests.support.stack import running_stack

pytestmark = pytest.mark.e2e

CLASSES = ["daphnia", "dinobryon", "keratella_quadrata", "asterionella"]
PER_CLASS = 5


@pytest.fixture(scope="module")
def image_folder(shared_data: Path, tmp_path_factory) -> Path:
    """Twenty real ZooLake images, five from each of four classes, laid out <class>/<image>."""
    folder = tmp_path_factory.mktemp("zoolake20")
    for name in CLASSES:
        (folder / name).mkdir()
        for source in sorted((shared_data / "zoolake" / name).iterdir())[:PER_CLASS]:
            (folder / name / source.name).symlink_to(source)
    return folder


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("nauplius-data"), "nauplius_e2e") as running:
        yield running


@pytest.fixture(scope="module")
def gateway(stack) -> Iterator[httpx.Client]:
    headers = gateway_headers(stack.api_key)
    with httpx.Client(base_url=stack.services["gateway"].url, timeout=120.0, headers=headers) as client:
        yield client


@pytest.fixture(scope="module")
def ingested(stack, gateway, image_folder) -> dict[Path, int]:
    """Ingest the twenty images once with the CLI's code; map each file to its image id."""
    report = ingest([image_folder], str(gateway.base_url), label_from_folder=True, progress=False,
                    api_key=stack.api_key)
    assert (report.stored, report.duplicates, report.errors) == (PER_CLASS * len(CLASSES), 0, [])
    ids = {}
    for path in sorted(image_folder.rglob("*.jpeg")):
        response = gateway.post("/api/v1/images", files={"files": (path.name, path.read_bytes())})
        entry = response.json()["data"][0]
        assert entry["duplicate"] is True
        ids[path] = entry["id"]
    return ids


def test_health_reports_every_service(gateway):
    response = gateway.get("/health")
    assert response.status_code == 200


def test_the_internal_services_answer_only_the_service_credential(stack, gateway, ingested):
    """Over real HTTP, as any other process on the host would try (issue #16): no admin key from
    the catalog, no count of the index, and a 30 MB body refused after a few of its megabytes."""
    internal = {name: stack.services[name].url for name in ("embedder", "search", "catalog", "worker")}
    for name, url in internal.items():
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200, name
        assert httpx.get(f"{url}/openapi.json", timeout=10).status_code == 401, name
    catalog = internal["catalog"]
    forged = httpx.post(f"{catalog}/v1/api-keys", json={"annotator_id": 1, "role": "admin"},
                        headers={"X-Nauplius-Annotator": "1"}, timeout=10)
    assert forged.status_code == 401 and "service credential" in forged.json()["detail"]
    assert len(gateway.get("/api/v1/api-keys").json()["data"]) == 1  # the first admin's, alone
    model = gateway.get("/api/v1/model").json()["name"]
    count = f"{internal['search']}/v1/collections/{model}/count"
    assert httpx.get(count, timeout=10).status_code == 401
    assert httpx.get(count, headers=stack.service_headers(), timeout=10).json()["count"] == 20
    sent = 0

    def thirty_megabytes() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(30):
            sent += 1
            yield bytes(1024 * 1024)

    answer = httpx.post(f"{catalog}/v1/images/batch", content=thirty_megabytes(), timeout=30,
                        headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert answer.status_code == 401 and sent < 30


def test_api_needs_the_key(stack, gateway, ingested):
    url = f"{stack.services['gateway'].url}/api/v1/images"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer npl_wrong"}).status_code == 401
    assert gateway.get("/api/v1/me").json()["role"] == "admin"


def test_second_ingest_stores_nothing_new(stack, gateway, ingested, image_folder):
    report = ingest([image_folder], str(gateway.base_url), label_from_folder=True, progress=False,
                    api_key=stack.api_key)
    assert (report.stored, report.duplicates) == (0, len(ingested))
    assert gateway.get("/api/v1/images", params={"limit": 5}).json()["count"] == len(ingested)


def test_each_image_finds_itself_first(gateway, ingested):
    for path, image_id in ingested.items():
        response = gateway.post("/api/v1/search", files={"file": (path.name, path.read_bytes())},
                                params={"k": 3})
        assert response.status_code == 200, response.text
        best = response.json()["data"][0]
        assert best["id"] == image_id
        assert best["score"] == pytest.approx(1.0, abs=1e-3)


def test_similar_images_are_mostly_the_same_class(gateway, ingested):
    same_class = 0
    for path, image_id in ingested.items():
        neighbours = gateway.get(f"/api/v1/images/{image_id}/similar", params={"k": 5}).json()["data"]
        assert image_id not in [n["id"] for n in neighbours]
        assert len(neighbours) == 5
        same_class += neighbours[0]["label"] == path.parent.name
    assert same_class > len(ingested) / 2  # "most": ImageNet features, four same-class candidates each


def test_similar_honours_the_label_filter(gateway, ingested):
    image_id = next(iter(ingested.values()))
    neighbours = gateway.get(f"/api/v1/images/{image_id}/similar",
                             params={"k": 10, "label": "dinobryon"}).json()["data"]
    assert neighbours and {n["label"] for n in neighbours} == {"dinobryon"}


def test_label_change_is_kept_in_history_and_seen_by_search(gateway, ingested):
    path, image_id = next((p, i) for p, i in ingested.items() if p.parent.name == "daphnia")
    response = gateway.put(f"/api/v1/images/{image_id}/label", json={"taxon": "Daphnia longispina"})
    assert response.status_code == 200, response.text
    assert response.json()["label"] == "Daphnia longispina"
    history = gateway.get(f"/api/v1/images/{image_id}/labels").json()["data"]
    assert sorted(entry["taxon"] for entry in history) == ["Daphnia longispina", "daphnia"]
    other = next(i for p, i in ingested.items() if p.parent.name == "daphnia" and i != image_id)
    found = gateway.get(f"/api/v1/images/{other}/similar",
                        params={"k": 10, "label": "Daphnia longispina"}).json()["data"]
    assert [n["id"] for n in found] == [image_id]


def test_bad_files_are_refused_and_good_ones_stored(gateway, ingested, shared_data):
    count_before = gateway.get("/api/v1/images").json()["count"]
    good = sorted((shared_data / "zoolake" / "fish").iterdir())[0]
    files = [("files", ("notes.txt", b"this is not an image")),
             ("files", ("empty.png", b"")),
             ("files", (good.name, good.read_bytes()))]
    response = gateway.post("/api/v1/images", files=files)
    assert response.status_code == 200
    entries = response.json()["data"]
    assert entries[0]["error"] and entries[0]["id"] is None
    assert entries[1]["error"] and entries[1]["id"] is None
    assert entries[2]["error"] is None and entries[2]["duplicate"] is False
    assert gateway.get("/api/v1/images").json()["count"] == count_before + 1


def test_unknown_image_is_404(gateway, ingested):
    assert gateway.get("/api/v1/images/987654321").status_code == 404
    assert gateway.get("/api/v1/images/987654321/similar").status_code == 404


def test_files_and_thumbnails_are_served(gateway, ingested):
    path, image_id = next(iter(ingested.items()))
    assert gateway.get(f"/api/v1/images/{image_id}/file").content == path.read_bytes()
    thumbnail = gateway.get(f"/api/v1/images/{image_id}/thumbnail")
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
