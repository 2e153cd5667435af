"""The `crm` command line: run, migrate, tenants, superadmin, import, seed-demo."""

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.cli import demo, imports, search
from app.settings import ROOT, get_settings

cli = typer.Typer(help="CRM multi-tenant para operadoras e revendas.", no_args_is_help=True)
tenants_cli = typer.Typer(help="Organizações (tenants).", no_args_is_help=True)
superadmin_cli = typer.Typer(help="Superadministradores da plataforma.", no_args_is_help=True)
cli.add_typer(tenants_cli, name="tenants")
cli.add_typer(superadmin_cli, name="superadmin")

log = logging.getLogger("crm")


def _fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@cli.command()
def migrate() -> None:
    """Upgrade the platform schema, then every tenant schema (continues past failures)."""
    from tenants.migrations import migrate_all

    report = migrate_all()
    typer.echo(f"platform: ok; tenants upgraded: {len(report.upgraded)}")
    for schema, error in report.failed.items():
        typer.secho(f"tenant {schema}: FAILED: {error}", fg=typer.colors.RED, err=True)
    if not report.ok:
        raise typer.Exit(1)


@cli.command()
def run(
    port: Annotated[int, typer.Option(help="Porta HTTP (frontend, API e websocket).")] = 0,
    dev: Annotated[bool, typer.Option(help="Modo desenvolvimento (hot reload).")] = False,
) -> None:
    """Migrate, then serve the app (Reflex frontend + backend + REST API on one port)."""
    from tenants.database import database_url
    from tenants.migrations import migrate_all

    settings = get_settings()
    url = database_url()  # starts the embedded PostgreSQL when DATABASE_URL is unset
    report = migrate_all()
    if not report.ok:
        typer.secho(f"tenants not migrated: {', '.join(report.failed)}", fg=typer.colors.YELLOW, err=True)
    env = {**os.environ, "DATABASE_URL": url, **frontend_env()}
    port = port or settings.app_port
    cmd = [
        sys.executable,
        "-m",
        "app.serve",  # `reflex run`, serving prod with uvicorn without a `server` header
        "run",
        "--env",
        "dev" if dev else "prod",
        "--backend-port",
        str(port),
    ]
    if dev:
        cmd += ["--frontend-port", str(port + 1)]
    typer.echo(f"CRM em http://localhost:{port}")
    raise typer.Exit(_serve(cmd, env))


def frontend_env() -> dict[str, str]:
    """Point Reflex at the bun from the npm registry (its own bun download host is unreachable)."""
    env = {"REFLEX_TELEMETRY_ENABLED": "false", "REFLEX_CHECK_LATEST_VERSION": "false"}
    bun_dir = ROOT / ".tools/node_modules/@oven/bun-linux-x64/bin"
    if (bun_dir / "bun").exists():
        env["REFLEX_USE_SYSTEM_BUN"] = "1"
        env["PATH"] = f"{bun_dir}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    return env


def _serve(cmd: list[str], env: dict[str, str]) -> int:
    """Run the Reflex server in its own process group and stop the whole group on SIGINT/SIGTERM.

    Returning normally (instead of dying on the signal) lets atexit stop the embedded PostgreSQL.
    """
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)

    def _stop(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        return proc.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


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


cli.command("import")(imports.import_command)
cli.command("seed-demo")(demo.seed_demo_command)
cli.command("search-reindex")(search.reindex_command)


def main() -> None:
    logging.basicConfig(level=get_settings().log_level, format="%(levelname)s %(name)s: %(message)s")
    cli()
