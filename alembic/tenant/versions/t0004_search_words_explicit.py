"""search_words kept by its writers: drop the statement-level name-words triggers on customers.

The triggers of t0003 ran one DISTINCT/upsert per INSERT/UPDATE statement on customers; on the import
path that cost a large share of every batch and, because two writer connections upserted the same
words while one waited for its commit turn, it forced the import to a single writer. The writers that
create or rename customers now record the words themselves, set-based, with
`app.search.postgres.name_words_sql` (import: once per batch, inside its ordered commit; customer
create/update services and the demo seed: once per call).

Revision ID: t0004
Revises: t0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "t0004"
down_revision: str | None = "t0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS customers_words_insert ON customers")
    op.execute("DROP TRIGGER IF EXISTS customers_words_update ON customers")
    # public.crm_collect_name_words stays: tenants not yet migrated (and downgrades) still use it.


def downgrade() -> None:
    # The function is created by t0003 in public and is never dropped, so it exists here.
    op.execute(
        "CREATE TRIGGER customers_words_insert AFTER INSERT ON customers REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION public.crm_collect_name_words()"
    )
    op.execute(
        "CREATE TRIGGER customers_words_update AFTER UPDATE ON customers "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION public.crm_collect_name_words()"
    )
    # Names written while the triggers were absent were recorded by their writers; nothing to backfill.
