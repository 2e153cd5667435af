"""`crm search-reindex [--tenant SLUG]`: rebuild the external search index (Meilisearch) of one tenant
or of every active tenant, synchronously. Needed once after the indexed document changes shape (e.g.
the phone forms added in session 2) and to repair an index after an outage longer than the retries.

Registered by app/cli/__init__.py as `crm search-reindex` (function `reindex_command`).
The command imports the database layer inside its body, so that `crm --help` and the other commands do
not load it (start-up cost).
"""

import json
from typing import Annotated

import typer

from app.errors import DomainError


def reindex_command(
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Identificador (slug); sem ele, todas as organizações ativas"),
    ] = None,
) -> None:
    """Reconstrói o índice de busca externo (Meilisearch) a partir do PostgreSQL."""
    from sqlmodel import select

    from app.platform.admin import get_by_slug
    from app.search import sync
    from app.search.protocol import SearchUnavailable
    from models.platform import Tenant
    from tenants.database import platform_session

    if not sync.external_index_enabled():
        typer.secho("Sem MEILI_URL: a busca usa o PostgreSQL e não há índice externo.", err=True)
        raise typer.Exit(0)
    try:
        with platform_session() as db:
            if tenant:
                targets = [get_by_slug(db, tenant)]
            else:
                targets = list(db.exec(select(Tenant).where(Tenant.status == "active")).all())
    except DomainError as exc:
        typer.secho(exc.message, fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    counts: dict[str, int | str] = {}
    failed = False
    for t in targets:
        if not t.schema_name:
            continue
        try:
            counts[t.slug] = sync.reindex_now(t.schema_name)
        except SearchUnavailable:
            counts[t.slug] = "indisponível (fica pendente)"
            failed = True
    typer.echo(json.dumps(counts, ensure_ascii=False))
    if failed:
        raise typer.Exit(1)
