"""Reminders and template preview in Chromium: a due follow-up shows on the bell and on the home;
clicking it opens the customer and clears the count; a template previews with sample values, then for
a chosen customer, with an unknown variable flagged."""

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from tests.conftest import TenantHandle
from tests.e2e.conftest import login


def _seed(t: TenantHandle) -> tuple[int, str]:
    from app.crm import appointments, customers
    from app.crm.customers import CustomerIn
    from models.tenant import Template
    from tasks.notifications import send_reminders_sync
    from tenants.database import session, unit_of_work

    actor = t.actor()
    with session(t.schema) as db, unit_of_work(db):
        customer = customers.create_customer(
            db, actor, CustomerIn(name="Rosa Amarante", plan="Controle 8 GB")
        )
        db.flush()
        customer_id = customer.id or 0
        appointments.create_appointment(
            db,
            actor,
            appointments.AppointmentIn(
                customer_id=customer_id,
                title="Ligar para Rosa",
                starts_local=datetime.now(UTC) + timedelta(minutes=5),
            ),
        )
        # Saved as an older row could be: the preview must flag the variable nobody fills.
        db.add(
            Template(
                name="Oferta", channel="whatsapp", body="Oi {{primeiro_nome}}, {{plano_atual}} {{cupom}}"
            )
        )
    # The app's own in-process sweep may get there first; either way there is exactly one reminder.
    send_reminders_sync(t.schema)
    return customer_id, "Lembrete: Ligar para Rosa"


def test_bell_home_reminder_and_template_preview(page: Page, make_tenant) -> None:
    t = make_tenant()
    customer_id, title = _seed(t)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")

    expect(page.locator("#notification-count")).to_have_text("1")
    expect(page.locator("#home-reminders")).to_contain_text(title)

    page.click("#notification-bell")
    items = page.locator("#notification-list .notification-item")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text(title)
    items.first.click()
    page.wait_for_url(f"**/clientes/{customer_id}")
    expect(page.locator("#customer-name")).to_have_text("Rosa Amarante")
    expect(page.locator("#notification-count")).to_have_count(0)

    page.goto("/inicio")
    expect(page.locator("#home-reminders")).to_contain_text("Nenhum lembrete pendente.")

    page.goto("/admin/templates")
    row = page.locator("#template-table tbody tr", has_text="Oferta")
    row.get_by_role("button", name="Pré-visualizar").click()
    body = page.locator("#preview-body")
    expect(body).to_contain_text("Oi Maria, Controle 20 GB {{cupom}}")
    expect(page.locator("#preview-unknown")).to_contain_text("{{cupom}}")
    page.fill("#preview-customer-search", "Rosa")
    page.locator(".preview-customer-option", has_text="Rosa Amarante").click()
    expect(page.locator("#preview-customer")).to_have_text("Rosa Amarante")
    expect(body).to_contain_text("Oi Rosa, Controle 8 GB {{cupom}}")
