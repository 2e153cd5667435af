"""t0007 swaps the contacts trigram index for a reverse(value) btree, makes the owner list indexes
partial and reorders the source index; its downgrade restores the t0006 definitions."""

import uuid

from alembic import command
from sqlalchemy import text

from tenants.database import engine
from tenants.migrations import _config, upgrade_tenant


def _indexes(schema: str) -> dict[str, str]:
    with engine().connect() as conn:
        rows = conn.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :s"), {"s": schema}
        )
        return {name: ddl for name, ddl in rows}


def _downgrade(schema: str, revision: str) -> None:
    with engine().begin() as conn:
        command.downgrade(_config("tenant", conn, schema), revision)
        conn.execute(text("SET search_path TO public"))


def _drop(schema: str) -> None:
    with engine().begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_t0007_up_and_down(database_url: str) -> None:
    schema = "t_i" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0006")
    before = _indexes(schema)
    assert "ix_contacts_value_trgm" in before
    upgrade_tenant(schema, "t0007")
    after = _indexes(schema)
    assert "ix_contacts_value_trgm" not in after
    assert "reverse((value)::text) text_pattern_ops" in after["ix_contacts_value_rev"]
    assert after["ix_customers_owner_name"].endswith("WHERE (owner_id IS NOT NULL)")
    assert "(source_key, source) WHERE (source_key IS NOT NULL)" in after["ix_customers_source"]
    _downgrade(schema, "t0006")
    assert _indexes(schema) == before
    _drop(schema)


def test_t0009_contacts_key_carries_customer_id(database_url: str) -> None:
    schema = "t_k" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0008")
    before = _indexes(schema)["uq_contacts_kind_value"]
    upgrade_tenant(schema, "t0009")
    after = _indexes(schema)["uq_contacts_kind_value"]
    assert after.startswith("CREATE UNIQUE INDEX") and after.endswith("(kind, value) INCLUDE (customer_id)")
    _downgrade(schema, "t0008")
    assert _indexes(schema)["uq_contacts_kind_value"] == before
    _drop(schema)


def test_t0010_customers_import_hash(database_url: str) -> None:
    schema = "t_h" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0009")

    def columns() -> set[str]:
        with engine().connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = :s "
                    "AND table_name = 'customers'"
                ),
                {"s": schema},
            )
            return {r[0] for r in rows}

    assert "import_hash" not in columns()
    upgrade_tenant(schema, "t0010")
    assert "import_hash" in columns()
    _downgrade(schema, "t0009")
    assert "import_hash" not in columns()
    _drop(schema)


def test_t0011_identifiers_compare_bytewise(database_url: str) -> None:
    schema = "t_c" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0010")

    def collations() -> dict[str, str | None]:
        with engine().connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT table_name || '.' || column_name, collation_name FROM information_schema.columns "
                    "WHERE table_schema = :s AND column_name IN ('value', 'document', 'source_key') "
                    "AND table_name IN ('contacts', 'customers')"
                ),
                {"s": schema},
            )
            return {name: coll for name, coll in rows}

    before, key_before = collations(), _indexes(schema)["uq_contacts_kind_value"]
    assert set(before.values()) == {None}
    with engine().begin() as conn:  # a customer with two contacts survives the change
        conn.execute(
            text(
                f'INSERT INTO "{schema}".customers (name, kind, status, document) '
                "VALUES ('Ana', 'PF', 'ativo', '52998224725')"
            )
        )
        conn.execute(
            text(
                f'INSERT INTO "{schema}".contacts (customer_id, kind, value) SELECT id, k, v '
                f"FROM \"{schema}\".customers, (VALUES ('phone', '+5511987654321'), "
                "('email', 'ana@x.com')) AS c(k, v)"
            )
        )
    upgrade_tenant(schema, "t0011")
    assert collations() == {"contacts.value": "C", "customers.document": "C", "customers.source_key": "C"}
    key = _indexes(schema)["uq_contacts_kind_value"]
    assert key.startswith("CREATE UNIQUE INDEX") and key.endswith("(value, kind) INCLUDE (customer_id)")
    with engine().connect() as conn:
        # The dedupe key still refuses a second owner of a phone.
        try:
            conn.execute(
                text(
                    f'INSERT INTO "{schema}".contacts (customer_id, kind, value) '
                    f"SELECT id, 'phone', '+5511987654321' FROM \"{schema}\".customers"
                )
            )
            raise AssertionError("duplicate phone accepted")
        except Exception as exc:
            assert "uq_contacts_kind_value" in str(exc)
            conn.rollback()
    _downgrade(schema, "t0010")
    assert collations() == before and _indexes(schema)["uq_contacts_kind_value"] == key_before
    _drop(schema)


def test_t0012_name_codepoint_collation(database_url: str) -> None:
    schema = "t_n" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0011")

    def name_collation() -> str | None:
        with engine().connect() as conn:
            return conn.execute(
                text(
                    "SELECT collation_name FROM information_schema.columns WHERE table_schema = :s "
                    "AND table_name = 'customers' AND column_name = 'name'"
                ),
                {"s": schema},
            ).scalar()

    with engine().connect() as conn:
        codepoint = conn.execute(
            text("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        ).scalar() in ("C.UTF-8", "C.utf8", "C.UTF8", "C.utf-8")
    with engine().begin() as conn:
        conn.execute(
            text(
                f'INSERT INTO "{schema}".customers (name, kind, status) '
                "VALUES ('Zé', 'PF', 'ativo'), ('Álvaro', 'PF', 'ativo'), ('Ana', 'PF', 'ativo')"
            )
        )

    def names() -> list[str]:
        with engine().connect() as conn:
            rows = conn.execute(text(f'SELECT name FROM "{schema}".customers ORDER BY name, id'))
            return list(rows.scalars())

    before = names()
    upgrade_tenant(schema, "t0012")
    assert name_collation() == ("C" if codepoint else None)
    assert names() == before  # the order people see does not change
    _downgrade(schema, "t0011")
    assert name_collation() is None and names() == before
    _drop(schema)


def test_t0013_unused_source_index_dropped_wallet_index_partial(database_url: str) -> None:
    schema = "t_w" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0012")
    before = _indexes(schema)
    assert "ix_customers_source" in before
    upgrade_tenant(schema, "t0013")
    after = _indexes(schema)
    assert "ix_customers_source" not in after
    assert after["ix_customers_wallet"].endswith("(wallet_id, id) WHERE (wallet_id IS NOT NULL)")
    with engine().begin() as conn:
        # A wallet filter still reads the (now partial) index: `IN (...)` implies NOT NULL.
        conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            conn.execute(text("EXPLAIN SELECT id FROM customers WHERE wallet_id IN (1, 2) ORDER BY id"))
            .scalars()
            .all()
        )
        assert "ix_customers_wallet" in plan
    _downgrade(schema, "t0012")
    assert _indexes(schema) == before
    _drop(schema)


def test_t0014_name_fts_through_the_unaccenting_configuration(database_url: str) -> None:
    """The index expression changes, the words it yields for names do not."""
    schema = "t_f" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0013")
    before = _indexes(schema)
    assert "crm_norm" in before["ix_customers_name_fts"]
    upgrade_tenant(schema, "t0014")
    after = _indexes(schema)["ix_customers_name_fts"]
    assert after.endswith("USING gin (to_tsvector('crm_simple'::regconfig, (name)::text))")
    names = [
        "JOÃO D'ÁVILA São-Paulo Ltda.",
        "Conceição & Filhos ME",
        "Açougue Irmãos 2 Ltda",
        "Élan Über-Cöln Ñandú",
        "Maria das Graças",
    ]
    with engine().connect() as conn:
        for name in names:
            old, new = conn.execute(
                text(
                    "SELECT to_tsvector('simple', public.crm_norm(:n))::text, "
                    "to_tsvector('public.crm_simple', :n)::text"
                ),
                {"n": name},
            ).one()
            assert old == new, name
    with engine().begin() as conn:
        # The search's own expression is the index's: the planner can use it.
        conn.execute(text(f'SET LOCAL search_path TO "{schema}", public'))
        conn.execute(
            text(
                "INSERT INTO customers (name, kind, status) "
                "SELECT 'Cliente ' || i || ' Souza', 'PF', 'ativo' FROM generate_series(1, 3000) i"
            )
        )
        conn.execute(text("ANALYZE customers"))
        # (Today's search reads the stored vector of t0018; this is the expression it had at t0014.)
        plan = "\n".join(
            conn.execute(
                text(
                    "EXPLAIN SELECT id FROM customers WHERE "
                    "to_tsvector('public.crm_simple'::regconfig, name) "
                    "@@ to_tsquery('public.crm_simple'::regconfig, 'joao & silva:*')"
                )
            ).scalars()
        )
        assert "ix_customers_name_fts" in plan
    _downgrade(schema, "t0013")
    assert _indexes(schema) == before
    _drop(schema)
