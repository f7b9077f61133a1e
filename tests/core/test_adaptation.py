"""The adaptation head (nauplius.core.adaptation) on real ZooLake vectors of the ImageNet export, a
model that never saw plankton: fitted on labels it gains, it never sees query labels, and it
travels as bytes without changing a vector."""
import numpy as np
import pytest

from nauplius.core.adaptation import AdaptationHead, fit_head, subsample_per_class
from nauplius.evaluate import adapt_to_gallery, embed_files
from nauplius.training.datasets import labelled_images
from nauplius.training.splits import stratified_split
from services.embedder.config import EmbedderSettings
from services.embedder.model import Embedder
from tests.support.embedder import MODEL

CLASSES = 12
PER_CLASS = 25


@pytest.fixture(scope="module")
def zoolake_vectors(shared_data):
    """(vectors, labels) of 25 images of each of 12 ZooLake classes, sorted by class and name."""
    settings = EmbedderSettings()
    embedder = Embedder(MODEL, settings.threads, settings.batch_size, tta="none")
    by_class: dict[str, list] = {}
    for f in sorted(labelled_images(shared_data / "zoolake"), key=lambda f: (f.taxon, f.path.name)):
        by_class.setdefault(f.taxon, []).append(f)
    files = [f for taxon in sorted(by_class)[:CLASSES] for f in by_class[taxon][:PER_CLASS]]
    vectors = embed_files(embedder, files, settings.max_pixels, False, "zoolake")
    return files, vectors, [f.taxon for f in files]


def _top1(queries, gallery, query_labels, gallery_labels):
    nearest = np.argmax(queries @ gallery.T, axis=1)
    return float(np.mean(np.asarray(gallery_labels)[nearest] == np.asarray(query_labels)))


def test_fitted_head_beats_the_plain_vectors_in_cross_validation_and_on_unseen_images(
        zoolake_vectors):
    files, vectors, labels = zoolake_vectors
    split = stratified_split(files, 0.3, seed=0)
    row = {f.path: i for i, f in enumerate(files)}
    gallery = [row[f.path] for f in split.train]
    queries = [row[f.path] for f in split.validation]
    gallery_labels = [labels[i] for i in gallery]
    query_labels = [labels[i] for i in queries]

    head = fit_head(vectors[gallery], gallery_labels)
    cv = head.description["cross_validation"]
    assert head.kind == "lda"
    assert cv["top1_adapted"] > cv["top1_plain"]
    assert head.description["learned_from"]["images"] == len(gallery)

    adapted_gallery, adapted_queries = head.transform(vectors[gallery]), head.transform(vectors[queries])
    assert np.allclose(np.linalg.norm(adapted_queries, axis=1), 1.0, atol=1e-5)
    assert adapted_queries.shape[1] == head.output_dim
    plain = _top1(vectors[queries], vectors[gallery], query_labels, gallery_labels)
    assert _top1(adapted_queries, adapted_gallery, query_labels, gallery_labels) >= plain


def test_query_labels_never_reach_the_head(zoolake_vectors):
    """adapt_to_gallery (what `eval --adapt` runs) is given no query labels; shuffling the queries
    changes neither the head nor any query's adapted vector, while one gallery label does."""
    files, vectors, labels = zoolake_vectors
    split = stratified_split(files, 0.3, seed=0)
    row = {f.path: i for i, f in enumerate(files)}
    gallery = vectors[[row[f.path] for f in split.train]]
    queries = vectors[[row[f.path] for f in split.validation]]
    gallery_labels = [f.taxon for f in split.train]

    _, adapted, head = adapt_to_gallery(gallery, gallery_labels, queries, None, 0)
    order = np.random.default_rng(1).permutation(len(queries))
    _, shuffled, shuffled_head = adapt_to_gallery(gallery, gallery_labels, queries[order], None, 0)
    assert shuffled_head["version"] == head["version"]
    # equal up to the last bit BLAS may round differently for another row order
    assert np.allclose(shuffled, adapted[order], rtol=0, atol=1e-6)
    assert head["learned_from"]["images"] == len(gallery)

    relabelled = [gallery_labels[-1], *gallery_labels[1:]]
    _, _, relabelled_head = adapt_to_gallery(gallery, relabelled, queries, None, 0)
    assert relabelled_head["version"] != head["version"]


@pytest.fixture(scope="module")
def head(zoolake_vectors):
    _, vectors, labels = zoolake_vectors
    return fit_head(vectors, labels, folds=3)


def test_round_trip_through_bytes_gives_identical_vectors(zoolake_vectors, head, tmp_path):
    _, vectors, _ = zoolake_vectors
    assert head.kind == "lda"
    head.save(tmp_path / "head.npz")
    loaded = AdaptationHead.load(tmp_path / "head.npz")
    assert loaded.version == head.version and loaded.description == head.description
    assert loaded.transform(vectors).tobytes() == head.transform(vectors).tobytes()

    arrays = dict(np.load(tmp_path / "head.npz"))
    arrays["projection"][0, 0] += 1.0
    np.savez(tmp_path / "damaged.npz", **arrays)
    with pytest.raises(ValueError, match="damaged"):
        AdaptationHead.load(tmp_path / "damaged.npz")


def test_labels_per_class_are_capped_and_seeded(zoolake_vectors):
    _, vectors, labels = zoolake_vectors
    rows = subsample_per_class(labels, 5, seed=3)
    assert len(rows) == 5 * CLASSES
    assert {labels[i] for i in rows} == set(labels)
    assert rows.tolist() == subsample_per_class(labels, 5, seed=3).tolist()
    assert rows.tolist() != subsample_per_class(labels, 5, seed=4).tolist()
    small = fit_head(vectors[rows], [labels[i] for i in rows], folds=2)
    assert small.description["learned_from"]["images_per_class_max"] == 5


def test_bad_input_is_refused_by_name(zoolake_vectors, head):
    _, vectors, labels = zoolake_vectors
    with pytest.raises(ValueError, match="at least two classes"):
        fit_head(vectors[:5], ["daphnia"] * 5)
    with pytest.raises(ValueError, match="5 vectors but 4 labels"):
        fit_head(vectors[:5], labels[:4])
    with pytest.raises(ValueError, match="fitted on 1280-d vectors, these are 64-d"):
        head.transform(vectors[:, :64])
    with pytest.raises(ValueError, match="NaN"):
        head.transform(np.full((1, 1280), np.nan, np.float32))
