"""The `nauplius` command: run the system, ingest images, evaluate retrieval, export models."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


def _existing_dir(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"not a folder: {value}")
    return path


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nauplius", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the four services on this machine")
    up.add_argument("--data-dir", type=Path, default=Path("data"),
                    help="where images, the index and the embedded PostgreSQL live (default ./data)")
    up.add_argument("--port", type=int, default=8000, help="gateway port; services use the next three")

    ingest = commands.add_parser("ingest", help="upload image files and folders through the gateway")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument("--label-from-folder", action="store_true",
                        help="label each image with the name of the folder it is in")
    ingest.add_argument("--instrument", help="instrument name recorded with every image")
    ingest.add_argument("--url", help=f"gateway URL (default $NAUPLIUS_URL, else {DEFAULT_URL})")
    ingest.add_argument("--api-key", help="API key (default $NAUPLIUS_API_KEY); an admin key adds "
                        "the folder names to the taxonomy with --label-from-folder")

    watch = commands.add_parser("watch", help="ingest what an instrument writes into a folder, "
                                "each file or IFCB bin once it is complete")
    watch.add_argument("folder", type=_existing_dir, metavar="DIR")
    watch.add_argument("--poll-s", type=float, default=5.0, help="seconds between looks; a file "
                       "is complete once unchanged from one look to the next (default 5)")
    watch.add_argument("--label-from-folder", action="store_true",
                       help="label each image with the name of the folder it is in")
    watch.add_argument("--url", help=f"gateway URL (default $NAUPLIUS_URL, else {DEFAULT_URL})")

    reconcile = commands.add_parser("reconcile", help="compare the catalog with the search index: "
                                    "images without vectors, vectors without images, stale payloads")
    reconcile.add_argument("--repair", action="store_true",
                           help="mend what differs: re-index, delete stray points, rewrite payloads")
    reconcile.add_argument("--json", action="store_true", help="print the report as one JSON object")
    reconcile.add_argument("--url", help=f"gateway URL (default $NAUPLIUS_URL, else {DEFAULT_URL})")
    reconcile.add_argument("--api-key", help="an admin API key (default $NAUPLIUS_API_KEY)")

    evaluate = commands.add_parser("eval", help="retrieval accuracy on <class>/<image> folders")
    evaluate.add_argument("--gallery", type=_existing_dir, required=True)
    evaluate.add_argument("--queries", type=_existing_dir,
                          help="query images; without it, leave-one-out on the gallery")
    evaluate.add_argument("--k", type=int, default=10, help="neighbours for precision@k (default 10)")
    evaluate.add_argument("--metric", choices=["cosine", "euclidean", "hamming"], default="cosine",
                          help="hamming: binary codes from random hyperplanes (see --bits)")
    evaluate.add_argument("--bits", type=int, default=512,
                          help="Hamming code length, a multiple of 64 (default 512; 256..1024)")
    evaluate.add_argument("--rerank", type=int, default=0, metavar="N",
                          help="re-rank the N nearest by Hamming distance by exact cosine")
    evaluate.add_argument("--holdout", type=float, metavar="FRACTION",
                          help="queries: this seeded stratified fraction of the gallery, searched "
                          "against the rest (the split `model train` validates on)")
    evaluate.add_argument("--seed", type=int, default=0,
                          help="seed of --holdout and of the hyperplanes (default 0)")
    evaluate.add_argument("--tta", choices=["none", "hflip", "flips", "d4"],
                          help="test-time augmentation (default $EMBEDDER_TTA, else the model "
                               "card's tta)")
    evaluate.add_argument("--report", type=Path, metavar="DIR",
                          help="also write an HTML report (DIR/index.html)")
    evaluate.add_argument("--model", type=Path, help="ONNX model with its card beside it "
                          "(default: the embedder's default model)")
    evaluate.add_argument("--adapt", action="store_true",
                          help="fit an adaptation head on the gallery's labels only (never the "
                          "queries') and score the queries in its space; needs --holdout or "
                          "--queries")
    evaluate.add_argument("--adapt-labels", type=_positive_int, metavar="N",
                          help="--adapt learns from at most N labelled gallery images per class "
                          "(seeded by --seed); the gallery searched stays whole")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")

    model = commands.add_parser("model", help="model files")
    model_commands = model.add_subparsers(dest="model_command", required=True)
    export = model_commands.add_parser("export", help="export a pretrained CNN to ONNX with its card "
                                       "(needs the 'export' extra: torch)")
    # EXPORTS and BASES (nauplius.training.export, .training.model) spelled out: they import torch,
    # which this parser must not (tests/training/test_bases.py keeps the lists equal)
    export.add_argument("name", choices=[f"efficientnet-lite{n}-imagenet" for n in (0, 1, 2)]
                        + ["resnet50-imgsim"])
    export.add_argument("--out", type=Path, default=Path("models"))
    quantize = model_commands.add_parser(
        "quantize", help="an int8 copy of a carded ONNX model (static, QDQ, per-channel weights), "
        "calibrated on real images of the training split, with a card of its own")
    quantize.add_argument("--model", type=Path, required=True, help="ONNX model with its card beside it")
    quantize.add_argument("--calibration", type=_existing_dir, nargs="+", required=True,
                          metavar="DIR", help="labelled <class>/<image> folders; only the training "
                          "part of their --holdout split is used")
    quantize.add_argument("--images", type=int, default=256,
                          help="calibration images, shared equally among the folders (default 256)")
    quantize.add_argument("--holdout", type=float, default=0.2,
                          help="the held-out fraction never calibrated on (default 0.2, eval's)")
    quantize.add_argument("--seed", type=int, default=0, help="seed of the split and the sample")
    quantize.add_argument("--out", type=Path, required=True,
                          help="writes OUT.onnx and its card OUT.json (OUT's name is the card's)")
    train = model_commands.add_parser("train", help="fine-tune a pretrained CNN on labelled "
                                      "<class>/<image> folders and export it to ONNX with its card "
                                      "(needs the 'train' extra: torch)")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=_existing_dir, nargs="+", metavar="DIR")
    source.add_argument("--project", type=_positive_int, metavar="ID",
                        help="train on the catalog's validated images of this project, fetched "
                             "through the gateway (--url, --api-key)")
    train.add_argument("--url", help=f"with --project: gateway URL (default $NAUPLIUS_URL, else "
                       f"{DEFAULT_URL})")
    train.add_argument("--api-key", help="with --project: API key (default $NAUPLIUS_API_KEY)")
    train.add_argument("--init", type=Path, metavar="CKPT",
                       help="start from the trunk of an earlier run's checkpoint (OUT.ckpt.pt, "
                            "same --base) instead of the pretrained weights")
    train.add_argument("--base", choices=[f"efficientnet-lite{n}" for n in (0, 1, 2)] + ["resnet50"],
                       default="efficientnet-lite0")
    train.add_argument("--epochs", type=int, default=8)
    train.add_argument("--out", type=Path,
                       help="writes OUT.onnx, OUT.json and the checkpoint OUT.ckpt.pt (default "
                            "models/plankton-lite0; with --project models/projectID-BASE-TIME)")
    train.add_argument("--resolution", type=int, default=128, help="input side in px, a multiple "
                       "of 32 (default 128: plankton images are ~80 px)")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--frozen-stages", type=int, default=4,
                       help="first trunk stages kept at their pretrained weights (default 4)")
    train.add_argument("--validation-fraction", type=float, default=0.2)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--validate-every", type=int, default=1, metavar="N",
                       help="score the validation split after every N-th epoch and the last "
                            "(default 1; embedding it costs about half an epoch on a CPU)")
    train.add_argument("--workers", type=int, help="data-loading processes (default: 0 on CPU, "
                       "8 on GPU)")
    train.add_argument("--resume", action="store_true", help="continue from OUT.ckpt.pt")
    train.add_argument("--greyscale", type=float, default=0.0, metavar="P",
                       help="augmentation: turn a colour training image grey with probability P, "
                            "as a grey instrument would see it (default 0)")
    train.add_argument("--balanced", action="store_true",
                       help="class-balanced batches: draw every class equally often (with "
                            "replacement) instead of every image once per epoch")
    train.add_argument("--margin", type=float, default=0.2,
                       help="CosFace margin subtracted from the true class's cosine (default 0.2)")
    train.add_argument("--label-smoothing", type=float, default=0.1, metavar="EPS",
                       help="label smoothing of the cosine-softmax loss (default 0.1)")
    train.add_argument("--interpolate", type=float, default=1.0, metavar="ALPHA",
                       help="export ALPHA x the fine-tuned weights + (1 - ALPHA) x the pretrained "
                            "ones (WiSE-FT: keeps more of the pretrained features' generality on "
                            "other instruments); with --resume of a finished checkpoint it only "
                            "re-exports (default 1: the fine-tuned trunk)")

    bench = commands.add_parser("bench", help="benchmarks over a private system")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True)
    # The bench modules are imported only to run: they need the service packages, and building
    # this parser must not (`model train` runs on training machines that have only torch).
    labelling = bench_commands.add_parser(
        "labelling", help="images validated per action by an oracle annotator through the REST API")
    labelling.add_argument("--data", type=Path, required=True,
                           help="folders laid out <class>/<image>")
    labelling.add_argument("--seed-per-class", type=int, default=0,
                           help="images of each class the oracle labels by hand first (default 0: "
                                "it starts from cluster proposals)")
    labelling.add_argument("--accept-confidence", type=float, default=0.95,
                           help="accept a suggestion group unseen at this calibrated confidence "
                                "(default 0.95)")
    labelling.add_argument("--min-group", type=int, default=10,
                           help="smallest group worth accepting unseen (default 10)")
    labelling.add_argument("--accept-unseen", action="store_true",
                           help="also accept confident suggestion groups without looking at them "
                                "(off by default: on ZooLake such accepts after the cluster pages "
                                "were right for 38 of 103 images)")
    labelling.add_argument("--min-calibrated", type=int, default=300,
                           help="accept unseen only once the confidences are calibrated on this many "
                                "labels a person looked at (default 300)")
    labelling.add_argument("--fix-on-page", action="store_true",
                           help="fix every wrong image of a judged page at once (one action each) "
                                "instead of leaving it for a later page")
    labelling.add_argument("--refine-min-wrong", type=int, default=10,
                           help="refine a judged similar-image page with its wrong images as "
                                "negatives when it shows at least this many (0: never; default 10)")
    labelling.add_argument("--no-clusters", action="store_true",
                           help="never judge cluster pages (the oracle without cluster proposals, "
                                "for comparison)")
    labelling.add_argument("--clusters-first", action="store_true",
                           help="take a cluster page whenever one offers --min-group images, "
                                "instead of the view (clusters or review pages) whose recent "
                                "pages settled more (the policy before 2026-12-04)")
    labelling.add_argument("--seed", type=int, default=0,
                           help="random seed of the hand-labelled images")
    labelling.add_argument("--json", action="store_true", help="print one JSON object")
    ingest = bench_commands.add_parser(
        "ingest",
        help="images/s through the whole system (gateway to indexed) and where the time goes")
    ingest.add_argument("--data", type=Path, required=True, help="a folder of images (any layout)")
    ingest.add_argument("--limit", type=int,
                        help="at most this many images (a seeded random sample)")
    ingest.add_argument("--seed", type=int, default=0, help="seed of the --limit sample")
    ingest.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a service setting for the private system, e.g. EMBEDDER_THREADS=1 "
                        "or WORKER_BATCH_SIZE=128 (repeatable)")
    ingest.add_argument("--json", action="store_true", help="print one JSON object")
    load = bench_commands.add_parser(
        "load", help="mixed traffic from concurrent annotator clients: latency per route, errors, "
        "and a check that every write is there (exit 1 on any error or missing write)")
    load.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    load.add_argument("--minutes", type=float, default=5.0,
                      help="how long the traffic runs; a fraction is fine (default 5)")
    load.add_argument("--data", type=Path, default=None,
                      help="real images to seed with and derive new ones from (default "
                           "../shared/data/ndsb beside the repository)")
    load.add_argument("--seed-images", type=int, default=300,
                      help="images ingested before the traffic starts (default 300)")
    load.add_argument("--seed", type=int, default=0, help="seed of the sample and the mix")
    load.add_argument("--json", action="store_true", help="print one JSON object")
    scale = bench_commands.add_parser(
        "scale", help="fill a private system with N images (real ones through the ingest path, "
        "the rest as catalog rows with real embeddings plus seeded noise) and measure queries, "
        "recall, pages, stalls, memory, restart, export and suggestions through the gateway")
    scale.add_argument("--images", type=int, required=True, help="images in all (N)")
    scale.add_argument("--real", type=int, default=2000,
                       help="real images of ZooLake and NDSB, half each (default 2000)")
    scale.add_argument("--data", type=Path, default=None,
                       help="folder holding zoolake/ and ndsb/ (default ../shared/data beside "
                            "the repository)")
    scale.add_argument("--queries", type=int, default=100,
                       help="queries per measured route (default 100)")
    scale.add_argument("--seed", type=int, default=0, help="seed of the sample, noise and rows")
    scale.add_argument("--index-timeout-s", type=float, default=7200.0,
                       help="how long index builds may take before the bench gives up")
    scale.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="a service setting for the private system, e.g. "
                            "SEARCH_SHARD_POINTS=50000 (repeatable)")
    scale.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


class CommandFailed(Exception):
    """A downstream service could not be reached or refused the request."""


def default_train_out(args: argparse.Namespace) -> Path:
    if args.project is None:
        return Path("models/plankton-lite0")
    from datetime import UTC, datetime
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path("models") / f"project{args.project}-{args.base}-{stamp}"


def train_project(args: argparse.Namespace, config):
    import httpx

    from nauplius.training.project import train_from_gateway
    if args.resume:
        raise ValueError("--resume continues a --data run; a --project run fetches afresh")
    url = args.url or os.environ.get("NAUPLIUS_URL") or DEFAULT_URL
    try:
        return train_from_gateway(url, args.api_key or os.environ.get("NAUPLIUS_API_KEY"),
                                  args.project, config)
    except httpx.TransportError as error:
        raise CommandFailed(f"cannot reach the gateway at {url} ({error})") from None
    except httpx.HTTPStatusError as error:
        raise CommandFailed(f"the gateway answered {error.response.status_code}: "
                            f"{error.response.text[:500]}") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run_command(args)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM where a command turns it into one
        print("nauplius: interrupted", file=sys.stderr)
        return 130


def run_command(args: argparse.Namespace) -> int:
    if args.command == "up":
        from nauplius.up import run_up
        return run_up(args.data_dir, args.port)

    if args.command == "ingest":
        import httpx

        from nauplius.ingest import ingest
        url = args.url or os.environ.get("NAUPLIUS_URL") or DEFAULT_URL
        try:
            api_key = args.api_key or os.environ.get("NAUPLIUS_API_KEY")
            report = ingest(args.paths, url, args.label_from_folder, args.instrument,
                            api_key=api_key)
        except FileNotFoundError as error:
            print(f"nauplius ingest: {error}", file=sys.stderr)
            return 2
        except httpx.TransportError as error:
            print(f"nauplius ingest: cannot reach the gateway at {url} ({error}); "
                  "is `nauplius up` running?", file=sys.stderr)
            return 1
        except httpx.HTTPStatusError as error:
            print(f"nauplius ingest: the gateway answered {error}", file=sys.stderr)
            return 1
        print(f"{report.stored} stored, {report.duplicates} already known, "
              f"{len(report.errors)} refused")
        for path, reason in report.errors:
            print(f"  refused {path}: {reason}", file=sys.stderr)
        return 1 if report.errors else 0

    if args.command == "reconcile":
        import httpx

        from nauplius.reconcile import reconcile
        url = args.url or os.environ.get("NAUPLIUS_URL") or DEFAULT_URL
        try:
            return reconcile(url, args.api_key or os.environ.get("NAUPLIUS_API_KEY"), args.repair,
                             progress=not args.json, as_json=args.json)
        except httpx.TransportError as error:
            print(f"nauplius reconcile: cannot reach the gateway at {url} ({error})", file=sys.stderr)
            return 2
        except httpx.HTTPStatusError as error:
            print(f"nauplius reconcile: the gateway answered {error.response.status_code}: "
                  f"{error.response.text[:500]}", file=sys.stderr)
            return 2

    if args.command == "watch":
        from nauplius.watch import watch_folder
        url = args.url or os.environ.get("NAUPLIUS_URL") or DEFAULT_URL
        return watch_folder(args.folder, url, args.poll_s, args.label_from_folder,
                            os.environ.get("NAUPLIUS_API_KEY"))

    if args.command == "eval":
        from nauplius.evaluate import evaluate, format_report
        try:
            result = evaluate(args.gallery, args.queries, k=args.k, metric=args.metric,
                              model_path=args.model, progress=not args.json, bits=args.bits,
                              rerank=args.rerank, holdout=args.holdout, seed=args.seed,
                              report_dir=args.report, tta=args.tta, adapt=args.adapt,
                              adapt_labels=args.adapt_labels)
        except ValueError as error:
            print(f"nauplius eval: {error}", file=sys.stderr)
            return 2
        print(json.dumps(result) if args.json else format_report(result))
        return 0

    if args.command == "model" and args.model_command == "train":
        from nauplius.training.augment import Augmentation
        from nauplius.training.train import TrainConfig, train
        config = TrainConfig(
            data=args.data or [], base=args.base, epochs=args.epochs,
            out=args.out or default_train_out(args), init=args.init,
            resolution=args.resolution, batch_size=args.batch_size, lr=args.lr,
            frozen_stages=args.frozen_stages, validation_fraction=args.validation_fraction,
            seed=args.seed, workers=args.workers, validate_every=args.validate_every,
            margin=args.margin, label_smoothing=args.label_smoothing, balanced=args.balanced,
            interpolate=args.interpolate, augmentation=Augmentation(greyscale_p=args.greyscale))
        try:
            if args.project is not None:
                trained = train_project(args, config)
            else:
                trained = train(config, resume=args.resume)
        except (ValueError, FileNotFoundError, FileExistsError) as error:
            print(f"nauplius model train: {error}", file=sys.stderr)
            return 2
        except CommandFailed as error:
            print(f"nauplius model train: {error}", file=sys.stderr)
            return 1
        print(f"exported {trained.onnx_path} and {trained.onnx_path.with_suffix('.json')}")
        if args.project is not None:
            print(f"  project {args.project}: {trained.card['labels']} validated images of "
                  f"{trained.card['classes']} classes")
        for name, scores in trained.card["metrics"]["validation"].items():
            print(f"  {name} validation: top-1 {scores['top1']:.4f}, vote5 {scores['vote5']:.4f}, "
                  f"mean per-class top-1 {scores['mean_class_top1']:.4f}")
        return 0

    if args.command == "bench" and args.bench_command == "labelling":
        from nauplius.bench_labelling import main as bench_labelling
        return bench_labelling(args)

    if args.command == "bench" and args.bench_command == "ingest":
        from nauplius.bench_ingest import main as bench_ingest
        return bench_ingest(args)

    if args.command == "bench" and args.bench_command == "load":
        from nauplius.bench_load import main as bench_load
        return bench_load(args)

    if args.command == "bench" and args.bench_command == "scale":
        from nauplius.bench_scale import main as bench_scale
        return bench_scale(args)

    if args.command == "model" and args.model_command == "quantize":
        from nauplius.model_quantize import Recipe, quantize
        try:
            out = quantize(args.model, args.calibration, args.out,
                           Recipe(images=args.images, holdout=args.holdout, seed=args.seed))
        except ValueError as error:
            print(f"nauplius model quantize: {error}", file=sys.stderr)
            return 2
        print(f"quantized {args.model} to {out} and {out.with_suffix('.json')}")
        return 0

    if args.command == "model":
        from nauplius.training.export import export
        path = export(args.name, args.out)
        print(f"exported {path} and {path.with_suffix('.json')}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
