"""POST /api/v1/similar with `negative_ids` ("more like these, not like those") through the
gateway over the real catalog, search and embedder on real ZooLake images: an image nearer a
negative than any example ranks below every image nearer the examples, paged and filtered as the
plain query; bad negatives are refused by name."""

from pathlib import Path

import httpx

from tests.support.data import ZOOLAKE

CLASSES = ["daphnia", "bosmina", "dinobryon"]
PER_CLASS = 8


async def _upload(gw: httpx.AsyncClient, paths: list[Path]) -> list[int]:
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
    answer = await gw.post("/api/v1/images", files=files, data={"instrument": "SPC"})
    assert answer.status_code == 200, answer.text
    return [entry["id"] for entry in answer.json()["data"]]


async def _scores(gw: httpx.AsyncClient, body: dict) -> dict[int, float]:
    answer = await gw.post("/api/v1/similar", json={"limit": 200, **body})
    assert answer.status_code == 200, answer.text
    return {image["id"]: image["score"] for image in answer.json()["data"]}


async def test_negatives_push_their_neighbours_down(stack) -> None:
    gw, _ = stack
    ids = {label: await _upload(gw, sorted((ZOOLAKE / label).iterdir())[:PER_CLASS])
           for label in CLASSES}
    positive, negative = ids["daphnia"][0], ids["bosmina"][0]
    to_positive = await _scores(gw, {"image_ids": [positive]})
    to_negative = await _scores(gw, {"image_ids": [negative]})

    refined = await gw.post("/api/v1/similar", json={
        "image_ids": [positive], "negative_ids": [negative], "limit": 200})
    assert refined.status_code == 200, refined.text
    ranked = [image["id"] for image in refined.json()["data"]]
    assert positive not in ranked and negative not in ranked
    assert set(ranked) == set(to_positive) - {negative}  # every image, in a new order
    nearer_negative = {i for i in ranked if to_negative[i] > to_positive[i]}
    # On real images: the negative's own class and its nearest neighbours are among them.
    nearest_to_negative = sorted(to_negative, key=lambda i: -to_negative[i])[:3]
    assert set(nearest_to_negative) - {positive} <= nearer_negative
    assert len(nearer_negative & set(ids["bosmina"])) >= PER_CLASS // 2
    first_demoted = min(ranked.index(i) for i in nearer_negative)
    assert all(ranked.index(i) < first_demoted for i in set(ranked) - nearer_negative)
    plain = [i for i in sorted(to_positive, key=lambda i: -to_positive[i]) if i != negative]
    assert ranked != plain  # the negative changed the order

    # Paged like the plain query: two pages are the first ranks, in order, `more` on the first.
    first = (await gw.post("/api/v1/similar", json={
        "image_ids": [positive], "negative_ids": [negative], "limit": 5})).json()
    second = (await gw.post("/api/v1/similar", json={
        "image_ids": [positive], "negative_ids": [negative], "limit": 5, "offset": 5})).json()
    assert [i["id"] for i in first["data"] + second["data"]] == ranked[:10] and first["more"]
    assert (await gw.post("/api/v1/similar", json={
        "image_ids": [positive], "negative_ids": [negative], "instrument": "IFCB"})).json()["data"] == []


async def test_bad_negatives_are_refused(stack) -> None:
    gw, _ = stack
    (positive, negative) = await _upload(gw, sorted((ZOOLAKE / "daphnia").iterdir())[:2])
    unknown = await gw.post("/api/v1/similar", json={
        "image_ids": [positive], "negative_ids": [negative, 999_999]})
    assert unknown.status_code == 404 and "999999" in unknown.json()["detail"]
    both = await gw.post("/api/v1/similar", json={
        "image_ids": [positive], "negative_ids": [positive]})
    assert both.status_code == 422 and f"[{positive}]" in both.json()["detail"]
    too_many = await gw.post("/api/v1/similar", json={
        "image_ids": [positive], "negative_ids": list(range(1, 52))})
    assert too_many.status_code == 422 and "negative_ids" in too_many.text
