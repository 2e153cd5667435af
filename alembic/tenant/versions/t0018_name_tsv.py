"""customers.name_tsv: the name's full-text vector, stored (issue 15: the list's search box).

The list filters a page by a common name word by walking its sort index and testing each row it meets.
With the vector only in an expression index (t0014), every row the walk met was parsed again
(to_tsvector through unaccent): about 3 µs a row, so a word found once every 70 rows cost 11 ms a page,
and a word whose matches cluster at the far end of the sort order (company words under a name sort)
cost over a second. Stored, the test is a comparison of an already parsed vector. The full-text index
moves onto the column (same name, same contents), so every reader of the index is unchanged.

Adding a stored generated column rewrites the table (and rebuilds its other indexes) under an ACCESS
EXCLUSIVE lock; the old expression index is dropped first so the rewrite does not rebuild it for
nothing. Measured time: docs/benchmarks.md.

Revision ID: t0018_name_tsv
Revises: t0017_name_sort_key
"""

from collections.abc import Sequence

from alembic import op

revision: str = "t0018_name_tsv"
down_revision: str | None = "t0017_name_sort_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The configuration of t0014 (unaccent in front of 'simple'): the same tokens as before.
_VECTOR = "to_tsvector('public.crm_simple'::regconfig, (name)::text)"


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_customers_name_fts")
    op.execute(f"ALTER TABLE customers ADD COLUMN name_tsv tsvector GENERATED ALWAYS AS ({_VECTOR}) STORED")
    op.execute("CREATE INDEX ix_customers_name_fts ON customers USING gin (name_tsv)")
    # Statistics of the new column (its most common words are what the list reads to call a word
    # common); sampled, well under a second.
    op.execute("ANALYZE customers")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_customers_name_fts")
    op.execute("ALTER TABLE customers DROP COLUMN name_tsv")
    op.execute(f"CREATE INDEX ix_customers_name_fts ON customers USING gin ({_VECTOR})")
