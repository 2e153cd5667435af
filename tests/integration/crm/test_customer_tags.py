"""Tags in customer_tags: the tag filter, tag names on rows/profile/export, edits that leave the
customers row alone, bulk add/remove (inline and as the background job), tenant isolation and RBAC."""

import uuid

import pytest
from sqlmodel import Session, col, select

from app.crm import customers, segments, tags
from app.crm.customers import BulkRequest, CustomerFilter, CustomerQuery, CustomerUpdate
from app.errors import Forbidden, Invalid
from models.tenant import AuditLog, BulkJob, Customer, CustomerTag, Interaction, Tag
from tasks.crm import run_bulk_sync
from tenants.database import session
from tests.integration.crm.conftest import Crm, new_customer


def _tag(db: Session, name: str | None = None) -> str:
    name = name or f"t-{uuid.uuid4().hex[:6]}"
    db.add(Tag(name=name))
    db.flush()
    return name


def _ids(db: Session, actor, **kw: object) -> set[int]:
    return {r.id for r in customers.list_customers(db, actor, CustomerQuery(limit=200, **kw)).rows}


def test_filter_rows_profile_and_export_read_customer_tags(db: Session, crm: Crm) -> None:
    vip, gold = _tag(db), _tag(db)
    plan = f"Plano {uuid.uuid4().hex[:6]}"
    a = new_customer(db, crm.admin, plan=plan, tags=[vip])
    b = new_customer(db, crm.admin, plan=plan, tags=[gold, vip])
    c = new_customer(db, crm.admin, plan=plan)
    assert _ids(db, crm.admin, tags=[vip]) == {a.id, b.id}
    assert _ids(db, crm.admin, tags=[gold]) == {b.id}
    assert _ids(db, crm.admin, tags=[gold, vip], plan=[plan]) == {a.id, b.id}  # any of them
    assert _ids(db, crm.admin, tags=["nao-existe"]) == set()
    assert customers.count_customers(db, crm.admin, CustomerFilter(tags=[vip]))["count"] == 2
    rows = {r.id: r.tags for r in customers.list_customers(db, crm.admin, CustomerQuery(plan=[plan])).rows}
    assert rows == {a.id: [vip], b.id: sorted([gold, vip]), c.id: []}
    assert customers.get_customer(db, crm.admin, b.id).customer.tags == sorted([gold, vip])
    lines = "".join(customers.export_csv(db, crm.admin, CustomerFilter(plan=[plan]))).strip().splitlines()
    header = lines[0].split(";")
    exported = {int(v[0]): v[header.index("etiquetas")] for v in (x.split(";") for x in lines[1:])}
    assert exported == {a.id: vip, b.id: ",".join(sorted([gold, vip])), c.id: ""}
    segment = segments.create_segment(
        db, crm.admin, segments.SegmentIn(name="Com etiqueta", filters=CustomerFilter(tags=[gold]))
    )
    page, count = segments.evaluate(db, crm.admin, segment.id or 0)
    assert [r.id for r in page.rows] == [b.id] and count["count"] == 1


def test_tag_edit_writes_customer_tags_only_with_audit_and_timeline(db: Session, crm: Crm) -> None:
    vip, gold = _tag(db), _tag(db)
    c = new_customer(db, crm.agent, tags=[vip])
    db.flush()
    stamp = db.exec(select(Customer.updated_at).where(Customer.id == c.id)).one()
    customers.update_customer(db, crm.agent, c.id, CustomerUpdate(tags=[gold]))
    db.flush()
    db.expire_all()
    # A tag change does not rewrite the customers row, so updated_at stays.
    assert db.exec(select(Customer.updated_at).where(Customer.id == c.id)).one() == stamp
    assert tags.names_of(db, [c.id]) == {c.id: [gold]}
    audit = db.exec(
        select(AuditLog)
        .where(AuditLog.action == "customer.update", AuditLog.entity_id == str(c.id))
        .order_by(col(AuditLog.id).desc())
    ).first()
    assert audit is not None and audit.before == {"tags": [vip]} and audit.after == {"tags": [gold]}
    kinds = db.exec(
        select(Interaction.summary).where(Interaction.customer_id == c.id, Interaction.kind == "field_change")
    ).all()
    assert "Dados alterados: tags" in kinds
    with pytest.raises(Invalid) as err:
        customers.update_customer(db, crm.agent, c.id, CustomerUpdate(tags=["nao-existe"]))
    assert "Etiqueta inexistente" in err.value.fields["tags"]
    # Other fields still bump updated_at.
    customers.update_customer(db, crm.agent, c.id, CustomerUpdate(plan="Outro"))
    db.flush()
    db.expire_all()
    assert db.exec(select(Customer.updated_at).where(Customer.id == c.id)).one() > stamp


def test_bulk_tag_on_selection_is_set_based_and_idempotent(db: Session, crm: Crm) -> None:
    name = _tag(db)
    made = [new_customer(db, crm.admin) for _ in range(4)]
    gone = made.pop()
    customers.delete_customer(db, crm.admin, gone.id)
    db.flush()
    ids = [c.id for c in made] + [gone.id]
    stamps = dict(db.exec(select(Customer.id, Customer.updated_at).where(col(Customer.id).in_(ids))).all())
    job = customers.start_bulk(db, crm.admin, BulkRequest(action="add_tag", value=name, ids=ids))
    assert job.state == "done" and job.total == 3 and job.params["changed"] == 3
    names = tags.names_of(db, ids)
    assert all(names[c.id] == [name] for c in made) and names[gone.id] == []  # deleted: untouched
    again = customers.start_bulk(db, crm.admin, BulkRequest(action="add_tag", value=name, ids=ids))
    assert again.params["changed"] == 0
    summaries = db.exec(
        select(Interaction.summary).where(
            col(Interaction.customer_id).in_(ids), Interaction.kind == "field_change"
        )
    ).all()
    assert summaries.count(f"Etiqueta adicionada: {name}") == 3
    removed = customers.start_bulk(db, crm.admin, BulkRequest(action="remove_tag", value=name, ids=ids[:2]))
    assert removed.params["changed"] == 2
    assert tags.names_of(db, ids[:3]) == {ids[0]: [], ids[1]: [], ids[2]: [name]}
    db.expire_all()
    after = dict(db.exec(select(Customer.id, Customer.updated_at).where(col(Customer.id).in_(ids))).all())
    assert after == stamps
    audit = db.exec(
        select(AuditLog).where(AuditLog.action == "customer.bulk", AuditLog.entity_id == str(job.id))
    )
    assert audit.one().after["action"] == "add_tag"


def test_bulk_tag_on_filtered_set_runs_in_background_chunks(
    make_tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant()
    admin = tenant.actor("admin")
    monkeypatch.setattr(customers.bulk, "INLINE_BULK_LIMIT", 5)
    monkeypatch.setattr(
        customers, "chunks", lambda ids, size=7: [ids[i : i + 7] for i in range(0, len(ids), 7)]
    )
    with session(tenant.schema) as db:
        name = _tag(db, "campanha")
        kept = _tag(db, "fiel")
        made = [new_customer(db, admin, plan="Lote") for _ in range(30)]
        other = new_customer(db, admin, plan="Outro")
        customers.update_customer(db, admin, made[0].id, CustomerUpdate(tags=[kept, name]))
        db.commit()
        ids = [c.id for c in made]
        f = CustomerFilter(plan=["Lote"])
        job = customers.start_bulk(db, admin, BulkRequest(action="add_tag", value=name, filter=f))
        db.commit()
        assert job.state == "queued"
        job_id = job.id or 0
    result = run_bulk_sync(tenant.schema, job_id)
    assert result == {"state": "done", "total": 30, "changed": 29}
    with session(tenant.schema) as db:
        job = db.get(BulkJob, job_id)
        assert job is not None and job.done == 30
        names = tags.names_of(db, [*ids, other.id])
        assert names.pop(other.id) == [] and all(name in n for n in names.values())
        assert names[made[0].id] == sorted([kept, name])
        added = db.exec(
            select(Interaction.customer_id).where(Interaction.summary == f"Etiqueta adicionada: {name}")
        ).all()
        assert sorted(added) == sorted(ids[1:])
        job = customers.start_bulk(db, admin, BulkRequest(action="remove_tag", value=name, filter=f))
        db.commit()
        job_id = job.id or 0
    assert run_bulk_sync(tenant.schema, job_id)["changed"] == 30
    with session(tenant.schema) as db:
        assert tags.names_of(db, ids[:2]) == {ids[0]: [kept], ids[1]: []}
        assert _ids(db, admin, tags=[name]) == set()


def test_tags_are_per_tenant(make_tenant) -> None:
    one, two = make_tenant(), make_tenant()
    a1, a2 = one.actor("admin"), two.actor("admin")
    with session(one.schema) as db:
        _tag(db, "vip")
        mine_id = new_customer(db, a1, tags=["vip"]).id
        db.commit()
    with session(two.schema) as db:
        _tag(db, "vip")
        theirs_id = new_customer(db, a2).id
        db.commit()
        assert _ids(db, a2, tags=["vip"]) == set()
        # Ids are per schema (both tenants may have a customer 1): a bulk here never reaches tenant one.
        customers.start_bulk(db, a2, BulkRequest(action="remove_tag", value="vip", ids=[mine_id, theirs_id]))
        customers.start_bulk(db, a2, BulkRequest(action="add_tag", value="vip", ids=[theirs_id]))
        db.commit()
        assert _ids(db, a2, tags=["vip"]) == {theirs_id}
    with session(one.schema) as db:
        assert tags.names_of(db, [mine_id]) == {mine_id: ["vip"]}
        assert db.exec(select(CustomerTag.customer_id)).all() == [mine_id]


def test_bulk_tag_rbac_and_visibility(db: Session, crm: Crm) -> None:
    name = _tag(db)
    own = new_customer(db, crm.agent, tags=[])
    foreign = new_customer(db, crm.outsider)
    with pytest.raises(Forbidden):
        customers.start_bulk(db, crm.agent, BulkRequest(action="add_tag", value=name, ids=[own.id]))
    job = customers.start_bulk(
        db, crm.manager, BulkRequest(action="add_tag", value=name, ids=[own.id, foreign.id])
    )
    assert job.total == 1 and job.params["changed"] == 1
    assert tags.names_of(db, [own.id, foreign.id]) == {own.id: [name], foreign.id: []}
    # The tag filter applies on top of visibility: the agent sees only its own tagged customers.
    customers.start_bulk(db, crm.admin, BulkRequest(action="add_tag", value=name, ids=[foreign.id]))
    assert _ids(db, crm.agent, tags=[name]) == {own.id}
    assert _ids(db, crm.outsider, tags=[name]) == {foreign.id}
    with pytest.raises(Invalid):
        customers.start_bulk(db, crm.manager, BulkRequest(action="remove_tag", value=" ", ids=[own.id]))


def test_tag_rename_and_delete_touch_no_customer_row(db: Session, crm: Crm) -> None:
    tag = tags.create_tag(db, crm.manager, tags.TagIn(name=f"r-{uuid.uuid4().hex[:6]}"))
    c = new_customer(db, crm.manager, tags=[tag.name])
    db.flush()
    stamp = db.exec(select(Customer.updated_at).where(Customer.id == c.id)).one()
    renamed = f"n-{uuid.uuid4().hex[:6]}"
    tags.update_tag(db, crm.manager, tag.id or 0, tags.TagIn(name=renamed))
    assert _ids(db, crm.manager, tags=[renamed]) == {c.id}
    tags.delete_tag(db, crm.manager, tag.id or 0)
    db.flush()
    assert tags.names_of(db, [c.id]) == {c.id: []}
    db.expire_all()
    assert db.exec(select(Customer.updated_at).where(Customer.id == c.id)).one() == stamp
