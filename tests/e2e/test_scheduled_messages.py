"""Scheduled messages in Chromium: from a customer's profile, "Agendar mensagem" with a date and time in
the organisation's zone; the message is listed on the profile (another is cancelled from the list), then
the sweep (run here directly, as the scheduler would) queues it through the agents' send path and it
leaves the list for the timeline."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect
from sqlalchemy import text
from sqlmodel import select

from tests.conftest import TenantHandle
from tests.e2e.conftest import login


def _customer_and_channel(t: TenantHandle) -> int:
    from app.crm.contacts import ContactIn
    from app.crm.customers import CustomerIn, create_customer
    from models.tenant import Channel
    from tenants.database import session, unit_of_work

    with session(t.schema) as db, unit_of_work(db):
        db.add(
            Channel(
                kind="sandbox_whatsapp",
                medium="whatsapp",
                name="WhatsApp de teste",
                config={},
                is_default=True,
            )
        )
        row = create_customer(
            db,
            t.actor(),
            CustomerIn(
                name="Marcos Lima",
                plan="Pós 50 GB",
                contacts=[ContactIn(kind="whatsapp", value="+5511987659876")],
            ),
        )
        return row.id or 0


def test_schedule_from_profile_listed_then_queued_by_the_sweep(page: Page, make_tenant) -> None:
    from app.messaging import scheduling
    from models.tenant import Message, ScheduledMessage
    from tenants.database import session

    t = make_tenant()
    customer_id = _customer_and_channel(t)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto(f"/clientes/{customer_id}")

    tomorrow = datetime.now(ZoneInfo("America/Sao_Paulo")) + timedelta(days=1)
    page.click("#qa-scheduled")
    form = page.locator("#scheduled-form")
    form.locator("input[name=data]").fill(tomorrow.strftime("%Y-%m-%d"))
    form.locator("input[name=hora]").fill("09:30")
    form.locator("textarea[name=texto]").fill("Oi {{primeiro_nome}}, passando para lembrar da renovação.")
    page.click("#scheduled-form-save")
    expect(form).to_have_count(0)
    listed = page.locator("#scheduled-list")
    expect(listed).to_contain_text(tomorrow.strftime("%d/%m/%Y") + " 09:30")
    expect(listed).to_contain_text("passando para lembrar")

    # A second one, cancelled from the list: it leaves the list and is never sent.
    page.click("#qa-scheduled")
    form.locator("input[name=data]").fill(tomorrow.strftime("%Y-%m-%d"))
    form.locator("input[name=hora]").fill("10:00")
    form.locator("textarea[name=texto]").fill("Mensagem que será cancelada")
    page.click("#scheduled-form-save")
    second = listed.locator(".scheduled-item", has_text="Mensagem que será cancelada")
    expect(second).to_have_count(1)
    second.get_by_role("button", name="Cancelar agendamento").click()
    expect(second).to_have_count(0)
    expect(listed).to_contain_text("passando para lembrar")

    # Due now: the sweep queues it once, through the same send path as an agent's message.
    with session(t.schema) as db:
        db.connection().execute(
            text(f"UPDATE \"{t.schema}\".scheduled_messages SET send_at = now() - interval '1 minute'")
        )
        db.commit()
    scheduling.run_due(t.schema)
    with session(t.schema) as db:
        cancelled = db.exec(select(ScheduledMessage).where(ScheduledMessage.status == "cancelled")).one()
        assert cancelled.body == "Mensagem que será cancelada" and cancelled.last_message_id is None
        row = db.exec(select(ScheduledMessage).where(ScheduledMessage.status != "cancelled")).one()
        assert row.status == "queued" and row.last_message_id is not None
        msg = db.get(Message, row.last_message_id)
        assert msg is not None and msg.body == "Oi Marcos, passando para lembrar da renovação."

    page.reload()
    expect(page.locator("#customer-header")).to_contain_text("Marcos Lima")
    expect(page.locator("#scheduled-list")).to_have_count(0)
    expect(page.get_by_text("Oi Marcos, passando para lembrar da renovação.").first).to_be_visible()


def test_schedule_with_a_template_and_a_channel_then_edit_time_and_text(page: Page, make_tenant) -> None:
    """The dialog offers the organisation's templates and its channels; a scheduled message's time and
    text are changed from the profile's list (the "Alterar" dialog), checked again like a new one."""
    from models.tenant import Channel, ScheduledMessage, Template
    from tenants.database import session, unit_of_work

    t = make_tenant()
    customer_id = _customer_and_channel(t)
    with session(t.schema) as db, unit_of_work(db):
        db.add(Channel(kind="sandbox_whatsapp", medium="whatsapp", name="Número de vendas", config={}))
        db.add(
            Template(name="Lembrete de fatura", channel="whatsapp", body="Olá {{primeiro_nome}}, sua fatura.")
        )
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto(f"/clientes/{customer_id}")

    tomorrow = datetime.now(ZoneInfo("America/Sao_Paulo")) + timedelta(days=1)
    page.click("#qa-scheduled")
    form = page.locator("#scheduled-form")
    form.locator("#canal_id").click()
    page.get_by_role("option", name="Número de vendas (WhatsApp)", exact=True).click()
    form.locator("#template_id").click()
    page.get_by_role("option", name="Lembrete de fatura (WhatsApp)", exact=True).click()
    form.locator("input[name=data]").fill(tomorrow.strftime("%Y-%m-%d"))
    form.locator("input[name=hora]").fill("08:15")
    page.click("#scheduled-form-save")
    expect(form).to_have_count(0)
    listed = page.locator("#scheduled-list")
    templated = listed.locator(".scheduled-item", has_text="08:15")
    expect(templated).to_contain_text("Modelo #")

    # A free-text one, then changed: new time and new text.
    page.click("#qa-scheduled")
    form.locator("input[name=data]").fill(tomorrow.strftime("%Y-%m-%d"))
    form.locator("input[name=hora]").fill("11:00")
    form.locator("textarea[name=texto]").fill("Texto antigo")
    page.click("#scheduled-form-save")
    item = listed.locator(".scheduled-item", has_text="Texto antigo")
    expect(item).to_have_count(1)
    item.get_by_role("button", name="Alterar agendamento").click()
    edit = page.locator("#scheduled-edit-form")
    expect(edit.locator("input[name=hora]")).to_have_value("11:00")
    expect(edit.locator("textarea[name=texto]")).to_have_value("Texto antigo")
    edit.locator("input[name=hora]").fill("14:45")
    edit.locator("textarea[name=texto]").fill("Texto novo, {{primeiro_nome}}")
    page.click("#scheduled-edit-form-save")
    expect(edit).to_have_count(0)
    changed = listed.locator(".scheduled-item", has_text="Texto novo")
    expect(changed).to_contain_text(tomorrow.strftime("%d/%m/%Y") + " 14:45")
    expect(listed.locator(".scheduled-item", has_text="Texto antigo")).to_have_count(0)

    # A past time is refused in pt-BR and nothing changes.
    changed.get_by_role("button", name="Alterar agendamento").click()
    edit.locator("input[name=data]").fill("2020-01-01")
    page.click("#scheduled-edit-form-save")
    expect(edit).to_contain_text("Escolha uma data e hora no futuro.")

    with session(t.schema) as db:
        rows = {r.body or "": r for r in db.exec(select(ScheduledMessage)).all()}
        channel = db.exec(select(Channel).where(Channel.name == "Número de vendas")).one()
        tpl = db.exec(select(Template)).one()
        by_template = next(r for r in rows.values() if r.template_id is not None)
        assert by_template.template_id == tpl.id and by_template.channel_id == channel.id
        assert rows["Texto novo, {{primeiro_nome}}"].local_start.strftime("%H:%M") == "14:45"
