"""The customer list's primary phone (one query for the page, same choice as the export) and the bulk
"Mover para carteira" action (issue 14, item 13)."""

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from app.crm import customers
from app.crm.customers import BulkRequest, CustomerQuery
from app.errors import Invalid
from models.tenant import Interaction, Wallet
from tests.integration.crm.conftest import Crm, new_customer


def test_list_rows_carry_the_primary_phone_in_one_query(db: Session, crm: Crm) -> None:
    plan = "Plano fone"
    for i in range(30):
        new_customer(
            db,
            crm.admin,
            plan=plan,
            contacts=[
                {"kind": "whatsapp", "value": f"1197777{i:04d}"},
                {"kind": "phone", "value": f"1199999{i:04d}"},
                {"kind": "email", "value": f"fone{i}@x.com.br"},
            ],
        )
    only_mail = new_customer(db, crm.admin, plan=plan, contacts=[{"kind": "email", "value": "so@x.com.br"}])
    db.flush()
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = customers.list_customers(db, crm.admin, CustomerQuery(plan=[plan], sort="id", limit=50))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(page.rows) == 31
    phones = {r.id: r.phone for r in page.rows}
    assert phones.pop(only_mail.id) is None
    # The phone comes before the WhatsApp number when neither is primary (the export's rule).
    assert all(p is not None and p.startswith("+55119999") for p in phones.values())
    assert len([s for s in statements if "customers" in s]) == 1

    # The profile / REST single-customer shape carries it too.
    one = next(iter(phones))
    assert customers.get_customer(db, crm.admin, one).customer.phone == phones[one]


def test_bulk_move_to_wallet(db: Session, crm: Crm) -> None:
    target = Wallet(name="Carteira Sul")
    db.add(target)
    db.flush()
    made = [new_customer(db, crm.agent) for _ in range(3)]
    foreign = new_customer(db, crm.outsider)
    job = customers.start_bulk(
        db,
        crm.manager,
        BulkRequest(action="set_wallet", value=target.id, ids=[*(c.id for c in made), foreign.id]),
    )
    assert job.state == "done" and job.total == 3 and job.params["changed"] == 3
    for c in made:
        db.refresh(c)
        assert c.wallet_id == target.id
    db.refresh(foreign)
    assert foreign.wallet_id is None  # outside the manager's team: not in the selection
    notes = db.exec(
        select(Interaction).where(Interaction.customer_id == made[0].id, Interaction.kind == "field_change")
    ).all()
    assert any(n.summary == "Carteira alterada em massa" for n in notes)
    with pytest.raises(Invalid) as err:
        customers.start_bulk(
            db, crm.manager, BulkRequest(action="set_wallet", value=999_999, ids=[made[0].id])
        )
    assert err.value.fields["value"] == "Carteira não encontrada."
