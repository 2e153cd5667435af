"""The `crm` command line: run, migrate, tenants, superadmin, import, seed-demo, search-reindex.

Subcommands live in their own modules (app/cli/*.py), registered here by plain imports. Commands
import the database layer inside their bodies: `crm --help` should not pay for it (start-up cost).
"""

import contextlib
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.cli import demo, imports, search
from app.cli import tenants as tenant_commands
from app.settings import ROOT, get_settings

cli = typer.Typer(help="CRM multi-tenant para operadoras e revendas.", no_args_is_help=True)
cli.add_typer(tenant_commands.tenants_cli, name="tenants")
cli.add_typer(tenant_commands.superadmin_cli, name="superadmin")

log = logging.getLogger("crm")


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
    env = {
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_CHECK_LATEST_VERSION": "false",
        # Without a registry Reflex times the npm registry against a mirror in China and logs every
        # failed attempt to reach it; npm's own default (or the one the environment names) is the answer.
        "NPM_CONFIG_REGISTRY": os.environ.get("NPM_CONFIG_REGISTRY") or "https://registry.npmjs.org",
    }
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


cli.command("import")(imports.import_command)
cli.command("seed-demo")(demo.seed_demo_command)
cli.command("search-reindex")(search.reindex_command)


def main() -> None:
    logging.basicConfig(level=get_settings().log_level, format="%(levelname)s %(name)s: %(message)s")
    # Alembic announces each of its autogenerate plugins at INFO on every start; the migrations it runs
    # are still logged.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    cli()
