"""customers.name_key: the list's name sort is case- and accent-insensitive (issue 14, item 4).

Names sorted by `name` itself came out in byte order: "ANA" before "Ana", lower-case names after "Z",
"Pereira Simões" before "Peçanha". `name_key` is a stored generated column holding the folded name
(public.crm_sort_key: accents dropped, lower-case) in the C collation, so sorts and keyset pages keep
comparing with memcmp and abbreviated keys (the speed t0012 bought), and every writer (services, the
import's COPY and upsert, the demo seed, raw SQL) keeps it right without knowing it exists.

Why not an ICU collation on `name`: a linguistic comparison costs a strcoll-like call per comparison on
every sort and index build, and depends on the ICU version of the server (an upgrade can reorder the
index). Why not public.crm_norm(): it calls unaccent(), an SQL function PostgreSQL cannot inline, and
its output depends on the unaccent dictionary file.

The name list indexes move to the key: ix_customers_name_id (name_key, id) and the agents'
ix_customers_owner_name (owner_id, name_key, id). Adding a stored generated column rewrites the table
(and rebuilds its other indexes) under an ACCESS EXCLUSIVE lock: the old name indexes are dropped first
so the rewrite does not rebuild them for nothing. Measured time: docs/benchmarks.md.

Revision ID: t0016
Revises: t0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "t0016"
down_revision: str | None = "t0015_import_heartbeat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Accented letters of Portuguese and the other Latin-1 languages seen in Brazilian names, upper- and
# lower-case, each to its plain lower-case letter (translate() maps one character to one character).
_ACCENTED = "ÀÁÂÃÄÅàáâãäåÇçÈÉÊËèéêëÌÍÎÏìíîïÑñÒÓÔÕÖØòóôõöøÙÚÛÜùúûüÝýÿŸŠšŽž"
_PLAIN = "aaaaaaaaaaaacceeeeeeeeiiiiiiiinnoooooooooooouuuuuuuuyyyysszz"
assert len(_ACCENTED) == len(_PLAIN)

# IMMUTABLE for real, which a generated column requires: translate() and lower() under the C collation
# depend on no dictionary, locale or library version (lower() in a libc or ICU locale may change with
# an OS upgrade and silently reorder the index). Under "C" lower() folds ASCII only, hence the accented
# capitals are mapped by translate() first. A plain SQL body, so PostgreSQL inlines it.
# Shared by every tenant schema like public.crm_norm (t0003); the DO block keeps concurrent tenant
# migrations from racing on it.
_SORT_KEY_FN = f"""
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.proname = 'crm_sort_key'
  ) THEN
    CREATE FUNCTION public.crm_sort_key(text) RETURNS text
      LANGUAGE sql IMMUTABLE PARALLEL SAFE
      AS $f$ SELECT pg_catalog.lower(pg_catalog.translate(pg_catalog.btrim($1), '{_ACCENTED}', '{_PLAIN}') COLLATE "C") $f$;
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


def downgrade() -> None:
    # public.crm_sort_key stays: other tenant schemas still use it.
    op.execute("DROP INDEX IF EXISTS ix_customers_name_id")
    op.execute("DROP INDEX IF EXISTS ix_customers_owner_name")
    op.execute("ALTER TABLE customers DROP COLUMN name_key")
    op.execute("CREATE INDEX ix_customers_name_id ON customers (name, id)")
    op.execute(
        "CREATE INDEX ix_customers_owner_name ON customers (owner_id, name, id) WHERE owner_id IS NOT NULL"
    )
