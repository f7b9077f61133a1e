"""Grid pages and exports at scale: one run, side by side, on a throwaway PostgreSQL database
filled with generated rows (docs/benchmarks.md, "Grid pages and exports at scale").

    python benchmarks/grid_pages.py --images 500000

Rows are made in SQL (generate_series): 3 projects, 40 taxa, 4 instruments; a label history row
for 80% of the images (60% validated, 30% predicted with a confidence, 10% dubious), written in one
statement so the migrations' triggers (current label, maintained counts) run as they do in use.
Measured through the catalog's own repository functions and the gateway's CSV writer.
"""

import argparse
import asyncio
import json
import os
import statistics
import time

import asyncpg

from gateway.export import CsvWriter
from services.catalog import keyset, labelling, queries, repository
from services.catalog.db import init_connection
from services.catalog.migrations import apply_migrations
from tests.support.database import create_database, drop_database

FILL = """
INSERT INTO images (sha256, filename, format, width, height, instrument, sample, captured_at,
                    project_id)
SELECT md5(n::text) || md5((n + 1)::text), 'roi_' || n || '.png', 'png', 64, 48,
       (ARRAY['IFCB', 'SPC', 'FlowCam', 'UVP'])[1 + n % 4], 'sample_' || (n / 1000),
       timestamptz '2024-01-01' + n * interval '1 second', 1 + n % 3
  FROM generate_series(1, $1) AS n
"""
LABEL = """
INSERT INTO labels (image_id, taxon, annotator, state, confidence)
SELECT id, 'taxon_' || (id * 7 % 40),
       'bench', CASE WHEN id % 10 < 6 THEN 'validated' WHEN id % 10 < 9 THEN 'predicted'
                     ELSE 'dubious' END,
       CASE WHEN id % 10 BETWEEN 6 AND 8 THEN (id % 997) / 997.0 END
  FROM images WHERE id % 5 <> 0
"""


async def _p50(run, repeats: int = 15) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        await run()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


async def _explain_ms(conn: asyncpg.Connection, sql: str, *args: object) -> float:
    plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
    plan = json.loads(plan) if isinstance(plan, str) else plan  # the pool's json codec decodes it
    return round(plan[0]["Execution Time"], 2)


async def measure(url: str, images: int, page_rows: int) -> dict[str, object]:
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    try:
        await apply_migrations(conn)
        start = time.perf_counter()
        await conn.execute("INSERT INTO projects (id, name) VALUES (2, 'p2'), (3, 'p3')")
        await conn.execute(FILL, images)
        await conn.execute(LABEL)
        await conn.execute("VACUUM ANALYZE images")
        fill_s = time.perf_counter() - start
        results: dict[str, object] = {"images": images, "fill_s": round(fill_s, 1),
                                      "load_average": os.getloadavg()}
        cases = {"all": ("newest", {}),
                 "validated, one instrument": ("newest", {"state": "validated", "instrument": "SPC"}),
                 "review queue, confident": ("confident", {"state": "predicted"}),
                 "review queue, uncertain": ("uncertain", {"state": "predicted"})}
        for name, (order, filters) in cases.items():
            first = await repository.list_images(conn, 50, 0, order=order, **filters)  # type: ignore[arg-type]
            assert first.total is not None
            offset = int(first.total * 0.8)  # a page 80% of the way down
            # The cursor of the row `offset` rows down, as the page before it would give it.
            page_sql = queries.list_images_sql(
                [{"state": "label_state"}.get(k, k) for k in filters], order)[0]
            rows = await conn.fetch(page_sql, 1, offset - 1, *filters.values())
            cursor = keyset.encode(order, dict(rows[0]))
            results[name] = {
                "count": first.total, "deep_rows": offset,
                "page_offset_0_p50_ms": await _p50(
                    lambda f=filters, o=order: repository.list_images(conn, 50, 0, order=o, **f)),
                "page_deep_cursor_p50_ms": await _p50(
                    lambda f=filters, o=order, c=cursor: repository.list_images(
                        conn, 50, 0, order=o, cursor=c, **f)),
                "page_deep_offset_p50_ms": await _p50(
                    lambda f=filters, o=order, n=offset: repository.list_images(
                        conn, 50, n, order=o, **f), 5),
            }
        columns, values = ["label_state"], ["validated"]
        _, count_sql, _ = queries.list_images_sql(columns)
        results["count_star_validated_ms"] = await _explain_ms(conn, count_sql, *values)
        results["maintained_count_validated_ms"] = await _explain_ms(
            conn, queries.maintained_count_sql(columns), *values)
        results["count_star_all_ms"] = await _explain_ms(conn, "SELECT count(*) FROM images")
        results["maintained_count_all_ms"] = await _explain_ms(conn, queries.maintained_count_sql([]))
        exported, start, after_id = 0, time.perf_counter(), 0
        writer, written = CsvWriter(), 0
        written += len(writer.start())
        while True:
            page = await labelling.export_rows(conn, ["validated"], None, None, after_id, page_rows)
            if not page:
                break
            written += len(writer.rows([r.model_dump(mode="json") for r in page]))
            exported, after_id = exported + len(page), page[-1].id
        seconds = time.perf_counter() - start
        results["export"] = {"rows": exported, "page_rows": page_rows,
                             "rows_per_s": round(exported / seconds), "csv_mb": round(written / 1e6, 1)}
        return results
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=500_000)
    parser.add_argument("--page-rows", type=int, default=5000)
    args = parser.parse_args()
    url = await create_database("nauplius_grid_bench")
    try:
        print(json.dumps(await measure(url, args.images, args.page_rows), indent=2))
    finally:
        await drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
