"""Cheaper indexes on the import write path: phone/e-mail fragments by suffix, owner lists partial.

- `ix_contacts_value_trgm` (GIN trigram on contacts.value, t0003) was the most expensive index to keep:
  6 s of the ~11 s index rebuild after a 500k-row import, and a GIN insert per contact otherwise. The
  search now matches contact fragments as a suffix ("4321", "98765-4321", "@empresa.com.br") through a
  btree on reverse(value), and as a prefix ("11 98765", "joao.silva@") through the unique (kind, value)
  btree; a fragment from the middle of a number no longer matches (docs/architecture.md).
- The four (owner_id, <sort column>, id) indexes serve only the lists of agents and managers, whose
  visibility predicate (`owner_id IN (...)`) implies `owner_id IS NOT NULL`: partial indexes keep
  unassigned customers (what most imports create) out of them.
- `ix_customers_source` becomes (source_key, source) WHERE source_key IS NOT NULL: all rows of an import
  share one source, so the old (source, source_key) order compared two full strings at every step of
  its build (2.4 s at 500k, the slowest btree of the rebuild).

Revision ID: t0007
Revises: t0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "t0007"
down_revision: str | None = "t0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OWNER_INDEXES = {
    "ix_customers_owner_updated": "updated_at",
    "ix_customers_owner_name": "name",
    "ix_customers_owner_created": "created_at",
    "ix_customers_owner_score": "score",
}


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_contacts_value_trgm")
    op.execute("CREATE INDEX ix_contacts_value_rev ON contacts (reverse(value) text_pattern_ops)")
    for name, column in _OWNER_INDEXES.items():
        op.drop_index(name, table_name="customers")
        op.create_index(
            name, "customers", ["owner_id", column, "id"], postgresql_where="owner_id IS NOT NULL"
        )
    op.drop_index("ix_customers_source", table_name="customers")
    op.create_index(
        "ix_customers_source",
        "customers",
        ["source_key", "source"],
        postgresql_where="source_key IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_index("ix_customers_source", table_name="customers")
    op.create_index("ix_customers_source", "customers", ["source", "source_key"])
    for name, column in _OWNER_INDEXES.items():
        op.drop_index(name, table_name="customers")
        op.create_index(name, "customers", ["owner_id", column, "id"])
    op.execute("DROP INDEX IF EXISTS ix_contacts_value_rev")
    op.execute("CREATE INDEX ix_contacts_value_trgm ON contacts USING gin (value gin_trgm_ops)")
