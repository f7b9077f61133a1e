"""Taxa named by an admin's upload: added to the tree as new roots before the images arrive."""

from collections.abc import Iterable

from nauplius.core.clients import Downstream
from nauplius.core.errors import DownstreamRejected


async def ensure_taxa(downstream: Downstream, names: Iterable[str | None], actor: int | None) -> None:
    """Create each named taxon the tree lacks (what an admin's /images upload does per file)."""
    wanted = {n for n in names if n}
    if not wanted:
        return
    known = {t["name"] for t in (await downstream.catalog.call("GET", "/v1/taxa"))["data"]}
    for name in sorted(wanted - known):
        try:
            await downstream.catalog.call("POST", "/v1/taxa", json={"name": name}, actor=actor)
        except DownstreamRejected as exc:
            if exc.status_code != 409:  # 409: a concurrent upload added it first
                raise
