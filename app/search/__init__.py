"""Customer search: a SearchBackend protocol, PostgreSQL (default) and Meilisearch implementations."""

from functools import lru_cache

from app.search.protocol import SearchBackend, SearchHit
from app.settings import get_settings


@lru_cache
def get_backend() -> SearchBackend:
    """Meilisearch when MEILI_URL is configured, PostgreSQL (pg_trgm + FTS) otherwise."""
    settings = get_settings()
    if settings.meili_url:
        from app.search.meili import MeiliSearch

        key = settings.meili_key.get_secret_value() if settings.meili_key else None
        return MeiliSearch(settings.meili_url, key)
    from app.search.postgres import PostgresSearch

    return PostgresSearch()


__all__ = ["SearchBackend", "SearchHit", "get_backend"]
