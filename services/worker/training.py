"""The task of a `train` job: fine-tune the embedding CNN on a project's validated images.

Needs the `train` extra (torch) where the worker runs; without it the job fails at once, saying
so. The images are fetched from the catalog a page at a time into a temporary <class>/<image>
tree (nauplius/training/project.py), the trainer runs in a thread (on CUDA when torch sees it),
and each epoch is reported as progress. The new version, NAME.onnx with its card NAME.json (and
the checkpoint NAME.ckpt.pt, from which a restarted job resumes), is written to
WORKER_MODELS_DIR, the folder the embedder's model paths can name it from; switching to it is the
model versions' business (a reembed job), not this one's.
"""

import asyncio
import importlib.util
import tempfile
from pathlib import Path
from typing import Any

from nauplius.core.clients import Downstream
from nauplius.core.contracts.catalog import ClaimedTask
from nauplius.core.jobs import Progress

BASES = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", "resnet50")


class TrainingUnavailable(Exception):
    """This worker cannot train: torch is not installed."""


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def version_name(project: int, base: str, job_id: int) -> str:
    return f"project{project}-{base}-job{job_id}"


async def train_project_job(downstream: Downstream, models_dir: Path, task: ClaimedTask,
                            progress: Progress) -> dict[str, Any]:
    if not torch_installed():
        raise TrainingUnavailable("this worker cannot train: torch is missing (install the "
                                  "'train' extra, pip install 'nauplius[train]', where the "
                                  "worker runs, ideally on a machine with a GPU)")
    from nauplius.training.project import CatalogImages, fetch_project, train_on_tree
    from nauplius.training.train import TrainConfig, checkpoint_path

    params = task.params
    project = int(params["project"])
    base = str(params.get("base", "efficientnet-lite0"))
    if base not in BASES:
        raise ValueError(f"unknown base {base!r}; known: {', '.join(BASES)}")
    out = Path(models_dir) / version_name(project, base, task.id)
    config = TrainConfig(data=[], base=base, epochs=int(params.get("epochs", 8)), out=out,
                         resolution=int(params.get("resolution", 128)),
                         validate_every=int(params.get("epochs", 8)))
    loop = asyncio.get_running_loop()

    with tempfile.TemporaryDirectory(prefix=f"nauplius-train-{task.id}-") as scratch:
        async def fetched(done: int, total: int | None) -> None:
            await progress(done, (total or done) + config.epochs)

        tree = await fetch_project(CatalogImages(downstream.catalog, project), Path(scratch),
                                   fetched)

        async def trained(epoch: int, epochs: int) -> None:
            await progress(tree.labels + epoch, tree.labels + epochs)

        def on_epoch(epoch: int, epochs: int) -> None:  # in the training thread
            asyncio.run_coroutine_threadsafe(trained(epoch, epochs), loop).result(timeout=60)

        resume = checkpoint_path(out).exists()  # the same job, claimed again after its worker died
        result = await asyncio.to_thread(train_on_tree, tree, project, config, on_epoch, False,
                                         resume)
    card = result.card
    return {"project": project, "model": card["name"], "onnx_path": str(result.onnx_path),
            "card_path": str(result.onnx_path.with_suffix(".json")), "labels": card["labels"],
            "classes": card["classes"], "epochs": config.epochs,
            "device": card["training"]["device"], "seconds": card["training"]["seconds"],
            "validation": card["metrics"]["validation"]}
