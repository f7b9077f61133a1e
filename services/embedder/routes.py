import base64
import logging
from typing import Annotated, Literal

import numpy as np
from anyio import to_thread
from fastapi import APIRouter, File, HTTPException, Query, UploadFile

from nauplius.core.contracts.embedder import (
    EmbedderHealth,
    EmbeddingResult,
    EmbedResponse,
    ModelCard,
    ModelCards,
)
from nauplius.core.preprocess import ImageRefused, ImageTooLarge, UndecodableImage, decode_image, prepare
from services.embedder.config import EmbedderSettings
from services.embedder.deps import ChosenEmbedderDep, EmbedderDep, EmbeddersDep, LimiterDep, SettingsDep
from services.embedder.model import Embedder

log = logging.getLogger("nauplius.embedder")

router = APIRouter()


@router.get("/health")
async def health(embedder: EmbedderDep) -> EmbedderHealth:
    return EmbedderHealth(status="ok", model=embedder.card.name)


@router.get("/v1/model")
async def model_card(embedder: ChosenEmbedderDep) -> ModelCard:
    """The card of one served model (`model`), the default's when unset."""
    return embedder.card


@router.get("/v1/models")
async def model_cards(embedders: EmbeddersDep) -> ModelCards:
    """The cards of every served model version, the default first."""
    cards = [embedder.card for embedder in embedders.values()]
    return ModelCards(data=cards, default=cards[0].name)


@router.post("/v1/embed")
async def embed(embedder: ChosenEmbedderDep, settings: SettingsDep, limiter: LimiterDep,
                files: Annotated[list[UploadFile], File()] = [],  # noqa: B006
                encoding: Annotated[Literal["json", "base64"], Query()] = "json") -> EmbedResponse:
    """One result per file, in order: its unit-length vector (of model `model`, the default
    when unset), or the reason it has none."""
    if not files:
        raise HTTPException(400, "no image sent: post one or more multipart fields named 'files'")
    uploads: list[bytes | ImageRefused] = []
    for upload in files:
        if upload.size is not None and upload.size > settings.max_image_bytes:
            uploads.append(_too_big(upload.size, settings.max_image_bytes))
            continue
        data = await upload.read(settings.max_image_bytes + 1)
        too_big = len(data) > settings.max_image_bytes
        uploads.append(_too_big(len(data), settings.max_image_bytes) if too_big else data)
    results = await to_thread.run_sync(_embed_all, embedder, uploads, settings, encoding,
                                       limiter=limiter)
    return EmbedResponse(model=embedder.card.name, dim=embedder.dim, data=results)


def _too_big(size: int, limit: int) -> ImageTooLarge:
    return ImageTooLarge(f"file is over the limit of {limit} bytes ({size} bytes)")


def _embed_all(embedder: Embedder, uploads: list[bytes | ImageRefused],
               settings: EmbedderSettings, encoding: str = "json") -> list[EmbeddingResult]:
    """Decode, prepare and embed a batch; a file that fails gets its error, the others embed."""
    results = [EmbeddingResult() for _ in uploads]
    inputs, positions = [], []
    for i, upload in enumerate(uploads):
        try:
            if isinstance(upload, ImageRefused):
                raise upload
            inputs.append(_model_input(embedder, upload, settings))
            positions.append(i)
        except ImageRefused as exc:
            results[i].error = f"{type(exc).__name__}: {exc}"
    if inputs:
        vectors = embedder.embed_prepared(np.stack(inputs))
        for i, vector in zip(positions, vectors, strict=True):
            if encoding == "base64":
                results[i].vector_b64 = base64.b64encode(vector.astype("<f4").tobytes()).decode()
            else:
                results[i].vector = vector.tolist()
    return results


def _model_input(embedder: Embedder, data: bytes, settings: EmbedderSettings) -> np.ndarray:
    """One file's model input. Whatever decoding or preparing it raises is this file's refusal
    (UndecodableImage), never the batch's failure: the bytes are the untrusted part."""
    try:
        return prepare(decode_image(data, settings.max_pixels, settings.max_side), embedder.card)
    except ImageRefused:
        raise
    except Exception as exc:
        log.warning("a file could not be decoded or prepared", exc_info=True)
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        raise UndecodableImage(f"could not be decoded or prepared for the model "
                               f"({type(exc).__name__}: {first_line})") from None
