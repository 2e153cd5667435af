"""Each frequent name word's customers in name order (`customer_words`, t0022).

The list sorted by name and filtered by a word that clusters in the name order (first names, company
words at the start of company names) had to sort every match of the word or read most of the name index.
For the words ANALYZE counts on many customers (`search_words.ordered`), customer_words holds
(word, name_key, customer_id) for every customer with the word, kept by triggers on customers, so such a
page is a range read per word (`app.crm.customers.queries._by_word`). Rare words keep the old path: their
matches are few enough to sort.

Words are flagged by `order_words_sql` (public.crm_order_words: flag, then backfill, with writers of
customers held off meanwhile), run after ANALYZE by the import and the demo seed, and by t0022 for the
tenants that existed. A flag is never cleared: a word that became rarer still has all of its rows.
"""

from collections.abc import Iterable

from sqlalchemy import text
from sqlmodel import Session, col, select

from models.tenant import SearchWord
from tenants.naming import is_tenant_schema

# Estimated customers (ANALYZE) from which a word gets its rows; below it, sorting a word's matches costs
# about what a sample and a range cost (queries.SAMPLE_WORTH_MATCHES). t0022 uses the same number.
ORDERED_WORD_MIN_CUSTOMERS = 2000


def order_words_sql(schema: str, min_customers: int = ORDERED_WORD_MIN_CUSTOMERS) -> str:
    """SQL flagging the words of `schema`'s customer names that its statistics count on at least
    `min_customers` customers, and writing their customer_words rows (run after ANALYZE, in its own
    transaction: it holds writers of customers off while it runs)."""
    if not is_tenant_schema(schema):
        raise ValueError(f"not a tenant schema: {schema!r}")
    return f"SELECT public.crm_order_words('{schema}', {int(min_customers)})"


def order_words(db: Session, schema: str, min_customers: int = ORDERED_WORD_MIN_CUSTOMERS) -> int:
    """Runs `order_words_sql` in the caller's transaction; how many words it flagged."""
    return int(db.connection().execute(text(order_words_sql(schema, min_customers))).scalar_one())


def all_ordered(db: Session, words: Iterable[str]) -> bool:
    """Whether customer_words holds every customer of each of `words`."""
    wanted = sorted(set(words))
    if not wanted:
        return False
    found = db.exec(
        select(SearchWord.word).where(col(SearchWord.word).in_(wanted), col(SearchWord.ordered))
    ).all()
    return len(found) == len(wanted)
