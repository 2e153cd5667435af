"""customer_words: frequent leading name words' customers in name order (issue 15: name-sorted list search).

A name-sorted page of the list filtered by a word that clusters in the name order (first names such as
"marcos" or "maria", company words such as "telecom") had to sort all of the word's 6-13k matches or
read most of the name index. Such words cluster because they lead the names: the customers whose folded
name starts with the word are one range of the name index, `name_key >= word AND name_key < word || '!'`
(C collation: the word alone, or followed by a space or another character below '!'). The word's other
customers (a middle name, a second company word) are the ones that range misses, and `customer_words
(word, name_key, customer_id)` holds exactly those, in name order. A name-sorted page of the word is then
two range reads merged, however many customers have it and wherever they fall in the name order.

Only flagged words (`search_words.ordered`) have their rows: words ANALYZE's statistics count on many
customers (rare words' matches are few and cheap to sort) that lead most of their names (a surname, spread
over the name order, is paged from a sampled range already, and would cost a row per customer). Words are
flagged by public.crm_order_words (flag, then backfill, with writers of customers held off so none is
missed), run here for existing tenants, and by the import and the demo seed after they ANALYZE.

The rows are kept by triggers on customers, so every writer of names keeps them exact: statement-level for
INSERT and DELETE (transition tables, one set-based statement each, COPY and the import's upsert
included), row-level for renames only (`UPDATE OF name ... WHEN (OLD.name IS DISTINCT FROM NEW.name)`,
so the updates that keep names, bulk actions among them, pay nothing). Unlike the search_words triggers t0004 dropped, these rows belong to one customer each:
concurrent import batches never wait on each other's rows.

Revision ID: t0022_customer_words
Revises: t0021_campaigns
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "t0022_customer_words"
down_revision: str | None = "t0021_campaigns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Estimated customers (ANALYZE) from which a word gets its rows at migration time; the app's constant is
# app.search.word_order.ORDERED_WORD_MIN_CUSTOMERS (kept equal; a migration does not import the app).
_MIN_CUSTOMERS = 2000

# Shared by every tenant schema (the schema comes from the trigger's table), created once, as t0003 did.
_FUNCTIONS = r"""
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.proname = 'crm_customer_words_sync'
  ) THEN
    CREATE FUNCTION public.crm_customer_words_sync() RETURNS trigger LANGUAGE plpgsql AS $f$
    DECLARE
      any_ordered boolean;
    BEGIN
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.search_words WHERE ordered)', TG_TABLE_SCHEMA)
        INTO any_ordered;
      IF NOT any_ordered THEN
        RETURN NULL;  -- no frequent word yet (a new tenant, an import into an empty one)
      END IF;
      IF TG_OP = 'DELETE' THEN
        EXECUTE format(
          'DELETE FROM %I.customer_words w USING old_rows o, unnest(tsvector_to_array(o.name_tsv)) x(word) '
          'WHERE w.word = x.word AND w.name_key = o.name_key AND w.customer_id = o.id', TG_TABLE_SCHEMA);
      ELSE
        EXECUTE format(
          'INSERT INTO %I.customer_words (word, name_key, customer_id) '
          'SELECT s.word, n.name_key, n.id FROM new_rows n, unnest(tsvector_to_array(n.name_tsv)) x(word) '
          'JOIN %I.search_words s ON s.word = x.word WHERE s.ordered '
          'AND NOT (n.name_key >= s.word AND n.name_key < s.word || ''!'') ON CONFLICT DO NOTHING',
          TG_TABLE_SCHEMA, TG_TABLE_SCHEMA);
      END IF;
      RETURN NULL;
    END $f$;
  END IF;
  IF NOT EXISTS (
    SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.proname = 'crm_customer_words_rename'
  ) THEN
    -- Row-level, fired only for rows whose name changed (the trigger's WHEN): a statement-level UPDATE
    -- trigger joined the old and new rows of every update (bulk status changes included) to find them.
    CREATE FUNCTION public.crm_customer_words_rename() RETURNS trigger LANGUAGE plpgsql AS $f$
    BEGIN
      EXECUTE format(
        'DELETE FROM %I.customer_words WHERE word = ANY($1) AND name_key = $2 AND customer_id = $3',
        TG_TABLE_SCHEMA) USING tsvector_to_array(OLD.name_tsv), OLD.name_key, OLD.id;
      EXECUTE format(
        'INSERT INTO %I.customer_words (word, name_key, customer_id) SELECT s.word, $2, $3 '
        'FROM %I.search_words s WHERE s.word = ANY($1) AND s.ordered '
        'AND NOT ($2 COLLATE "C" >= s.word AND $2 COLLATE "C" < s.word || ''!'') ON CONFLICT DO NOTHING',
        TG_TABLE_SCHEMA, TG_TABLE_SCHEMA) USING tsvector_to_array(NEW.name_tsv), NEW.name_key, NEW.id;
      RETURN NULL;
    END $f$;
  END IF;
  IF NOT EXISTS (
    SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.proname = 'crm_order_words'
  ) THEN
    -- Flags the words ANALYZE estimates on at least min_customers customers that lead most of their
    -- names (in a sample of about 300 pages: a leading word's customers are one range of the name
    -- order, where it clusters) and writes their rows; returns how many words it flagged. Writers of
    -- customers wait meanwhile (SHARE lock): a customer inserted while a word is being flagged would be
    -- missed both by its trigger (flag not yet visible) and by the backfill (row not yet visible).
    CREATE FUNCTION public.crm_order_words(sch text, min_customers float8) RETURNS integer
    LANGUAGE plpgsql AS $f$
    DECLARE
      flagged text[];
      percent float8;
    BEGIN
      EXECUTE format('LOCK TABLE %I.customers IN SHARE MODE', sch);
      SELECT least(100.0, 100.0 * 300 / greatest(relpages, 1)) INTO percent FROM pg_class
        WHERE oid = to_regclass(format('%I.customers', sch));
      EXECUTE format(
        'WITH common AS ('
        '  SELECT x.e AS word FROM pg_stats st JOIN pg_class c ON c.oid = to_regclass(%L), '
        '  unnest(st.most_common_elems::text::text[], st.most_common_elem_freqs) AS x(e, f) '
        '  WHERE st.schemaname = %L AND st.tablename = ''customers'' AND st.attname = ''name_tsv'' '
        '  AND x.e IS NOT NULL AND x.f * c.reltuples >= $1'
        '), leaders AS ('
        '  SELECT x.word FROM %I.customers c TABLESAMPLE SYSTEM ($2), '
        '  unnest(tsvector_to_array(c.name_tsv)) x(word) WHERE x.word IN (SELECT word FROM common) '
        '  GROUP BY x.word '
        '  HAVING 2 * count(*) FILTER (WHERE c.name_key >= x.word AND c.name_key < x.word || ''!'') '
        '  >= count(*)'
        '), flag AS ('
        '  UPDATE %I.search_words w SET ordered = true FROM leaders '
        '  WHERE w.word = leaders.word AND NOT w.ordered RETURNING w.word'
        ') SELECT array_agg(word) FROM flag',
        format('%I.customers', sch), sch, sch, sch)
        INTO flagged USING min_customers, percent;
      IF flagged IS NULL THEN
        RETURN 0;
      END IF;
      -- One pass over the customers, their words hash-joined to the flagged ones (a `= ANY` of the
      -- array compared each word with every flagged word; a full-text filter of all of them cost more
      -- than the pass).
      EXECUTE format(
        'INSERT INTO %I.customer_words (word, name_key, customer_id) '
        'SELECT x.word, c.name_key, c.id FROM %I.customers c, unnest(tsvector_to_array(c.name_tsv)) x(word) '
        'JOIN %I.search_words s ON s.word = x.word WHERE s.word = ANY($1) '
        'AND NOT (c.name_key >= x.word AND c.name_key < x.word || ''!'') ON CONFLICT DO NOTHING', sch, sch, sch)
        USING flagged;
      RETURN cardinality(flagged);
    END $f$;
  END IF;
END $$;
"""


def upgrade() -> None:
    op.add_column("search_words", sa.Column("ordered", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("CREATE INDEX ix_search_words_ordered ON search_words (word) WHERE ordered")
    op.execute(
        "CREATE TABLE customer_words ("
        'word text COLLATE "C" NOT NULL, name_key text COLLATE "C" NOT NULL, customer_id bigint NOT NULL, '
        "CONSTRAINT customer_words_pkey PRIMARY KEY (word, name_key, customer_id))"
    )
    op.execute(_FUNCTIONS)
    for event, transition in (("INSERT", "NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows")):
        op.execute(
            f"CREATE TRIGGER customers_words_{event.lower()}_order AFTER {event} ON customers "
            f"REFERENCING {transition} FOR EACH STATEMENT EXECUTE FUNCTION public.crm_customer_words_sync()"
        )
    op.execute(
        "CREATE TRIGGER customers_words_update_order AFTER UPDATE OF name ON customers FOR EACH ROW "
        "WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION public.crm_customer_words_rename()"
    )
    # Existing tenants: the frequent words of their current statistics (sampled, well under a second),
    # then their rows (measured at 500k customers: docs/benchmarks.md).
    op.execute("ANALYZE customers")
    op.execute(f"SELECT public.crm_order_words(current_schema(), {_MIN_CUSTOMERS})")


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS customers_words_{event}_order ON customers")
    op.execute("DROP TABLE customer_words")
    op.execute("DROP INDEX IF EXISTS ix_search_words_ordered")
    op.drop_column("search_words", "ordered")
    # The public functions stay: other tenant schemas still use them.
