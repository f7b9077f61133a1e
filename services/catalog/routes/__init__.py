"""The catalog's HTTP routes (its internal /v1 API), one module per resource; each answers the
contracts of nauplius.core.contracts.catalog."""

from services.catalog.routes import (
    access,
    adaptation,
    clusters,
    duplicates,
    exports,
    health,
    images,
    jobs,
    labels,
    models,
    outbox,
    projects,
    suggestions,
    tasks,
    taxa,
)

ROUTERS = tuple(module.router for module in (
    health, images, labels, taxa, access, projects, suggestions, exports, tasks, jobs, outbox,
    clusters, duplicates, adaptation, models,
))
