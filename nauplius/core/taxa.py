"""Taxa named by an admin's upload: added to the tree as new roots before the images arrive."""

from collections.abc import Iterable

from nauplius.core.clients.catalog import CatalogClient
from nauplius.core.contracts.catalog import TaxonIn
from nauplius.core.errors import DownstreamRejected


async def ensure_taxa(catalog: CatalogClient, names: Iterable[str | None], actor: int | None) -> None:
    """Create each named taxon the tree lacks (what an admin's /images upload does per file)."""
    wanted = {n for n in names if n}
    if not wanted:
        return
    known = set(await catalog.taxon_parents())
    for name in sorted(wanted - known):
        try:
            await catalog.create_taxon(TaxonIn(name=name), actor)
        except DownstreamRejected as exc:
            if exc.status_code != 409:  # 409: a concurrent upload added it first
                raise
