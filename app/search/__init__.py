"""Customer search: a SearchBackend protocol, PostgreSQL (default) and Meilisearch implementations."""

from functools import lru_cache

from app.search.postgres import PostgresSearch
from app.search.protocol import SearchBackend, SearchHit
from app.settings import get_settings


@lru_cache
def get_backend() -> SearchBackend:
    """Meilisearch when MEILI_URL is configured, PostgreSQL (pg_trgm + FTS) otherwise."""
    settings = get_settings()
    if settings.meili_url:
        # Imported only when configured: the Meilisearch SDK (and its HTTP client) is start-up cost
        # that a PostgreSQL-only deployment does not pay.
        from app.search.meili import MeiliSearch

        key = settings.meili_key.get_secret_value() if settings.meili_key else None
        return MeiliSearch(settings.meili_url, key)
    return PostgresSearch()


__all__ = ["SearchBackend", "SearchHit", "get_backend"]
