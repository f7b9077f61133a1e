"""Taxonomy, keys, projects, batch labels, history and revert against real PostgreSQL
(each test in a transaction rolled back at the end)."""

import hashlib

import pytest

from nauplius.core.contracts.catalog import AnnotatorPublic
from services.catalog import access, labelling, repository, taxonomy
from services.catalog.domain import ImageDetails, NewImage
from services.catalog.errors import (
    Conflict,
    ImageNotFound,
    InvalidMetadata,
    TaxonConflict,
    UnknownTaxon,
)

TREE = """name,rank,parent,aphia_id
Cladocera,order,,1076
Daphniidae,family,Cladocera,1302
Daphnia,genus,Daphniidae,106268
Bosminidae,family,Cladocera,
"""


async def _images(conn, n: int, project_id: int = 1) -> list[int]:
    ids = []
    for i in range(n):
        sha = hashlib.sha256(f"img{i}".encode()).hexdigest()
        image = await repository.insert_image(
            conn, NewImage(sha, "jpeg", 10, 10, ImageDetails(project_id=project_id))
        )
        assert image is not None
        ids.append(image.id)
    return ids


async def _admin(conn) -> AnnotatorPublic:
    return await access.create_annotator(conn, "Ana Ruiz", "Eawag", None)


async def test_csv_import_builds_the_tree_with_parents_defined_later(conn):
    rows = taxonomy.parse_taxa_csv("name,rank,parent,aphia_id\nDaphnia,genus,Cladocera,106268\n"
                                   "Cladocera,order,,1076\n")
    assert await taxonomy.import_taxa(conn, rows, None) == {"created": 2, "updated": 0}
    daphnia = await taxonomy.find_taxon(conn, "Daphnia")
    cladocera = await taxonomy.find_taxon(conn, "Cladocera")
    assert (daphnia.parent_id, daphnia.aphia_id, daphnia.rank) == (cladocera.id, 106268, "genus")
    again = await taxonomy.import_taxa(conn, taxonomy.parse_taxa_csv(TREE), None)
    assert again == {"created": 2, "updated": 2}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("rank,parent\nx,y\n", "header"),
        ("name,rank,colour\nx,,\n", "unknown CSV columns: colour"),
        ("name,aphia_id\nx,abc\n", "line 2: aphia_id 'abc'"),
        ("name\nx\nx\n", "line 3: 'x' appears twice"),
    ],
)
def test_bad_csv_is_refused_naming_the_problem(text, problem):
    with pytest.raises(InvalidMetadata, match=problem):
        taxonomy.parse_taxa_csv(text)


async def test_import_with_unknown_parent_stores_nothing(conn):
    rows = taxonomy.parse_taxa_csv("name,parent\nDaphnia,Cladocera\n")
    with pytest.raises(UnknownTaxon, match="unknown parent taxon 'Cladocera'"):
        await taxonomy.import_taxa(conn, rows, None)
    assert await taxonomy.list_taxa(conn) == []


async def test_taxon_edits_refuse_cycles_and_duplicates_and_rename_labels(conn):
    await taxonomy.import_taxa(conn, taxonomy.parse_taxa_csv(TREE), None)
    cladocera = await taxonomy.find_taxon(conn, "Cladocera")
    with pytest.raises(InvalidMetadata, match="its own ancestor"):
        await taxonomy.update_taxon(conn, cladocera.id,
                                    taxonomy.TaxonFields("Cladocera", parent="Daphnia"), None)
    with pytest.raises(TaxonConflict, match="AphiaID 1302"):
        await taxonomy.create_taxon(conn, taxonomy.TaxonFields("Other", aphia_id=1302), None)
    [image] = await _images(conn, 1)
    await labelling.assign(conn, [image], "Daphnia", "validated", labelling.Writer(None, "ana"))
    daphnia = await taxonomy.find_taxon(conn, "Daphnia")
    _, renamed = await taxonomy.update_taxon(
        conn, daphnia.id, taxonomy.TaxonFields("Daphnia s.l.", "genus", "Daphniidae", 106268), None
    )
    assert renamed == [image]
    assert (await repository.get_image(conn, image)).label == "Daphnia s.l."
    with pytest.raises(TaxonConflict, match="has labels or child taxa"):
        await taxonomy.delete_taxon(conn, daphnia.id)


async def test_labels_must_name_a_taxon_once_the_tree_exists(conn):
    images = await _images(conn, 2)
    writer = labelling.Writer(None, "ana")
    # No tree yet: free text, as before the taxonomy existed.
    await labelling.assign(conn, images[:1], "something", "validated", writer)
    await taxonomy.import_taxa(conn, taxonomy.parse_taxa_csv(TREE), None)
    with pytest.raises(UnknownTaxon, match="unknown taxon 'Daphnia magna'"):
        await labelling.assign(conn, images, "Daphnia magna", "validated", writer)
    assert [e.taxon for e in await repository.label_history(conn, images[1])] == []
    # An admin's upload may add the taxon it names.
    await labelling.assign(conn, images, "Daphnia magna", "validated", writer, create_taxon=True)
    assert (await taxonomy.find_taxon(conn, "Daphnia magna")).parent_id is None


async def test_batch_assign_is_all_or_nothing_and_records_the_writer(conn):
    await taxonomy.import_taxa(conn, taxonomy.parse_taxa_csv(TREE), None)
    ana = await _admin(conn)
    images = await _images(conn, 3)
    with pytest.raises(ImageNotFound, match="unknown image ids: \\[987654\\]"):
        await labelling.assign(conn, [*images, 987654], "Daphnia", "validated", labelling.Writer(ana.id))
    assert (await repository.get_image(conn, images[0])).label_state == "unlabelled"
    done = await labelling.assign(conn, images, "Daphnia", "dubious", labelling.Writer(ana.id))
    assert sorted(done) == images
    [entry] = await repository.label_history(conn, images[0])
    assert (entry.taxon, entry.state, entry.annotator, entry.annotator_id) == (
        "Daphnia", "dubious", "Ana Ruiz", ana.id)
    assert entry.taxon_id == (await taxonomy.find_taxon(conn, "Daphnia")).id


async def test_history_shows_from_and_to_and_any_change_can_be_reverted(conn):
    await taxonomy.import_taxa(conn, taxonomy.parse_taxa_csv(TREE), None)
    [image] = await _images(conn, 1)
    await labelling.store_predictions(conn, [(image, "Daphniidae", 0.7, 0.6)])
    ana = labelling.Writer(None, "ana")
    await labelling.assign(conn, [image], "Daphnia", "validated", ana)
    await labelling.assign(conn, [image], "Bosminidae", "dubious", ana)
    history = await repository.label_history(conn, image)
    assert [(e.previous_taxon, e.previous_state, e.taxon, e.state) for e in history] == [
        (None, "unlabelled", "Daphniidae", "predicted"),
        ("Daphniidae", "predicted", "Daphnia", "validated"),
        ("Daphnia", "validated", "Bosminidae", "dubious"),
    ]
    # Undo the middle change: the image gets back what it had before it (the prediction).
    undo = await labelling.revert(conn, history[1].id, labelling.Writer(None, "ben"))
    assert (undo.taxon, undo.state, undo.reverts_label_id, undo.annotator) == (
        "Daphniidae", "predicted", history[1].id, "ben")
    assert undo.confidence == pytest.approx(0.7)
    # Undo the first: back to unlabelled.
    await labelling.revert(conn, history[0].id, ana)
    current = await repository.get_image(conn, image)
    assert (current.label, current.label_state) == (None, "unlabelled")
    assert len(await repository.label_history(conn, image)) == 5


async def test_predictions_never_overwrite_a_person_and_accepting_validates_a_group(conn):
    await taxonomy.import_taxa(conn, taxonomy.parse_taxa_csv(TREE), None)
    images = await _images(conn, 4)
    ana = labelling.Writer(None, "ana")
    await labelling.assign(conn, images[:1], "Bosminidae", "validated", ana)
    written = await labelling.store_predictions(
        conn, [(images[0], "Daphnia", 0.99, 0.9), (images[1], "Daphnia", 0.95, 0.8),
               (images[2], "Daphnia", 0.6, 0.5), (images[3], "Bosminidae", 0.97, 0.85)])
    assert written == 3
    # The same predictions again write nothing.
    assert await labelling.store_predictions(conn, [(images[1], "Daphnia", 0.951, None)]) == 0
    groups = {g.taxon: g for g in await labelling.suggestion_groups(conn, 0.9, None)}
    assert (groups["Daphnia"].images, groups["Daphnia"].confident) == (2, 1)
    accepted = await labelling.accept_suggestions(conn, "Daphnia", 0.9, ana)
    assert accepted == [images[1]]
    assert await labelling.state_counts(conn, None) == {
        "unlabelled": 0, "predicted": 2, "validated": 2, "dubious": 0}
    assert (await repository.get_image(conn, images[0])).label == "Bosminidae"


async def test_keys_are_stored_hashed_and_revocable(conn):
    ana = await _admin(conn)
    stored, key = await access.create_key(conn, ana.id, "annotator", None)
    assert key.startswith("npl_") and len(key) > 40
    assert await conn.fetchval("SELECT count(*) FROM api_keys WHERE key_hash = $1", key) == 0
    principal = await access.resolve_key(conn, access.hash_key(key))
    assert (principal.annotator_id, principal.role, principal.institution) == (ana.id, "annotator", "Eawag")
    await access.revoke_key(conn, stored.id, ana.id)
    assert await access.resolve_key(conn, access.hash_key(key)) is None


async def test_first_admin_key_is_created_once_and_written_private(conn, tmp_path):
    key_file = tmp_path / "admin-api-key"
    assert await access.bootstrap_admin_key(conn, key_file) is True
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    principal = await access.resolve_key(conn, access.hash_key(key_file.read_text().strip()))
    assert principal.role == "admin"
    assert await access.bootstrap_admin_key(conn, tmp_path / "again") is False
    assert not (tmp_path / "again").exists()


async def test_projects_group_images(conn):
    project = await access.create_project(conn, "Greifensee 2019", None, None)
    with pytest.raises(Conflict):
        await access.create_project(conn, "Greifensee 2019", None, None)
    images = await _images(conn, 3)
    assert (await repository.get_image(conn, images[0])).project_id == 1
    await access.move_images(conn, project.id, images[:2])
    page, count, _ = await repository.list_images(conn, 10, 0, project_id=project.id)
    assert count == 2 and {i.id for i in page} == set(images[:2])
