"""Frequent leading name words' customers in name order (`customer_words`, t0022).

The list sorted by name and filtered by a word that clusters in the name order (first names, company
words at the start of company names) had to sort every match of the word or read most of the name index.
Such a word clusters because it leads the names: its customers whose folded name it starts are one range
of the name index (`leading_range`); customer_words holds (word, name_key, customer_id) for exactly its
other customers, kept by triggers on customers. A name-sorted page of the word is the two ranges merged
(`app.crm.customers.queries._by_word`). Flagged (`search_words.ordered`) are the words ANALYZE counts on
many customers that lead most of their names; the others keep the old paths (rare words' matches are few
enough to sort; spread words, surnames, are paged from a sampled range).

Words are flagged by `order_words_sql` (public.crm_order_words: flag, then backfill, with writers of
customers held off meanwhile), run after ANALYZE by the import and the demo seed, and by t0022 for the
tenants that existed. A flag is never cleared: a word that became rarer still has all of its rows.
"""

from typing import Any

from sqlalchemy import ColumnElement, text
from sqlmodel import Session

from tenants.naming import is_tenant_schema

# Estimated customers (ANALYZE) from which a word gets its rows; below it, sorting a word's matches costs
# about what a sample and a range cost (queries.SAMPLE_WORTH_MATCHES). t0022 uses the same number.
ORDERED_WORD_MIN_CUSTOMERS = 2000


def order_words_sql(schema: str, min_customers: int | None = None) -> str:
    """SQL flagging the words of `schema`'s customer names that its statistics count on at least
    `min_customers` customers (ORDERED_WORD_MIN_CUSTOMERS) and that lead most of their names, and writing
    their customer_words rows (run after ANALYZE, in its own transaction: it holds writers of customers
    off while it runs)."""
    if not is_tenant_schema(schema):
        raise ValueError(f"not a tenant schema: {schema!r}")
    least = ORDERED_WORD_MIN_CUSTOMERS if min_customers is None else min_customers
    return f"SELECT public.crm_order_words('{schema}', {int(least)})"


def order_words(db: Session, schema: str, min_customers: int | None = None) -> int:
    """Runs `order_words_sql` in the caller's transaction; how many words it flagged."""
    return int(db.connection().execute(text(order_words_sql(schema, min_customers))).scalar_one())


def leading_range(name_key: Any, word: str) -> list[ColumnElement[bool]]:
    """The name keys `word` leads: the word alone, or followed by a space or any other character below
    '!' (keys compare in the C collation). The triggers and the backfill leave exactly these customers
    out of customer_words, so the page of a word is this range and the table's rows, disjoint."""
    return [name_key >= word, name_key < word + "!"]
