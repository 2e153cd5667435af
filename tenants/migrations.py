"""Run the two Alembic trees: platform once, tenant once per tenant schema."""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlmodel import col, select

from models.platform import Tenant
from tenants.database import engine, platform_session
from tenants.naming import is_tenant_schema

log = logging.getLogger(__name__)
INI = Path(__file__).resolve().parent.parent / "alembic" / "alembic.ini"


def _config(section: str, connection: Connection, schema: str | None = None) -> Config:
    cfg = Config(str(INI), ini_section=section)
    cfg.attributes["connection"] = connection
    if schema:
        cfg.attributes["schema"] = schema
    return cfg


def ensure_extensions(connection: Connection) -> None:
    # Extensions are database-wide and live in public; tenant trees rely on them.
    for ext in ("pg_trgm", "unaccent"):
        connection.execute(text(f"CREATE EXTENSION IF NOT EXISTS {ext} WITH SCHEMA public"))


def upgrade_platform(revision: str = "head") -> None:
    with engine().begin() as conn:
        ensure_extensions(conn)
        command.upgrade(_config("platform", conn), revision)


def upgrade_tenant_on(conn: Connection, schema: str, revision: str = "head") -> None:
    """Upgrade one tenant schema on an open connection (the caller owns the transaction)."""
    if not is_tenant_schema(schema):
        raise ValueError(f"not a tenant schema: {schema!r}")
    command.upgrade(_config("tenant", conn, schema), revision)
    conn.execute(text("SET search_path TO public"))


def upgrade_tenant(schema: str, revision: str = "head") -> None:
    with engine().begin() as conn:
        upgrade_tenant_on(conn, schema, revision)


@dataclass
class MigrateReport:
    upgraded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def migrate_all() -> MigrateReport:
    """Platform first, then every provisioned tenant; a failing tenant is reported, not fatal."""
    upgrade_platform()
    report = MigrateReport()
    with platform_session() as db:
        schemas = [
            s
            for s in db.exec(select(Tenant.schema_name).where(col(Tenant.schema_name).is_not(None))).all()
            if s
        ]
    for schema in schemas:
        try:
            upgrade_tenant(schema)
            report.upgraded.append(schema)
        except Exception as exc:  # keep going: one broken tenant must not block the others
            log.exception("tenant migration failed for %s", schema)
            report.failed[schema] = str(exc).splitlines()[0][:300]
    return report
