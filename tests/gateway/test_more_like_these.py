"""POST /api/v1/similar with `negative_ids` ("more like these, not like those") through the
gateway over the real catalog, search and embedder on real ZooLake images: ranked by the cosine to
2 * example - negative, the negative's class pushed down, paged and filtered as the
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
    # average_vector: ranked by the cosine to 2 * example - negative, i.e. by 2 cos(x, example)
    # - cos(x, negative) (to the float32 rounding of the scores).
    expected = {i: 2 * to_positive[i] - to_negative[i] for i in ranked}
    assert all(expected[a] >= expected[b] - 1e-4 for a, b in zip(ranked, ranked[1:], strict=False))
    # On real images the negative's class goes down: its nearest neighbours leave the top.
    nearest_to_negative = [i for i in sorted(to_negative, key=lambda i: -to_negative[i])
                           if i in set(ids["bosmina"])][:3]
    plain = [i for i in sorted(to_positive, key=lambda i: -to_positive[i]) if i != negative]
    assert all(ranked.index(i) > plain.index(i) for i in nearest_to_negative)
    bosmina_before = sum(i in set(ids["bosmina"]) for i in plain[:PER_CLASS])
    assert sum(i in set(ids["bosmina"]) for i in ranked[:PER_CLASS]) <= bosmina_before

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
