"""`nauplius bench labelling` over a real private system on a tiny real set: the oracle ends with
every image validated, and its figures add up."""
from __future__ import annotations

import asyncio
import shutil

import pytest

from nauplius.bench_labelling import PAGE, expected_yield, run
from tests.support.database import create_database, drop_database

pytestmark = pytest.mark.e2e

CLASSES = ["daphnia", "fish", "ceratium"]


def test_a_view_is_expected_to_settle_what_its_last_pages_settled():
    trace = [("cluster page", 40), ("review page", 12), ("cluster page", 6), ("seed", 1),
             ("cluster page", 4), ("cluster page", 5)]
    assert expected_yield(trace, "cluster page") == 5  # the last three: 6, 4, 5
    assert expected_yield(trace, "review page") == 12
    assert expected_yield(trace, "sorted page") == PAGE / 2  # not tried yet


def test_the_oracle_validates_everything_and_counts_each_action(shared_data, tmp_path, monkeypatch):
    for name in CLASSES:
        (tmp_path / "set" / name).mkdir(parents=True)
        for path in sorted((shared_data / "zoolake" / name).iterdir())[:8]:
            shutil.copy(path, tmp_path / "set" / name / path.name)
    database_url = asyncio.run(create_database("nauplius_bench_labelling"))
    monkeypatch.setenv("CATALOG_DATABASE_URL", database_url)
    try:
        result = run(tmp_path / "set", seed_per_class=2, accept_confidence=0.5, min_group=2,
                     min_calibrated=0, progress=False, clusters=False, accept_unseen=True)
    finally:
        asyncio.run(drop_database(database_url))
    t = result["tally"]
    assert (result["images"], result["classes"], result["unvalidated"]) == (24, 3, 0)
    assert t["seed_actions"] == 6
    assert t["pages"] == t["page_confirms"] + t["sorted_pages"] + t["cluster_pages"]
    assert result["actions"] == (t["seed_actions"] + t["group_accepts"] + t["page_confirms"]
                                 + t["page_fixes"] + t["refines"] + t["sorted_actions"])
    assert result["moves"]["seed"] == {"actions": 6, "images": 6}
    assert sum(row["actions"] for row in result["moves"].values()) == result["actions"]
    assert sum(row["images"] for row in result["moves"].values()) == 24
    assert result["images_per_action"] == pytest.approx(24 / result["actions"])
    # Judged pages are right by construction; only unseen accepts can be wrong.
    wrong_at_most = t["accepted_images"] / 24
    assert 1 - wrong_at_most <= result["label_precision"] <= 1


def test_the_oracle_refines_similar_pages_with_their_wrong_images(shared_data, tmp_path,
                                                                  monkeypatch):
    """No seeds and no suggestions trusted: the first page is the similar-image page (50 of 60
    images of three classes), so it shows many wrong images and is refined."""
    for name in CLASSES:
        (tmp_path / "set" / name).mkdir(parents=True)
        for path in sorted((shared_data / "zoolake" / name).iterdir())[:20]:
            shutil.copy(path, tmp_path / "set" / name / path.name)
    database_url = asyncio.run(create_database("nauplius_bench_refine"))
    monkeypatch.setenv("CATALOG_DATABASE_URL", database_url)
    try:
        result = run(tmp_path / "set", seed_per_class=0, min_calibrated=10_000, progress=False,
                     refine_min_wrong=4, clusters=False)
    finally:
        asyncio.run(drop_database(database_url))
    t = result["tally"]
    assert result["unvalidated"] == 0 and t["seed_actions"] == 0 and t["group_accepts"] == 0
    assert t["refines"] >= 1 and t["refined_pages"] >= 1 and t["refined_images"] >= 1
    assert result["actions"] == t["page_confirms"] + t["refines"] + t["sorted_actions"]
    assert result["label_precision"] == 1.0  # judged pages only: right by construction


def test_the_oracle_sorts_a_page_of_leftovers_one_action_per_class(shared_data, tmp_path,
                                                                   monkeypatch):
    """No group reaches min_group: the 18 unjudged images fit one sorted page, three classes on
    it, so at most three actions after the six seeds (fewer when the images whose suggestion is
    right, spanning two classes or more, are validated in one)."""
    for name in CLASSES:
        (tmp_path / "set" / name).mkdir(parents=True)
        for path in sorted((shared_data / "zoolake" / name).iterdir())[:8]:
            shutil.copy(path, tmp_path / "set" / name / path.name)
    database_url = asyncio.run(create_database("nauplius_bench_sorted"))
    monkeypatch.setenv("CATALOG_DATABASE_URL", database_url)
    try:
        result = run(tmp_path / "set", seed_per_class=2, min_group=1000, progress=False,
                     clusters=False)
    finally:
        asyncio.run(drop_database(database_url))
    t = result["tally"]
    assert t["sorted_pages"] == 1 and 1 <= t["sorted_actions"] <= 3
    assert result["actions"] == 6 + t["sorted_actions"]
    sorted_moves = [result["moves"].get(m, {"actions": 0, "images": 0})
                    for m in ("sorted page", "own suggestions")]
    assert sum(m["actions"] for m in sorted_moves) == t["sorted_actions"]
    assert sum(m["images"] for m in sorted_moves) == 18
    assert result["moves"].get("own suggestions", {"actions": 0})["actions"] <= 1
    assert result["label_precision"] == 1.0 and result["unvalidated"] == 0
