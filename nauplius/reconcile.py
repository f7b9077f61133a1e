"""`nauplius reconcile [--repair]`: compare the catalog with the search index (a job the worker
runs), following it with a progress bar, then print what it found (and mended): in the active
model version's collection, then in every other complete version's (`versions`)."""

import json

import httpx

from nauplius.core.contracts.gateway import gateway_headers
from nauplius.tasks import follow_task

KINDS = ("missing_vectors", "orphan_points", "stale_payloads")


def format_report(report: dict) -> str:
    others = report.get("versions") or {}
    if not others:
        return _format_one(report)
    sections = [f"model {report.get('model')} (active):\n{_format_one(report)}"]
    sections += [f"model {name}:\n{_format_one(one)}" for name, one in others.items()]
    if report.get("filling"):
        sections.append(f"not compared (being filled): {', '.join(report['filling'])}")
    return "\n".join(sections)


def _differs(report: dict) -> bool:
    every = [report, *(report.get("versions") or {}).values()]
    return any(one[kind] for one in every for kind in KINDS)


def _format_one(report: dict) -> str:
    lines = [f"catalog images: {report['catalog_images']}, index points: {report['index_points']}"]
    for kind in KINDS:
        examples = report["examples"][kind]
        shown = f" (e.g. {', '.join(map(str, examples))})" if examples else ""
        lines.append(f"{kind.replace('_', ' ')}: {report[kind]}{shown}")
    if report["stale_fields"]:
        lines.append("stale fields: " + ", ".join(f"{k} {n}" for k, n in report["stale_fields"].items()))
    repaired = report.get("repaired")
    if repaired:
        lines.append(f"repaired: {repaired['reindexed']} re-indexed, {repaired['deleted_points']} "
                     f"stray points deleted, {repaired['payloads']} payloads rewritten")
    return "\n".join(lines)


def reconcile(url: str, api_key: str | None, repair: bool, progress: bool = True,
              as_json: bool = False) -> int:
    """Exit status: 0 when catalog and index agree (or were mended), 1 when they differ, 2 when
    the job failed."""
    with httpx.Client(base_url=url, timeout=60.0, headers=gateway_headers(api_key)) as client:
        response = client.post("/api/v1/reconcile", json={"repair": repair})
        response.raise_for_status()
        status = follow_task(client, response.json()["id"], progress)
    task = status["task"]
    if task["status"] != "done":
        print(f"reconcile failed: {task['error']}")
        return 2
    report = task["result"]
    print(json.dumps(report) if as_json else format_report(report))
    return 1 if _differs(report) and not repair else 0
