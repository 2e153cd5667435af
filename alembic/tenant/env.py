"""Tenant tree: run once per tenant schema, which is given by tenants.migrations.

The connection's search_path is set to the tenant schema (then public, where pg_trgm and
unaccent live), so revisions create tables without naming a schema.
"""

from alembic import context
from sqlalchemy import text
from sqlmodel import SQLModel

import models.tenant  # noqa: F401  (register tables)
from tenants.naming import is_tenant_schema

config = context.config
connection = config.attributes["connection"]
schema = config.attributes["schema"]
if not is_tenant_schema(schema):
    raise RuntimeError(f"refusing to migrate non-tenant schema {schema!r}")


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    if type_ == "table":
        return obj.schema is None and name != "alembic_version"
    return True


connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
connection.execute(text(f'SET search_path TO "{schema}", public'))
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    version_table_schema=schema,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
