"""Customers service: create/update validation, keyset list, filters, visibility, bulk, export."""

import pytest
from sqlmodel import Session, select

from app.crm import custom_fields, customers, tags
from app.crm.custom_fields import CustomFieldIn
from app.crm.customers import BulkRequest, CustomerFilter, CustomerQuery, CustomerUpdate
from app.errors import Forbidden, Invalid, NotFound
from models.tenant import AuditLog, BulkJob, Interaction, Tag
from tests.integration.crm.conftest import Crm, new_customer

CPF = "529.982.247-25"
CNPJ = "11.222.333/0001-81"


def test_create_validates_fields_in_portuguese(db: Session, crm: Crm) -> None:
    with pytest.raises(Invalid) as err:
        customers.create_customer(
            db, crm.agent, customers.CustomerIn(name=" ", document="123", status="xx", custom={"nope": 1})
        )
    assert err.value.fields["name"] == "Informe o nome."
    assert err.value.fields["document"] == "CPF ou CNPJ inválido."
    assert err.value.fields["status"] == "Status inválido."
    assert err.value.fields["custom.nope"] == "Campo personalizado desconhecido."


def test_create_sets_owner_contacts_audit_and_timeline(db: Session, crm: Crm) -> None:
    c = new_customer(
        db,
        crm.agent,
        name="João da Silva",
        document=CPF,
        contacts=[{"kind": "phone", "value": "(11) 98765-4321"}, {"kind": "email", "value": "J@X.COM"}],
    )
    assert c.owner_id == crm.agent.user_id and c.kind == "PF" and c.document == "52998224725"
    detail = customers.get_customer(db, crm.agent, c.id)
    values = sorted(x["value"] for x in detail.contacts)
    assert values == ["+5511987654321", "j@x.com"]
    assert detail.last_interactions[0].summary == "Cliente cadastrado"
    assert db.exec(
        select(AuditLog).where(AuditLog.entity_id == str(c.id), AuditLog.action == "customer.create")
    ).one()


def test_custom_fields_are_typed_and_required(db: Session, crm: Crm) -> None:
    custom_fields.create_field(db, crm.admin, CustomFieldIn(key="linhas", label="Linhas", type="number"))
    custom_fields.create_field(
        db,
        crm.admin,
        CustomFieldIn(key="porte", label="Porte", type="select", options=["P", "M", "G"], required=True),
    )
    with pytest.raises(Invalid) as err:
        new_customer(db, crm.admin, custom={"linhas": "abc"})
    assert err.value.fields == {
        "custom.linhas": "Informe um número.",
        "custom.porte": "O campo “Porte” é obrigatório.",
    }
    c = new_customer(db, crm.admin, custom={"linhas": "1.234,5", "porte": "M"}, document=CNPJ)
    assert c.custom == {"linhas": 1234.5, "porte": "M"} and c.kind == "PJ"
    with pytest.raises(Invalid):
        customers.update_customer(db, crm.admin, c.id, CustomerUpdate(custom={"porte": "XL"}))
    page = customers.list_customers(db, crm.admin, CustomerQuery(custom={"porte": "M"}))
    assert [r.id for r in page.rows] == [c.id]
    page = customers.list_customers(
        db, crm.admin, CustomerQuery(custom={"linhas": {"min": 1000, "max": 2000}})
    )
    assert [r.id for r in page.rows] == [c.id]


def test_agents_only_see_their_portfolio_and_managers_their_team(db: Session, crm: Crm) -> None:
    mine = new_customer(db, crm.agent)
    teammate = new_customer(db, crm.agent2)
    other = new_customer(db, crm.outsider)
    with pytest.raises(NotFound):
        customers.get_customer(db, crm.agent, teammate.id)
    with pytest.raises(NotFound):
        customers.update_customer(db, crm.agent, other.id, CustomerUpdate(name="x"))
    ids = {r.id for r in customers.list_customers(db, crm.agent, CustomerQuery(limit=200)).rows}
    assert mine.id in ids and teammate.id not in ids and other.id not in ids
    ids = {r.id for r in customers.list_customers(db, crm.manager, CustomerQuery(limit=200)).rows}
    assert {mine.id, teammate.id} <= ids and other.id not in ids
    ids = {r.id for r in customers.list_customers(db, crm.admin, CustomerQuery(limit=200)).rows}
    assert {mine.id, teammate.id, other.id} <= ids
    with pytest.raises(Invalid):  # an agent cannot hand a customer to someone else
        customers.update_customer(db, crm.agent, mine.id, CustomerUpdate(owner_id=crm.agent2.user_id))


def test_keyset_pagination_walks_every_row_once(db: Session, crm: Crm) -> None:
    made = [new_customer(db, crm.outsider, name=f"Pag {i:02d}", score=i % 3) for i in range(7)]
    for sort in ("name", "-name", "score", "-score", "-updated_at", "created_at", "status"):
        seen: list[int] = []
        cursor = None
        while True:
            page = customers.list_customers(
                db, crm.outsider, CustomerQuery(sort=sort, limit=3, cursor=cursor)
            )
            seen += [r.id for r in page.rows]
            cursor = page.next_cursor
            if not cursor:
                break
        assert sorted(seen) == sorted(c.id for c in made), sort
    with pytest.raises(Invalid):
        customers.list_customers(db, crm.outsider, CustomerQuery(sort="name", cursor="garbage"))
    with pytest.raises(Invalid):
        customers.list_customers(db, crm.outsider, CustomerQuery(sort="password"))


def test_filters_and_text_search(db: Session, crm: Crm) -> None:
    db.add(Tag(name="vip"))
    a = new_customer(
        db,
        crm.admin,
        name="Ana Conceição",
        status="inadimplente",
        plan="Controle 20GB",
        tags=["vip"],
        score=80,
        contacts=[{"kind": "phone", "value": "+55 21 99999-0001"}],
    )
    b = new_customer(db, crm.admin, name="Bruno Souza", document=CPF)

    def ids(**kw: object) -> set[int]:
        return {r.id for r in customers.list_customers(db, crm.admin, CustomerQuery(limit=200, **kw)).rows}

    assert a.id in ids(status=["inadimplente"]) and b.id not in ids(status=["inadimplente"])
    assert ids(tags=["vip"]) == {a.id}
    assert a.id in ids(plan=["Controle 20GB"])
    assert a.id in ids(score_min=70) and b.id not in ids(score_min=70)
    assert a.id in ids(text="conceicao")
    assert a.id in ids(text="(21) 99999-0001") and a.id in ids(text="2199999")
    assert b.id in ids(text="529.982") and b.id in ids(text="52998224725")
    assert a.id not in ids(text="bruno")


def test_update_writes_status_change_and_field_change(db: Session, crm: Crm) -> None:
    c = new_customer(db, crm.agent)
    customers.update_customer(db, crm.agent, c.id, CustomerUpdate(status="suspenso", plan="Pós 50GB"))
    db.flush()
    kinds = [i.kind for i in db.exec(select(Interaction).where(Interaction.customer_id == c.id)).all()]
    assert "status_change" in kinds and kinds.count("field_change") == 2


def test_soft_delete_is_admin_only_and_hides(db: Session, crm: Crm) -> None:
    c = new_customer(db, crm.agent)
    with pytest.raises(Forbidden):
        customers.delete_customer(db, crm.agent, c.id)
    customers.delete_customer(db, crm.admin, c.id)
    with pytest.raises(NotFound):
        customers.get_customer(db, crm.admin, c.id)


def test_bulk_on_filter_and_ids_respects_visibility(db: Session, crm: Crm) -> None:
    db.add(Tag(name="campanha"))
    team = [new_customer(db, crm.agent, status="prospecto") for _ in range(3)]
    foreign = new_customer(db, crm.outsider, status="prospecto")
    with pytest.raises(Forbidden):
        customers.start_bulk(db, crm.agent, BulkRequest(action="add_tag", value="campanha", ids=[team[0].id]))
    job = customers.start_bulk(
        db,
        crm.manager,
        BulkRequest(action="add_tag", value="campanha", filter=CustomerFilter(status=["prospecto"])),
    )
    assert job.state == "done" and job.params["changed"] >= 3
    names = tags.names_of(db, [foreign.id, *(c.id for c in team)])
    assert "campanha" not in names.pop(foreign.id)
    assert all("campanha" in n for n in names.values())
    # The ids of another portfolio are silently outside the selection.
    job = customers.start_bulk(
        db, crm.manager, BulkRequest(action="set_status", value="ativo", ids=[team[0].id, foreign.id])
    )
    assert job.total == 1
    with pytest.raises(Invalid):
        customers.start_bulk(db, crm.manager, BulkRequest(action="add_tag", value="inexistente", ids=[1]))


def test_large_bulk_is_queued_and_runs_in_chunks(
    db: Session, crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(customers.bulk, "INLINE_BULK_LIMIT", 2)
    db.add(Tag(name="lote"))
    made = [new_customer(db, crm.admin, plan="Lote XYZ") for _ in range(5)]
    job = customers.start_bulk(
        db, crm.admin, BulkRequest(action="add_tag", value="lote", filter=CustomerFilter(plan=["Lote XYZ"]))
    )
    assert job.state == "queued"
    progress: list[int] = []

    def checkpoint() -> None:
        progress.append(db.exec(select(BulkJob.done).where(BulkJob.id == job.id)).one())

    customers.run_bulk_job(db, crm.admin, job.id, checkpoint=checkpoint, chunk=2)
    assert job.state == "done" and job.total == 5 and progress == [0, 2, 4, 5]
    assert job.done == 5 and job.params["changed"] == 5
    assert all(n == ["lote"] for n in tags.names_of(db, [c.id for c in made]).values())


def test_export_csv_streams_visible_rows(db: Session, crm: Crm) -> None:
    c = new_customer(db, crm.admin, name="Exportável Ltda", plan="Export 1")
    with pytest.raises(Forbidden):
        customers.export_csv(db, crm.agent, CustomerFilter())
    text = "".join(customers.export_csv(db, crm.admin, CustomerFilter(plan=["Export 1"])))
    lines = text.strip().splitlines()
    assert lines[0].startswith("id;nome;") and lines[1].startswith(f"{c.id};Exportável Ltda;")
