"""GET /api/v1/export streams: the gateway reads the catalog a page of rows per request (so it
never holds more than a page) and writes each page out as it comes; what it streams parses back
identical to the whole export written in memory. The real catalog app over PostgreSQL."""

import csv
import io
import zipfile
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from gateway import export
from gateway.config import GatewaySettings
from tests.support.catalog import Catalog
from tests.support.gateway import running_gateway
from tests.support.services import ServiceRouter

ROWS = 1050
PAGE = 100


@pytest_asyncio.fixture
async def filled(catalog: Catalog) -> Catalog:
    """ROWS validated images (and a few predicted ones, not exported by default), made in SQL."""
    async with catalog.app.state.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO images (sha256, filename, format, width, height, instrument, sample)"
            " SELECT md5(n::text) || md5(n::text), 'f' || n || '.png', 'png', 60, 40,"
            "        CASE WHEN n % 2 = 0 THEN 'SPC' END, '=HYPERLINK(\"x\")'"
            "   FROM generate_series(1, $1) AS n", ROWS + 7)
        await conn.execute(
            "INSERT INTO labels (image_id, taxon, annotator, state, confidence)"
            " SELECT id, CASE WHEN id % 3 = 0 THEN 'daphnia' ELSE 'bosmina' END, 'ann',"
            "        CASE WHEN id <= $1 THEN 'validated' ELSE 'predicted' END, 0.5 FROM images",
            ROWS)
    return catalog


@pytest_asyncio.fixture
async def gateway(filled: Catalog) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceRouter]]:
    router = ServiceRouter({"catalog": filled.app})
    settings = GatewaySettings(embedder_url="http://embedder", search_url="http://search",
                               catalog_url="http://catalog", auth="off", export_page_rows=PAGE)
    async with running_gateway(settings, router) as client:
        yield client, router


async def _in_memory(catalog: Catalog, writer: export.Writer) -> bytes:
    """The export as it was made before streaming: every row in one answer, written at once."""
    answer = await catalog.client.get("/v1/export-rows")
    return export.write_all(writer, answer.json()["data"])


@pytest.mark.parametrize("format", ["csv", "ecotaxa", "dwca"])
async def test_the_export_is_read_a_page_at_a_time_and_parses_back_identical(
        gateway: tuple[httpx.AsyncClient, ServiceRouter], filled: Catalog, format: str) -> None:
    client, router = gateway
    answer = await client.get("/api/v1/export", params={"format": format})
    assert answer.status_code == 200, answer.text
    asked = router.sent_to("catalog", "/v1/export-rows")
    assert len(asked) == -(-ROWS // PAGE), "one catalog request per page"
    assert {r.url.params["limit"] for r in asked} == {str(PAGE)}, "never more than a page asked"
    writers: dict[str, export.Writer] = {"csv": export.CsvWriter(), "ecotaxa": export.EcotaxaWriter(),
               "dwca": export.DwcaWriter("http://gateway/")}
    expected = await _in_memory(filled, writers[format])
    if format == "dwca":
        streamed, whole = (zipfile.ZipFile(io.BytesIO(b)) for b in (answer.content, expected))
        assert streamed.testzip() is None
        assert streamed.namelist() == whole.namelist() == ["occurrence.txt", "meta.xml"]
        for name in whole.namelist():
            assert streamed.read(name) == whole.read(name)
        assert len(streamed.read("occurrence.txt").decode().splitlines()) == ROWS + 1
        return
    assert answer.content == expected
    rows = list(csv.reader(io.StringIO(answer.text), delimiter="," if format == "csv" else "\t"))
    assert len(rows) == ROWS + (1 if format == "csv" else 2)
    if format == "csv":
        assert {r[5] for r in rows[1:]} == {"'=HYPERLINK(\"x\")"}, "formulas still neutralised"
        assert [int(r[0]) for r in rows[1:]] == sorted(int(r[0]) for r in rows[1:])


async def test_an_export_with_no_rows_is_a_header(
        gateway: tuple[httpx.AsyncClient, ServiceRouter]) -> None:
    client, _ = gateway
    answer = await client.get("/api/v1/export", params={"states": "dubious"})
    assert answer.status_code == 200 and answer.text == ",".join(export.CSV_COLUMNS) + "\n"


async def test_a_refused_export_is_an_error_not_a_broken_download(
        gateway: tuple[httpx.AsyncClient, ServiceRouter]) -> None:
    """The first page is asked before the answer starts: a catalog away is a 502 naming it."""
    client, router = gateway
    router.down.add("catalog")
    answer = await client.get("/api/v1/export", params={"format": "dwca"})
    assert answer.status_code == 502 and "catalog" in answer.json()["detail"]
