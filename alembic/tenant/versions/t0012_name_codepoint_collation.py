"""customers.name sorts byte-wise where the database already sorts by code point.

On a database whose default collation is code-point order (libc "C.UTF-8", the default of Debian's
initdb and of this project's CI and servers), `COLLATE "C"` gives the same order for UTF-8 text, but
PostgreSQL compares with memcmp and abbreviated keys instead of strcoll: the `(name, id)` list index of
413k customers builds in 0.69 s instead of 1.29 s (one worker), 2M-row imports spend ~3 s less in the
rebuild, and name sorts/keyset pages compare cheaper. Where the default collation is linguistic
(pt_BR.UTF-8, en_US.UTF-8: a laptop's embedded PostgreSQL) the column is left alone, so nobody's
alphabetical order changes.

Revision ID: t0012
Revises: t0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "t0012"
down_revision: str | None = "t0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODEPOINT_COLLATIONS = ("C.UTF-8", "C.utf8", "C.UTF8", "C.utf-8")


def codepoint_database(bind: sa.engine.Connection) -> bool:
    """The database's default collation is libc's code-point order (not plain C, which already is fast)."""
    provider, collate = bind.execute(
        sa.text("SELECT datlocprovider::text, datcollate FROM pg_database WHERE datname = current_database()")
    ).one()
    return provider == "c" and collate in CODEPOINT_COLLATIONS


def upgrade() -> None:
    if codepoint_database(op.get_bind()):
        # Rewrites no rows; rebuilds the indexes on name (list, owner list, full text).
        op.execute('ALTER TABLE customers ALTER COLUMN name TYPE varchar(300) COLLATE "C"')


def downgrade() -> None:
    op.execute('ALTER TABLE customers ALTER COLUMN name TYPE varchar(300) COLLATE "default"')
