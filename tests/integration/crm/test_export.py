"""The CSV export people open: names instead of ids, primary contacts, custom fields, dates in the
reader's zone, Brazilian formats; one streamed query (no query per row)."""

import csv
import io
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import event
from sqlmodel import Session

from app.crm import custom_fields, customers, wallets
from app.crm.custom_fields import CustomFieldIn
from app.crm.customers import CustomerFilter
from app.crm.wallets import WalletIn
from tests.integration.crm.conftest import Crm, new_customer

AT = datetime(2030, 3, 11, 2, 30, 15, 123456, tzinfo=UTC)  # 23:30 on the 10th in São Paulo


def rows(db: Session, actor, plan: str) -> list[dict[str, str]]:
    text = "".join(customers.export_csv(db, actor, CustomerFilter(plan=[plan])))
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def test_export_reads_like_the_screens(db: Session, crm: Crm) -> None:
    suffix = uuid.uuid4().hex[:6]
    plan = f"Exp {suffix}"
    wallet = wallets.create_wallet(db, crm.admin, WalletIn(name=f"PME Sul {suffix}"))
    custom_fields.create_field(
        db, crm.admin, CustomFieldIn(key=f"inicio_{suffix}", label="Início", type="date")
    )
    custom_fields.create_field(
        db, crm.admin, CustomFieldIn(key=f"linhas_{suffix}", label="Linhas", type="number")
    )
    custom_fields.create_field(db, crm.admin, CustomFieldIn(key=f"vip_{suffix}", label="VIP", type="bool"))
    c = new_customer(
        db,
        crm.admin,
        name="Padaria Central",
        document="529.982.247-25",
        plan=plan,
        status="inadimplente",
        wallet_id=wallet.id,
        owner_id=crm.agent.user_id,
        custom={f"inicio_{suffix}": "2030-01-05", f"linhas_{suffix}": 12.5, f"vip_{suffix}": True},
        contacts=[
            {"kind": "phone", "value": "(11) 3456-7890"},
            {"kind": "phone", "value": "11 98765-4321", "is_primary": True},
            {"kind": "email", "value": "Financeiro@Padaria.com.br"},
        ],
    )
    c.created_at = c.updated_at = AT
    db.add(c)
    bare = new_customer(db, crm.admin, name="Sem Contato", plan=plan)
    db.flush()

    out = {r["id"]: r for r in rows(db, crm.admin, plan)}
    row = out[str(c.id)]
    assert row["documento"] == "529.982.247-25"
    assert row["status"] == "Inadimplente"
    assert row["telefone"] == "(11) 98765-4321"  # the primary one, as people write it
    assert row["email"] == "financeiro@padaria.com.br"
    assert row["carteira"] == wallet.name
    assert row["responsavel"] == "Agent"  # the owner's name, not an id
    assert "carteira_id" not in row and "responsavel_id" not in row
    assert row["criado_em"] == row["atualizado_em"] == "10/03/2030 23:30"  # São Paulo, no seconds
    assert row[f"inicio_{suffix}"] == "05/01/2030"
    assert row[f"linhas_{suffix}"] == "12,5"
    assert row[f"vip_{suffix}"] == "Sim"
    empty = out[str(bare.id)]
    assert empty["telefone"] == empty["email"] == empty["carteira"] == ""
    assert empty["responsavel"] == "Admin"  # whoever created it

    # The reader's zone: an admin in Manaus (UTC-4) reads 22:30.
    manaus = replace(crm.admin, time_zone="America/Manaus")
    assert {r["id"]: r for r in rows(db, manaus, plan)}[str(c.id)]["criado_em"] == "10/03/2030 22:30"


def test_export_is_one_query_whatever_the_row_count(db: Session, crm: Crm) -> None:
    plan = f"Lote {uuid.uuid4().hex[:6]}"
    wallet = wallets.create_wallet(db, crm.admin, WalletIn(name=f"Carteira {plan}"))
    for i in range(40):
        new_customer(
            db,
            crm.admin,
            plan=plan,
            wallet_id=wallet.id,
            owner_id=crm.agent.user_id,
            contacts=[
                {"kind": "phone", "value": f"1199999{i:04d}"},
                {"kind": "email", "value": f"c{i}@x.com.br"},
            ],
        )
    db.flush()
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        exported = rows(db, crm.admin, plan)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(exported) == 40
    assert all(r["telefone"].startswith("(11) 9") and r["carteira"] == wallet.name for r in exported)
    selects_of_customers = [s for s in statements if "FROM" in s and "customers" in s]
    assert len(selects_of_customers) <= 2, statements  # the export itself (+ at most a filter lookup)
    assert len(statements) <= 6, statements
