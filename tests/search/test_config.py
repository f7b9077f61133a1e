import pytest

from services.search.backends.edge import EdgeIndex
from services.search.backends.qdrant_server import QdrantServerIndex
from services.search.config import SearchSettings
from services.search.main import open_index


@pytest.mark.parametrize("var", ["QDRANT_URL", "SEARCH_QDRANT_URL"])
def test_qdrant_url_is_read_under_both_names(monkeypatch, var):
    monkeypatch.setenv(var, "http://qdrant.example:6333")
    monkeypatch.setenv("QDRANT_API_KEY", "secret")
    settings = SearchSettings()
    assert settings.qdrant_url == "http://qdrant.example:6333"
    assert settings.qdrant_api_key == "secret"


async def test_backend_follows_qdrant_url(monkeypatch, tmp_path):
    monkeypatch.delenv("QDRANT_URL", raising=False)
    monkeypatch.delenv("SEARCH_QDRANT_URL", raising=False)
    edge = open_index(SearchSettings(data_dir=tmp_path))
    assert isinstance(edge, EdgeIndex)
    await edge.close()
    server = open_index(SearchSettings(data_dir=tmp_path, qdrant_url="http://127.0.0.1:1"))
    assert isinstance(server, QdrantServerIndex)
    await server.close()


async def test_hamming_bits_zero_reaches_both_backends(monkeypatch, tmp_path):
    monkeypatch.setenv("SEARCH_HAMMING_BITS", "0")
    settings = SearchSettings(data_dir=tmp_path)
    edge = open_index(settings)
    assert isinstance(edge, EdgeIndex) and edge.hamming_bits == 0
    await edge.close()
    server = open_index(SearchSettings(data_dir=tmp_path, qdrant_url="http://127.0.0.1:1"))
    assert isinstance(server, QdrantServerIndex) and server.layout.hamming_bits == 0
    await server.close()


def test_hamming_bits_must_be_whole_words(monkeypatch):
    monkeypatch.setenv("SEARCH_HAMMING_BITS", "100")
    with pytest.raises(ValueError, match="multiple of 64"):
        SearchSettings()
