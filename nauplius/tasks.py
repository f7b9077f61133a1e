"""Following a job's task from the command line: a progress bar from its done/total, and the
suggestions refresh that benches and scripts wait for."""

import time

import httpx
from tqdm import tqdm

POLL_S = 0.5
REFRESH_WAIT_S = 300  # what the gateway waits at most before answering 202 with the job


def follow_task(client: httpx.Client, job_id: int, progress: bool = True,
                poll_s: float = POLL_S) -> dict:
    """Poll a task job until it is finished, showing its progress; returns the final status."""
    with tqdm(unit="row", disable=not progress, desc=f"job {job_id}") as bar:
        while True:
            response = client.get(f"/api/v1/jobs/{job_id}")
            response.raise_for_status()
            status = response.json()
            task = status["task"] or {}
            bar.total = task.get("total") or None
            bar.n = task.get("done") or 0
            bar.refresh()
            if status["finished"]:
                return status
            time.sleep(poll_s)


def refresh_suggestions(client: httpx.Client, mode: str = "full", project: int | None = None,
                        progress: bool = False) -> dict:
    """Run a suggestions refresh to its end; its figures (images, changed, calibrated_on,
    reliability, mode, revoted) and `job`, the finished job."""
    params: dict = {"mode": mode, "wait_s": REFRESH_WAIT_S}
    if project is not None:
        params["project"] = project
    response = client.post("/api/v1/suggestions/refresh", params=params)
    response.raise_for_status()
    body = response.json()
    if response.status_code == 202:
        status = follow_task(client, body["job"]["id"], progress)
        if status["task"]["status"] != "done":
            raise RuntimeError(f"suggestions job {status['id']} failed: {status['task']['error']}")
        body = {**status["task"]["result"], "job": status}
    return body
