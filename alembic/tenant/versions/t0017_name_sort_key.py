"""customers.name_key: the list's name sort is case- and accent-insensitive (issue 14, item 4).

Names sorted by `name` itself came out in byte order: "ANA" before "Ana", lower-case names after "Z",
"Pereira Simões" before "Peçanha". `name_key` is a stored generated column holding the folded name
(public.crm_sort_key: accents dropped, lower-case) in the C collation, so sorts and keyset pages keep
comparing with memcmp and abbreviated keys (the speed t0012 bought), and every writer (services, the
import's COPY and upsert, the demo seed, raw SQL) keeps it right without knowing it exists.

Why not an ICU collation on `name`: a linguistic comparison costs a strcoll-like call per comparison on
every sort and index build, and depends on the ICU version of the server (an upgrade can reorder the
index). public.crm_norm() is nearly the key, but its lower() follows the column's collation (a locale
on some databases), and the key must not depend on a locale.

The name list indexes move to the key: ix_customers_name_id (name_key, id) and the agents'
ix_customers_owner_name (owner_id, name_key, id). Adding a stored generated column rewrites the table
(and rebuilds its other indexes) under an ACCESS EXCLUSIVE lock: the old name indexes are dropped first
so the rewrite does not rebuild them for nothing. Measured time: docs/benchmarks.md.

Revision ID: t0017_name_sort_key
Revises: t0016_kanban
"""

from collections.abc import Sequence

from alembic import op

revision: str = "t0017_name_sort_key"
down_revision: str | None = "t0016_kanban"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# IMMUTABLE, as a generated column requires: the explicit dictionary pins unaccent() (only STABLE because
# its rules file could change; the name full-text index, t0014, relies on the same file), and lower()
# runs under the C collation, which depends on no locale or library version (lower() in a libc or ICU
# locale may change with an OS upgrade and would silently disagree with the stored keys). unaccent has
# already made every accented capital a plain ASCII one, so ASCII lower-casing is all that is left.
# translate() with the accented letters spelt out gave the same keys for pt-BR names but cost 2-3x as much
# per name written (docs/benchmarks.md). Shared by every tenant schema like public.crm_norm (t0003); the
# DO block keeps concurrent tenant migrations from racing on it.
_SORT_KEY_FN = """
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.proname = 'crm_sort_key'
  ) THEN
    CREATE FUNCTION public.crm_sort_key(text) RETURNS text
      LANGUAGE sql IMMUTABLE PARALLEL SAFE
      AS $f$
        SELECT pg_catalog.lower(
          public.unaccent('public.unaccent'::regdictionary, pg_catalog.btrim($1)) COLLATE "C")
      $f$;
  END IF;
END $$;
"""


def upgrade() -> None:
    op.execute(_SORT_KEY_FN)
    op.execute("DROP INDEX IF EXISTS ix_customers_name_id")
    op.execute("DROP INDEX IF EXISTS ix_customers_owner_name")
    op.execute(
        'ALTER TABLE customers ADD COLUMN name_key text COLLATE "C" '
        "GENERATED ALWAYS AS (public.crm_sort_key(name)) STORED"
    )
    op.execute("CREATE INDEX ix_customers_name_id ON customers (name_key, id)")
    op.execute(
        "CREATE INDEX ix_customers_owner_name ON customers (owner_id, name_key, id) WHERE owner_id IS NOT NULL"
    )
    # The new column has no statistics until autovacuum gets to it, and the planner would guess how a
    # name-sorted page meets its filters. The whole table: a one-column ANALYZE cannot refresh the
    # extended statistics that span other columns (and warns about them). Sampled, so well under a second.
    op.execute("ANALYZE customers")


def downgrade() -> None:
    # public.crm_sort_key stays: other tenant schemas still use it.
    op.execute("DROP INDEX IF EXISTS ix_customers_name_id")
    op.execute("DROP INDEX IF EXISTS ix_customers_owner_name")
    op.execute("ALTER TABLE customers DROP COLUMN name_key")
    op.execute("CREATE INDEX ix_customers_name_id ON customers (name, id)")
    op.execute(
        "CREATE INDEX ix_customers_owner_name ON customers (owner_id, name, id) WHERE owner_id IS NOT NULL"
    )
