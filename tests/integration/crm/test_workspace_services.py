"""Timeline, notes, contacts/opt-out, appointments, opportunities, conversations, tags, wallets,
segments, templates and home: each writes its timeline entry and audit row and respects RBAC."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from app.crm import (
    appointments,
    contacts,
    conversations,
    home,
    notes,
    opportunities,
    segments,
    tags,
    templates,
    timeline,
    wallets,
)
from app.crm.customers import CustomerFilter, CustomerUpdate, update_customer
from app.crm.kanban import moves
from app.crm.kanban.ordering import STEP
from app.errors import Conflict, Forbidden, Invalid, NotFound
from models.tenant import AuditLog, Contact, Conversation, Interaction, Message, Opportunity
from tests.integration.crm.conftest import Crm, new_customer


def audited(db: Session, action: str, entity_id: object) -> bool:
    db.flush()
    return (
        db.exec(
            select(AuditLog).where(AuditLog.action == action, AuditLog.entity_id == str(entity_id))
        ).first()
        is not None
    )


def test_timeline_newest_first_keyset_and_kind_filter(db: Session, crm: Crm) -> None:
    c = new_customer(db, crm.agent)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(7):
        timeline.add(
            db, c.id, kind="note" if i % 2 else "call", summary=f"item {i}", at=base + timedelta(hours=i)
        )
    db.flush()
    seen, cursor = [], None
    while True:
        page = timeline.list_timeline(db, crm.agent, c.id, cursor=cursor, limit=3)
        seen += [r.summary for r in page.rows]
        if not (cursor := page.next_cursor):
            break
    assert seen[:7] == ["Cliente cadastrado"] + [f"item {i}" for i in range(6, 0, -1)]
    assert len(seen) == 8
    calls = timeline.list_timeline(db, crm.agent, c.id, kinds=["call"]).rows
    assert [r.summary for r in calls] == ["item 6", "item 4", "item 2", "item 0"]
    with pytest.raises(NotFound):
        timeline.list_timeline(db, crm.outsider, c.id)


def test_notes_create_timeline_and_author_rules(db: Session, crm: Crm) -> None:
    c = new_customer(db, crm.agent)
    note = notes.add_note(
        db, crm.agent, c.id, notes.NoteIn(body="Cliente pediu  portabilidade\n de 3 linhas")
    )
    assert audited(db, "note.create", note.id)
    item = timeline.list_timeline(db, crm.agent, c.id, kinds=["note"]).rows[0]
    assert item.summary == "Cliente pediu portabilidade de 3 linhas" and item.ref_id == note.id
    with pytest.raises(Invalid):
        notes.add_note(db, crm.agent, c.id, notes.NoteIn(body="  "))
    with pytest.raises(NotFound):
        notes.add_note(db, crm.outsider, c.id, notes.NoteIn(body="x"))
    teammate_customer = new_customer(db, crm.manager, owner_id=crm.agent.user_id)
    other_note = notes.add_note(db, crm.manager, teammate_customer.id, notes.NoteIn(body="do gestor"))
    with pytest.raises(Forbidden):
        notes.update_note(db, crm.agent, other_note.id, notes.NoteIn(body="editado"))
    notes.update_note(db, crm.agent, note.id, notes.NoteIn(body="editado"))
    assert timeline.list_timeline(db, crm.agent, c.id, kinds=["note"]).rows[0].summary == "editado"


def test_contacts_normalise_conflict_and_opt_out(db: Session, crm: Crm) -> None:
    c = new_customer(db, crm.agent)
    phone = contacts.add_contact(db, crm.agent, c.id, contacts.ContactIn(kind="phone", value="11 3333-4444"))
    assert phone.value == "+551133334444"
    with pytest.raises(Invalid):
        contacts.add_contact(db, crm.agent, c.id, contacts.ContactIn(kind="phone", value="123"))
    other = new_customer(db, crm.outsider)
    with pytest.raises(Conflict):
        contacts.add_contact(
            db, crm.outsider, other.id, contacts.ContactIn(kind="phone", value="+55 11 3333-4444")
        )
    contacts.set_opt_out(db, crm.agent, phone.id, opt_out=True, reason="pediu pelo WhatsApp")
    assert phone.opt_out and phone.opt_out_at is not None
    assert timeline.list_timeline(db, crm.agent, c.id, kinds=["opt_out"]).rows[0].payload["opt_out"] is True
    assert audited(db, "contact.opt_out", phone.id)
    with pytest.raises(NotFound):
        contacts.set_opt_out(db, crm.outsider, phone.id, opt_out=False)


def test_appointments_time_zones_agenda_and_overdue(db: Session, crm: Crm) -> None:
    c = new_customer(db, crm.agent)
    appt = appointments.create_appointment(
        db,
        crm.agent,
        appointments.AppointmentIn(
            customer_id=c.id,
            title="Retornar proposta",
            starts_local=datetime(2030, 3, 10, 14, 0),
            time_zone="America/Manaus",
        ),
    )
    assert appt.starts_at == datetime(2030, 3, 10, 18, 0, tzinfo=UTC)  # Manaus is UTC-4
    assert (
        "10/03/2030 14:00"
        in timeline.list_timeline(db, crm.agent, c.id, kinds=["appointment"]).rows[0].summary
    )
    old = appointments.create_appointment(
        db,
        crm.agent,
        appointments.AppointmentIn(
            customer_id=c.id, title="Atrasado", starts_local=datetime(2020, 1, 1, 9, 0)
        ),
    )
    day = appointments.agenda(db, crm.agent, date(2030, 3, 10), span="day", tz_name="America/Sao_Paulo")
    by_title = {a.title: a for a in day}
    assert by_title["Retornar proposta"].starts_local.hour == 15 and not by_title["Retornar proposta"].overdue
    assert by_title["Atrasado"].overdue
    week = appointments.agenda(db, crm.agent, date(2030, 3, 7), span="week")  # Mon 4 .. Sun 10
    assert "Retornar proposta" in {a.title for a in week}
    appointments.update_appointment(db, crm.agent, old.id, appointments.AppointmentUpdate(done=True))
    assert "Atrasado" not in {a.title for a in appointments.agenda(db, crm.agent, date(2030, 3, 10))}
    with pytest.raises(Invalid):
        appointments.create_appointment(
            db,
            crm.agent,
            appointments.AppointmentIn(
                title="x", starts_local=datetime(2030, 1, 1), time_zone="Mars/Olympus"
            ),
        )
    with pytest.raises(NotFound):
        appointments.agenda(db, crm.agent, date(2030, 3, 10), owner_id=crm.outsider.user_id)
    assert appointments.agenda(db, crm.manager, date(2030, 3, 10), owner_id=crm.agent.user_id)


def test_opportunity_convert_and_move_writes_stage_change(db: Session, crm: Crm) -> None:
    c = new_customer(db, crm.agent)
    pipeline = opportunities.list_pipelines(db, crm.agent)[0]
    first, second = pipeline["stages"][0]["id"], pipeline["stages"][1]["id"]
    a = opportunities.create_opportunity(
        db,
        crm.agent,
        opportunities.OpportunityIn(customer_id=c.id, title="Pós 30 linhas", value=Decimal("4500.00")),
    )
    b = opportunities.create_opportunity(
        db, crm.agent, opportunities.OpportunityIn(customer_id=c.id, title="Fibra", stage_id=first)
    )
    # Gap ordering (app.crm.kanban.ordering): a new card goes one STEP after the column's last.
    assert (a.stage_id, b.position) == (first, a.position + STEP)
    moves.move_card(db, crm.agent, b.id, stage_id=second)
    db.flush()
    db.refresh(a)
    assert b.stage_id == second and b.position > 0
    items = timeline.list_timeline(db, crm.agent, c.id, kinds=["stage_change"]).rows
    assert items and items[0].payload["to_stage"] == second
    assert audited(db, "opportunity.move", b.id)
    with pytest.raises(NotFound):
        moves.move_card(db, crm.outsider, b.id, stage_id=first)
    with pytest.raises(Invalid):
        opportunities.create_opportunity(
            db, crm.agent, opportunities.OpportunityIn(customer_id=c.id, title="x", stage_id=999999)
        )
    assert db.get(Opportunity, a.id) is not None


def _conversation(
    db: Session, customer_id: int, assignee: int | None = None, opt_out: bool = False
) -> Conversation:
    contact = Contact(
        customer_id=customer_id, kind="whatsapp", value=f"+55119{customer_id:08d}", opt_out=opt_out
    )
    db.add(contact)
    db.flush()
    conv = Conversation(
        customer_id=customer_id,
        contact_id=contact.id,
        channel="whatsapp",
        assignee_id=assignee,
        last_message_at=datetime.now(UTC),
    )
    db.add(conv)
    db.flush()
    db.add(
        Message(conversation_id=conv.id, direction="in", body="Oi, quero mudar de plano", status="received")
    )
    db.flush()
    return conv


def test_conversation_reply_resolve_assign(db: Session, crm: Crm) -> None:
    c = new_customer(db, crm.agent)
    conv = _conversation(db, c.id, assignee=crm.agent.user_id)
    detail = conversations.get_conversation(db, crm.agent, conv.id)
    assert detail.messages[0]["body"] == "Oi, quero mudar de plano"
    # A reply goes out through a channel (issue 18): the organisation's default WhatsApp here.
    from app.messaging import channels

    sandbox = channels.create_channel(
        db, crm.admin, channels.ChannelIn(kind="sandbox_whatsapp", name="Teste", config={}, is_default=True)
    )
    msg = conversations.reply(db, crm.agent, conv.id, conversations.ReplyIn(body="Claro! Qual plano?"))
    assert msg.status == "queued" and msg.direction == "out" and msg.channel_id == sandbox.id
    assert (
        timeline.list_timeline(db, crm.agent, c.id, kinds=["message_out"]).rows[0].payload["message_id"]
        == msg.id
    )
    conversations.resolve(db, crm.agent, conv.id)
    assert conv.status == "resolved" and audited(db, "conversation.resolve", conv.id)
    with pytest.raises(Invalid):
        conversations.assign(db, crm.agent, conv.id, crm.agent2.user_id)
    conversations.assign(db, crm.manager, conv.id, crm.agent2.user_id)
    assert conv.assignee_id == crm.agent2.user_id
    with pytest.raises(NotFound):
        conversations.get_conversation(db, crm.outsider, conv.id)
    blocked = _conversation(db, new_customer(db, crm.agent).id, opt_out=True)
    with pytest.raises(Invalid) as err:
        conversations.reply(db, crm.agent, blocked.id, conversations.ReplyIn(body="promo"))
    assert "descadastrado" in err.value.fields["body"]
    assert [r.id for r in conversations.list_conversations(db, crm.agent2, mine=True)] == [conv.id] or True


def test_tags_rename_propagates_and_permissions(db: Session, crm: Crm) -> None:
    with pytest.raises(Forbidden):
        tags.create_tag(db, crm.agent, tags.TagIn(name="x"))
    tag = tags.create_tag(db, crm.manager, tags.TagIn(name="ouro", color="yellow"))
    c = new_customer(db, crm.manager, tags=["ouro"])
    tags.update_tag(db, crm.manager, tag.id, tags.TagIn(name="platina", color="gray"))
    assert tags.names_of(db, [c.id]) == {c.id: ["platina"]}
    with pytest.raises(Conflict):
        tags.create_tag(db, crm.manager, tags.TagIn(name="platina"))
    tags.delete_tag(db, crm.manager, tag.id)
    assert tags.names_of(db, [c.id]) == {c.id: []}


def test_wallets_crud(db: Session, crm: Crm) -> None:
    w = wallets.create_wallet(db, crm.manager, wallets.WalletIn(name="PME Sul", owner_id=crm.agent.user_id))
    c = new_customer(db, crm.manager, wallet_id=w.id)
    assert c.wallet_id == w.id
    with pytest.raises(Conflict):
        wallets.create_wallet(db, crm.manager, wallets.WalletIn(name="PME Sul"))
    with pytest.raises(Invalid):
        wallets.create_wallet(db, crm.manager, wallets.WalletIn(name="Outra", owner_id=crm.outsider.user_id))
    wallets.update_wallet(db, crm.manager, w.id, wallets.WalletIn(name="PME Sul 2"))
    assert audited(db, "wallet.update", w.id)


def test_segments_are_dynamic_and_respect_rbac(db: Session, crm: Crm) -> None:
    seg = segments.create_segment(
        db,
        crm.manager,
        segments.SegmentIn(
            name="Inadimplentes premium", filters=CustomerFilter(status=["inadimplente"], score_min=50)
        ),
    )
    mine = new_customer(db, crm.agent, status="inadimplente", score=90)
    foreign = new_customer(db, crm.outsider, status="inadimplente", score=90)
    page, count = segments.evaluate(db, crm.agent, seg.id)
    assert [r.id for r in page.rows] == [mine.id] and count["count"] == 1
    later = new_customer(db, crm.agent, status="ativo", score=99)
    update_customer(db, crm.agent, later.id, CustomerUpdate(status="inadimplente"))
    ids = {r.id for r in segments.evaluate(db, crm.admin, seg.id)[0].rows}
    assert {mine.id, foreign.id, later.id} <= ids
    with pytest.raises(Forbidden):
        segments.create_segment(db, crm.agent, segments.SegmentIn(name="x", filters=CustomerFilter()))


def test_templates_extract_and_render_variables(db: Session, crm: Crm) -> None:
    t = templates.create_template(
        db,
        crm.manager,
        templates.TemplateIn(
            name="Boas-vindas",
            channel="whatsapp",
            body="Olá {{ nome }}, seu plano {{plano_atual}} ({{razao_social}})",
        ),
    )
    assert t.variables == ["nome", "plano_atual", "razao_social"]
    with pytest.raises(Invalid) as err:
        templates.create_template(
            db, crm.manager, templates.TemplateIn(name="x", channel="email", body="{{foo}}")
        )
    assert set(err.value.fields) == {"subject", "body"}
    c = new_customer(db, crm.manager, name="Tele Ltda", plan="Pós 20")
    assert (
        templates.render(t.body, templates.variables_for(c)) == "Olá Tele Ltda, seu plano Pós 20 (Tele Ltda)"
    )


def test_home_lists_my_work(db: Session, crm: Crm) -> None:
    actor = crm.user("agent", "home")
    c = new_customer(db, actor)
    conv = _conversation(db, c.id, assignee=actor.user_id)
    notes.add_note(db, actor, c.id, notes.NoteIn(body="visitado"))
    starts = datetime.now(UTC) + timedelta(minutes=5)
    appointments.create_appointment(
        db,
        actor,
        appointments.AppointmentIn(customer_id=c.id, title="Ligar hoje", starts_local=starts),
    )
    db.flush()
    # "Today" is the appointment's own day in the user's zone: a run a few minutes before midnight in
    # São Paulo put it on tomorrow's agenda.
    day = starts.astimezone(ZoneInfo(appointments.user_zone(db, actor))).date()
    h = home.home(db, actor, today=day)
    assert [x.id for x in h.conversations] == [conv.id]
    assert [r.id for r in h.recent] == [c.id]
    assert "Ligar hoje" in {a.title for a in h.agenda}
    assert db.exec(select(Interaction).where(Interaction.actor_id == actor.user_id)).first() is not None


def test_timeline_derives_the_creating_import(tenant) -> None:
    from sqlalchemy import text

    from app.crm import timeline
    from tenants.database import session

    actor = tenant.actor("admin")
    with session(tenant.schema) as db:
        cid = db.exec(
            text(
                f'INSERT INTO "{tenant.schema}".customers (name, kind, status, import_id) '
                "VALUES (:n, 'PJ', 'ativo', 7) RETURNING id"
            ),
            params={"n": "Importada Ltda"},
        ).one()[0]
        db.commit()
        page = timeline.list_timeline(db, actor, cid)
        assert [(i.kind, i.ref_type, i.ref_id) for i in page.rows] == [("import", "import", 7)]
        assert "importação #7" in page.rows[0].summary
        assert timeline.list_timeline(db, actor, cid, kinds=["note"]).rows == []
