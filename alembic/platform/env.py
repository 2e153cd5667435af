"""Platform tree: the shared `platform` schema. Run through tenants.migrations.upgrade_platform."""

from alembic import context
from sqlalchemy import text
from sqlmodel import SQLModel

import models.platform  # noqa: F401  (register tables)

config = context.config
connection = config.attributes["connection"]


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    if type_ == "table":
        return obj.schema == "platform"
    return True


connection.execute(text("CREATE SCHEMA IF NOT EXISTS platform"))
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    version_table_schema="platform",
    include_schemas=True,
    include_object=include_object,
    include_name=lambda name, type_, parent: type_ != "schema" or name == "platform",
)
with context.begin_transaction():
    context.run_migrations()
