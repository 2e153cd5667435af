"""`crm seed-demo --tenant SLUG --customers N`: fill an empty tenant with realistic demo data (COPY-based).

Registered by app/cli/__init__.py as `crm seed-demo` (function `seed_demo_command`).
The command imports the database layer inside its body, so that `crm --help` and the other commands do
not load it (start-up cost).
"""

import json
import time
from typing import Annotated

import typer

from app.errors import DomainError


def seed_demo_command(
    tenant: Annotated[str, typer.Option("--tenant", help="Identificador (slug) da organização")],
    customers: Annotated[int, typer.Option("--customers", min=1, help="Quantidade de clientes")] = 500_000,
    contacts: Annotated[int, typer.Option("--contacts-per-customer", min=1)] = 2,
    interactions: Annotated[int, typer.Option("--interactions-per-customer", min=0)] = 10,
    agents: Annotated[int, typer.Option("--agents", min=1, help="Atendentes de demonstração")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Semente do gerador (dados reproduzíveis)")] = 42,
    opportunities: Annotated[
        int, typer.Option("--opportunities", min=0, help="Oportunidades no funil padrão (Kanban)")
    ] = 0,
) -> None:
    """Gera clientes, contatos, interações, conversas e agendamentos de demonstração.

    Com --opportunities N, acrescenta N oportunidades às etapas abertas do funil padrão; numa
    organização que já tem clientes, só as oportunidades são geradas.
    """
    from sqlmodel import select

    from app.crm.demo import seed_demo
    from app.crm.kanban.demo import seed_opportunities
    from app.platform.admin import get_by_slug
    from models.tenant import Customer
    from tenants.database import platform_session, session

    try:
        with platform_session() as db:
            found = get_by_slug(db, tenant)
        if not found.schema_name:
            raise DomainError("A organização ainda não foi provisionada.")
        start = time.perf_counter()
        with session(found.schema_name) as db:
            has_customers = db.exec(select(Customer.id).limit(1)).first() is not None
        result: dict[str, object] = {}
        if not (opportunities and has_customers):
            result = seed_demo(
                found.schema_name,
                customers,
                contacts,
                interactions,
                agents,
                seed,
                progress=lambda step: typer.echo(f"[{time.perf_counter() - start:6.1f}s] {step}"),
            )
        if opportunities:
            with session(found.schema_name) as db:
                result["opportunities"] = seed_opportunities(db, found.schema_name, opportunities, seed)
                db.commit()
    except DomainError as exc:
        typer.secho(exc.message, fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps({k: v for k, v in result.items() if k != "agents"}, ensure_ascii=False))
