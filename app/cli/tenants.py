"""`crm tenants ...` and `crm superadmin create`: the platform operations (app/platform) from a shell.

The CLI acts as the server's owner: it calls the platform services without an actor (the services
check PLATFORM_MANAGE for people), and the audit log records these calls as the system's. Service
imports sit inside the commands so that `crm --help` and the other commands do not load the models
and the database layer (start-up cost).
"""

import json
from typing import Annotated

import typer

tenants_cli = typer.Typer(help="Organizações (tenants).", no_args_is_help=True)
superadmin_cli = typer.Typer(help="Superadministradores da plataforma.", no_args_is_help=True)


def _fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@tenants_cli.command("create")
def tenants_create(
    slug: str,
    name: Annotated[str, typer.Option("--name")],
    admin_email: Annotated[str, typer.Option("--admin-email")],
    admin_password: Annotated[str, typer.Option("--admin-password")],
    admin_name: Annotated[str, typer.Option("--admin-name")] = "Administrador",
) -> None:
    """Provision a tenant (schema + migrations + first admin)."""
    from app.errors import DomainError
    from app.platform.provisioning import SignupInput, provision_tenant

    try:
        tenant = provision_tenant(SignupInput(name, slug, admin_name, admin_email, admin_password))
    except DomainError as exc:
        _fail(exc.message)
        return
    typer.echo(f"tenant {tenant.slug} created in schema {tenant.schema_name}")


@tenants_cli.command("list")
def tenants_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List tenants with usage (users, customers)."""
    from app.platform import admin
    from tenants.database import platform_session

    with platform_session() as db:
        rows = admin.list_tenants(db, None)
    if as_json:
        for t in rows:
            typer.echo(
                json.dumps(
                    {
                        "slug": t.slug,
                        "name": t.name,
                        "status": t.status,
                        "schema": t.schema,
                        "users": t.users,
                        "customers": t.customers,
                    },
                    ensure_ascii=False,
                )
            )
        return
    for t in rows:
        typer.echo(
            f"{t.slug:20} {t.status:10} {t.schema or '-':10} users={t.users} customers={t.customers} {t.name}"
        )


def _set_status(slug: str, status: str) -> None:
    from app.errors import DomainError
    from app.platform import admin
    from tenants.database import platform_session

    with platform_session() as db:
        try:
            admin.set_status(db, None, slug, status)
        except DomainError as exc:
            _fail(exc.message)
        db.commit()
    typer.echo(f"tenant {slug}: {status}")


@tenants_cli.command("purge-unconfirmed")
def tenants_purge_unconfirmed(
    older_than_days: Annotated[
        int | None,
        typer.Option("--older-than-days", help="Idade mínima em dias (padrão: SIGNUP_CONFIRM_DAYS)."),
    ] = None,
) -> None:
    """Remove sign-ups whose e-mail was never confirmed (tenant, users and schema)."""
    from app.errors import DomainError
    from app.platform import admin
    from tenants.database import platform_session, unit_of_work

    try:
        with platform_session() as db, unit_of_work(db):
            purged = admin.purge_unconfirmed(db, None, older_than_days)
    except DomainError as exc:
        _fail(exc.message)
        return
    typer.echo(f"purged {len(purged)} unconfirmed tenants{': ' + ', '.join(purged) if purged else ''}")


@tenants_cli.command("suspend")
def tenants_suspend(slug: str) -> None:
    """Suspend a tenant: its users cannot log in and its tokens stop working."""
    _set_status(slug, "suspended")


@tenants_cli.command("reactivate")
def tenants_reactivate(slug: str) -> None:
    _set_status(slug, "active")


@superadmin_cli.command("create")
def superadmin_create(
    email: Annotated[str, typer.Option("--email")],
    password: Annotated[str, typer.Option("--password")],
    name: Annotated[str, typer.Option("--name")] = "Superadmin",
) -> None:
    """Create a platform superadmin."""
    from app.auth.superadmins import create_superadmin
    from app.errors import DomainError
    from tenants.database import platform_session

    with platform_session() as db:
        try:
            create_superadmin(db, email, password, name)
        except DomainError as exc:
            _fail(exc.message)
        db.commit()
    typer.echo(f"superadmin {email} created")
