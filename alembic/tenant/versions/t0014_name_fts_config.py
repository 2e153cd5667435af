"""Name full text through a text search configuration that unaccents, not through public.crm_norm().

ix_customers_name_fts indexed to_tsvector('simple', public.crm_norm(name)). crm_norm is an SQL function
over unaccent(), which is only STABLE, so PostgreSQL cannot inline it into the (IMMUTABLE) index
expression and runs the SQL-function machinery once per row: ~1.9 us a name, half of the 1.6-2.1 s that
the index took to build for 413k imported customers, and a cost on every name written.

public.crm_simple is the 'simple' configuration with the unaccent dictionary as a filter in front of it:
the parser cuts the name into words, each word loses its accents, then 'simple' lower-cases it. For
names this gives the same lexemes as before (0 differences on the 413k names of the import benchmark;
they differ only where unaccent turns a character into several, e.g. '½' -> '1/2', before parsing), and
the index builds in 0.9-1.5 s. Queries (app/search/postgres.py) and the typo dictionary (search_words)
use the same configuration.

Revision ID: t0014
Revises: t0013
"""

from collections.abc import Sequence

from alembic import op

revision: str = "t0014"
down_revision: str | None = "t0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Shared by every tenant schema, like public.crm_norm (t0003); the DO block keeps concurrent tenant
# migrations from racing on it. The token types that can carry letters get the unaccent filter.
_CONFIG = """
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace
    WHERE n.nspname = 'public' AND c.cfgname = 'crm_simple'
  ) THEN
    CREATE TEXT SEARCH CONFIGURATION public.crm_simple (COPY = pg_catalog.simple);
    ALTER TEXT SEARCH CONFIGURATION public.crm_simple
      ALTER MAPPING FOR asciiword, word, numword, asciihword, hword, numhword, hword_asciipart,
                        hword_part, hword_numpart, email, url, host, url_path, file
      WITH public.unaccent, pg_catalog.simple;
  END IF;
END $$;
"""


def upgrade() -> None:
    op.execute(_CONFIG)
    op.execute("DROP INDEX IF EXISTS ix_customers_name_fts")
    op.execute(
        "CREATE INDEX ix_customers_name_fts ON customers "
        "USING gin (to_tsvector('public.crm_simple'::regconfig, name))"
    )


def downgrade() -> None:
    # public.crm_simple stays: other tenant schemas still use it.
    op.execute("DROP INDEX IF EXISTS ix_customers_name_fts")
    op.execute(
        "CREATE INDEX ix_customers_name_fts ON customers "
        "USING gin (to_tsvector('simple'::regconfig, public.crm_norm(name)))"
    )
