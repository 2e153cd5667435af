"""seed_demo on a small scale: counts, valid documents, unique phones, indexes rebuilt, refusal to reseed."""

import pytest
from sqlalchemy import text

from app.crm.customers import CustomerQuery, clean_document, list_customers
from app.crm.demo import seed_demo
from app.errors import Conflict
from app.search.postgres import PostgresSearch
from tenants.database import session
from tests.integration.crm.conftest import make_user


def test_seed_demo_small(make_tenant) -> None:
    tenant = make_tenant()
    with session(tenant.schema) as db:
        before = {
            r[0]
            for r in db.exec(text(f"SELECT indexname FROM pg_indexes WHERE schemaname = '{tenant.schema}'"))
        }
    result = seed_demo(tenant.schema, 300, agents=4)
    assert result["customers"] == 300 and result["seconds"]["total"] > 0
    with session(tenant.schema) as db:
        s = tenant.schema
        count = lambda t: db.exec(text(f'SELECT count(*) FROM "{s}".{t}')).one()[0]  # noqa: E731
        assert (count("customers"), count("contacts"), count("interactions")) == (300, 600, 3000)
        assert count("conversations") == 15 and count("messages") == 45
        after = {r[0] for r in db.exec(text(f"SELECT indexname FROM pg_indexes WHERE schemaname = '{s}'"))}
        assert after == before
        docs = [r[0] for r in db.exec(text(f'SELECT document FROM "{s}".customers LIMIT 50'))]
        assert all(clean_document(d) == d for d in docs)
        admin = make_user(tenant.id, tenant.slug, "admin", None)
        assert len(list_customers(db, admin, CustomerQuery(limit=10)).rows) == 10
        name = db.exec(text(f'SELECT name FROM "{s}".customers WHERE id = 7')).one()[0]
        assert 7 in [h.id for h in PostgresSearch().search(db, admin, name, limit=50)]
    with pytest.raises(Conflict):
        seed_demo(tenant.schema, 10)


def test_seed_demo_cli(make_tenant) -> None:
    from typer.testing import CliRunner

    from app.cli import cli

    tenant = make_tenant()
    result = CliRunner().invoke(
        cli, ["seed-demo", "--tenant", tenant.slug, "--customers", "40", "--interactions-per-customer", "0"]
    )
    assert result.exit_code == 0, result.output
    assert '"customers": 40' in result.output
    with session(tenant.schema) as db:
        s = tenant.schema
        assert db.exec(text(f'SELECT count(*) FROM "{s}".interactions')).one()[0] == 0
    result = CliRunner().invoke(cli, ["seed-demo", "--tenant", "nao-existe", "--customers", "1"])
    assert result.exit_code == 1 and "Organização não encontrada" in result.output


def test_seed_demo_restores_foreign_keys(make_tenant) -> None:
    tenant = make_tenant()
    s = tenant.schema
    query = (
        "SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace "
        f"WHERE n.nspname = '{s}' AND k.contype = 'f'"
    )
    with session(s) as db:
        before = db.exec(text(query)).one()[0]
    seed_demo(s, 20, agents=2)
    with session(s) as db:
        assert db.exec(text(query)).one()[0] == before


def test_seed_demo_opportunities_cli(make_tenant) -> None:
    """--opportunities N on a tenant with customers adds N open cards (and their entry history) only."""
    from typer.testing import CliRunner

    from app.cli import cli

    tenant = make_tenant()
    seed_demo(tenant.schema, 30, agents=2, interactions_per_customer=0)
    result = CliRunner().invoke(cli, ["seed-demo", "--tenant", tenant.slug, "--opportunities", "250"])
    assert result.exit_code == 0, result.output
    assert '"opportunities": 250' in result.output
    s = tenant.schema
    with session(s) as db:
        assert db.exec(text(f'SELECT count(*) FROM "{s}".customers')).one()[0] == 30
        per_stage = db.exec(
            text(
                "SELECT o.stage_id, count(*), count(DISTINCT o.position), min(o.position) "
                f'FROM "{s}".opportunities o '
                f'JOIN "{s}".stages st ON st.id = o.stage_id WHERE st.outcome IS NULL GROUP BY o.stage_id'
            )
        ).all()
        assert sum(r[1] for r in per_stage) == 250 and all(r[1] == r[2] and r[3] == 65536 for r in per_stage)
        assert db.exec(text(f'SELECT count(*) FROM "{s}".stage_history')).one()[0] == 250
