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


def upgrade() -> None:
    op.execute(_NORM_FN)
    # Search: trigram (substring + one-typo similarity) and word-prefix full text on the
    # lower-cased, unaccented name, so "joao" finds "João".
    op.execute(
        "CREATE INDEX ix_customers_name_norm_trgm ON customers "
        "USING gin (public.crm_norm(name) gin_trgm_ops)"
    )
    op.execute(
        "CREATE INDEX ix_customers_name_fts ON customers "
        "USING gin (to_tsvector('simple'::regconfig, public.crm_norm(name)))"
    )
    # Partial document digits typed in the search box ("123.456" -> prefix match).
    op.execute("CREATE INDEX ix_customers_document_prefix ON customers (document varchar_pattern_ops)")
    # Phone digits in any format and e-mail fragments match inside the normalised value.
    op.execute("CREATE INDEX ix_contacts_value_trgm ON contacts USING gin (value gin_trgm_ops)")
    # Keyset pagination for every sortable column of the customers list.
    op.create_index("ix_customers_name_id", "customers", ["name", "id"])
    op.create_index("ix_customers_score_id", "customers", ["score", "id"])
    op.create_index("ix_customers_plan_id", "customers", ["plan", "id"])
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
    op.drop_index("ix_customers_plan_id", table_name="customers")
    op.drop_index("ix_customers_score_id", table_name="customers")
    op.drop_index("ix_customers_name_id", table_name="customers")
    op.execute("DROP INDEX IF EXISTS ix_contacts_value_trgm")
    op.execute("DROP INDEX IF EXISTS ix_customers_document_prefix")
    op.execute("DROP INDEX IF EXISTS ix_customers_name_fts")
    op.execute("DROP INDEX IF EXISTS ix_customers_name_norm_trgm")
    # public.crm_norm stays: other tenant schemas still use it.
