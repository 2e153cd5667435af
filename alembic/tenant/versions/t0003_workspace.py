"""workspace: accent-insensitive search indexes, keyset list indexes, bulk jobs.

Revision ID: t0003
Revises: t0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "t0003"
down_revision: str | None = "t0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# unaccent() is only STABLE (its dictionary can change), so it cannot appear in an index
# expression. This wrapper pins the dictionary and is declared IMMUTABLE, the usual recipe.
# It lives in public beside the extensions and is shared by every tenant schema; the DO block
# keeps concurrent tenant migrations from racing on CREATE OR REPLACE.
_NORM_FN = """
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.proname = 'crm_norm'
  ) THEN
    CREATE FUNCTION public.crm_norm(text) RETURNS text
      LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
      AS $f$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $f$;
  END IF;
END $$;
"""

# Statement-level trigger (one set-based insert per INSERT/UPDATE statement, also for COPY and the
# import upsert) that records the words of new or renamed customers. The schema comes from the
# trigger's table, so one function serves every tenant.
_WORDS_FN = """
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.proname = 'crm_collect_name_words'
  ) THEN
    CREATE FUNCTION public.crm_collect_name_words() RETURNS trigger LANGUAGE plpgsql AS $f$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        EXECUTE format(
          'INSERT INTO %I.search_words (word) SELECT DISTINCT w FROM new_rows n, '
          'unnest(tsvector_to_array(to_tsvector(''simple''::regconfig, public.crm_norm(n.name)))) w '
          'ON CONFLICT DO NOTHING', TG_TABLE_SCHEMA);
      ELSE
        EXECUTE format(
          'INSERT INTO %I.search_words (word) SELECT DISTINCT w FROM new_rows n JOIN old_rows o ON o.id = n.id, '
          'unnest(tsvector_to_array(to_tsvector(''simple''::regconfig, public.crm_norm(n.name)))) w '
          'WHERE n.name IS DISTINCT FROM o.name ON CONFLICT DO NOTHING', TG_TABLE_SCHEMA);
      END IF;
      RETURN NULL;
    END $f$;
  END IF;
END $$;
"""


def upgrade() -> None:
    op.execute(_NORM_FN)
    # Search: word full text on the lower-cased, unaccented name, so "joao" finds "João"; typos are
    # corrected against search_words below. A trigram index on 500k names is not kept: every
    # customer update (bulk actions rewrite 100k rows) would pay ~25 GIN entries per row for it.
    op.execute(
        "CREATE INDEX ix_customers_name_fts ON customers "
        "USING gin (to_tsvector('simple'::regconfig, public.crm_norm(name)))"
    )
    op.execute("DROP INDEX IF EXISTS ix_customers_name_trgm")
    # Dictionary of the words in customer names, for one-typo correction: matching a typed word
    # against a few thousand distinct words is ~1 ms, against 500k names ~130 ms.
    op.create_table(
        "search_words",
        sa.Column("word", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("word"),
    )
    op.execute("CREATE INDEX ix_search_words_trgm ON search_words USING gin (word gin_trgm_ops)")
    op.execute(_WORDS_FN)
    op.execute(
        "CREATE TRIGGER customers_words_insert AFTER INSERT ON customers REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION public.crm_collect_name_words()"
    )
    op.execute(
        "CREATE TRIGGER customers_words_update AFTER UPDATE ON customers "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION public.crm_collect_name_words()"
    )
    op.execute(
        "INSERT INTO search_words (word) SELECT DISTINCT unnest(tsvector_to_array("
        "to_tsvector('simple'::regconfig, public.crm_norm(name)))) FROM customers ON CONFLICT DO NOTHING"
    )
    # Owners and wallets (and owners and statuses) are strongly correlated: a wallet is a portfolio.
    # Without these statistics the planner multiplies selectivities, expects thousands of rows for
    # "agent X in wallet Y" and walks a whole sort index to find none.
    op.execute("CREATE STATISTICS st_customers_owner_wallet (dependencies, mcv) ON owner_id, wallet_id FROM customers")
    op.execute("CREATE STATISTICS st_customers_owner_status (dependencies, mcv) ON owner_id, status FROM customers")
    # Phone digits in any format and e-mail fragments match inside the normalised value.
    op.execute("CREATE INDEX ix_contacts_value_trgm ON contacts USING gin (value gin_trgm_ops)")
    # Keyset pagination for every sortable column of the customers list.
    op.create_index("ix_customers_name_id", "customers", ["name", "id"])
    op.create_index("ix_customers_score_id", "customers", ["score", "id"])
    # An agent sees ~1/20 of the base scattered over every heap page: without these, "my customers"
    # sorted by a column reads all 25k of them to sort. They also serve owner_id equality, so
    # they replace the plain (owner_id, id) index.
    op.create_index("ix_customers_owner_updated", "customers", ["owner_id", "updated_at", "id"])
    op.create_index("ix_customers_owner_name", "customers", ["owner_id", "name", "id"])
    op.create_index("ix_customers_owner_created", "customers", ["owner_id", "created_at", "id"])
    op.create_index("ix_customers_owner_score", "customers", ["owner_id", "score", "id"])
    op.drop_index("ix_customers_owner", table_name="customers")
    op.create_index(
        "ix_interactions_actor_at", "interactions", ["actor_id", "at"],
        postgresql_where=sa.text("actor_id IS NOT NULL"),
    )
    op.create_table(
        "bulk_jobs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("selection", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("done", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_bulk_jobs_created_by", "bulk_jobs", ["created_by", "id"])


def downgrade() -> None:
    op.drop_index("ix_bulk_jobs_created_by", table_name="bulk_jobs")
    op.drop_table("bulk_jobs")
    op.drop_index("ix_interactions_actor_at", table_name="interactions")
    op.execute("DROP STATISTICS IF EXISTS st_customers_owner_status")
    op.execute("DROP STATISTICS IF EXISTS st_customers_owner_wallet")
    op.execute("DROP TRIGGER IF EXISTS customers_words_update ON customers")
    op.execute("DROP TRIGGER IF EXISTS customers_words_insert ON customers")
    op.drop_table("search_words")
    op.execute("CREATE INDEX ix_customers_name_trgm ON customers USING gin (name gin_trgm_ops)")
    op.create_index("ix_customers_owner", "customers", ["owner_id", "id"])
    op.drop_index("ix_customers_owner_score", table_name="customers")
    op.drop_index("ix_customers_owner_created", table_name="customers")
    op.drop_index("ix_customers_owner_name", table_name="customers")
    op.drop_index("ix_customers_owner_updated", table_name="customers")
    op.drop_index("ix_customers_score_id", table_name="customers")
    op.drop_index("ix_customers_name_id", table_name="customers")
    op.execute("DROP INDEX IF EXISTS ix_contacts_value_trgm")
    op.execute("DROP INDEX IF EXISTS ix_customers_name_fts")
    # public.crm_norm and public.crm_collect_name_words stay: other tenant schemas still use them.
