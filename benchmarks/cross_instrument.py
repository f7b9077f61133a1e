"""A model trained on one instrument's set, brought to another's: plain, adapted head (`--adapt`)
and fine-tuned (`--init` from its checkpoint) on N labels per class of the new set's gallery, all
scored on the new set's held-out split (`nauplius eval --holdout 0.2 --seed 0`, no TTA) for
docs/benchmarks.md ("Bringing a model to a new instrument").

The fine-tuning labels are the images `--adapt-labels N` would fit its head on (the same seeded
pick of the gallery part, nauplius.core.adaptation.subsample_per_class), linked into a
<class>/<image> tree that the trainer splits again (`--validation-fraction`, at least one image of
each class held out for the card). The gallery searched stays whole, as for `--adapt-labels`.

    .venv/bin/python benchmarks/cross_instrument.py --model /tmp/xi/zoolake-only.onnx \\
        --checkpoint /tmp/xi/zoolake-only.ckpt.pt --set ndsb --labels 25 all --epochs 2 --out /tmp/xi
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from nauplius.core.adaptation import subsample_per_class
from nauplius.evaluate import evaluate
from nauplius.training.datasets import labelled_images
from nauplius.training.splits import stratified_split

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KEYS = ("top1", "vote5", "mean_class_top1")


def labels_tree(name: str, per_class: int | None, out: Path) -> Path:
    """The gallery part's images (at most per_class of each class, seeded) as symlinks."""
    files = stratified_split(labelled_images(DATA / name), 0.2, 0).train
    rows = (subsample_per_class([f.taxon for f in files], per_class, 0) if per_class
            else range(len(files)))
    tree = out / f"{name}-labels-{per_class or 'all'}"
    for i in rows:
        link = tree / files[i].taxon / files[i].path.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(files[i].path.resolve())
    return tree


def scored(model: Path, name: str, cache: dict, adapt: bool, adapt_labels: int | None = None) -> dict:
    started = time.perf_counter()
    result = evaluate(DATA / name, holdout=0.2, seed=0, model_path=model, tta="none",
                      progress=False, embedding_cache=cache, adapt=adapt, adapt_labels=adapt_labels)
    return {**{k: round(result[k], 4) for k in KEYS}, "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="trained on the other set")
    parser.add_argument("--checkpoint", type=Path, required=True, help="its OUT.ckpt.pt")
    parser.add_argument("--set", required=True, help="the new instrument's set (zoolake, ndsb)")
    parser.add_argument("--labels", nargs="+", default=["25", "all"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--validation-fraction", type=float, default=0.05)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--skip-plain", action="store_true")
    args = parser.parse_args()
    from nauplius.training.train import TrainConfig, train

    def say(row: dict) -> None:
        row |= {"utc": time.strftime("%H:%M:%S", time.gmtime()),
                "loadavg": os.getloadavg()[0].__round__(2)}
        print(json.dumps(row), flush=True)

    cache: dict = {}
    if not args.skip_plain:
        say({"model": args.model.stem, "how": "plain", **scored(args.model, args.set, cache, False)})
    for n in args.labels:
        per_class = None if n == "all" else int(n)
        say({"model": args.model.stem, "how": f"--adapt {n}",
             **scored(args.model, args.set, cache, True, per_class)})
        tree = labels_tree(args.set, per_class, args.out)
        started = time.perf_counter()
        trained = train(TrainConfig(data=[tree], init=args.checkpoint, epochs=args.epochs,
                                    validate_every=args.epochs,
                                    validation_fraction=args.validation_fraction,
                                    out=args.out / f"{args.model.stem}-to-{args.set}-{n}"),
                        progress=False)
        (data,) = trained.card["training"]["data_sets"]
        tuned, tuned_cache = trained.onnx_path, dict[tuple, tuple]()
        say({"model": tuned.stem, "how": f"fine-tuned {n}", "trained_on": data["n_train"],
             "train_seconds": round(time.perf_counter() - started, 1),
             **scored(tuned, args.set, tuned_cache, False)})
        say({"model": tuned.stem, "how": f"fine-tuned {n} + --adapt {n}",
             **scored(tuned, args.set, tuned_cache, True, per_class)})


if __name__ == "__main__":
    main()
