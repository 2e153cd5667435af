"""The Reflex app: theme, pages, and the REST API mounted through api_transformer."""

import gc

import reflex as rx

from app.api import api

# Screens register themselves with @page on import (the names are unused on purpose).
from app.pages import (  # noqa: F401
    agenda,
    audit,
    campaigns,
    channel_session,
    channels,
    custom_fields,
    customer,
    customers,
    home,
    imports,
    inbox,
    kanban,
    monitoring,
    platform,
    platform_audit,
    segments,
    tags,
    templates,
    users,
    wallets,
)
from app.pages.base import PAGES, handle_exception
from app.pages.login import (
    ConfirmSignupState,
    LoginState,
    SignupState,
    confirm_signup_page,
    login_page,
    signup_page,
)
from app.pages.not_found import TITLE as NOT_FOUND_TITLE
from app.pages.not_found import not_found_page
from app.security.ui_socket import socket_guard
from app.settings import get_settings
from components.theme import STYLE

app = rx.App(
    style=STYLE,
    html_lang="pt-BR",
    # The REST app mounts Reflex's backend; the guard then checks the websocket's handshake (Origin,
    # browser binding) before Reflex sends a tab any state.
    api_transformer=[api, socket_guard],
    backend_exception_handler=handle_exception,
    head_components=[rx.el.link(rel="icon", href="/favicon.svg", type="image/svg+xml")],
    # Focus ring, screen-reader-only text and the phone layout (items 8 and 9 of issue 14).
    stylesheets=["/a11y.css"],
)
app.add_page(login_page, route="/", title="Entrar · CRM Telecom", on_load=LoginState.redirect_if_logged_in)
app.add_page(
    signup_page, route="/cadastro", title="Criar organização · CRM Telecom", on_load=SignupState.reset_form
)
app.add_page(
    confirm_signup_page,
    route="/cadastro/confirmar",
    title="Confirmar cadastro · CRM Telecom",
    on_load=ConfirmSignupState.confirm,
)
for render, route, title, on_load in PAGES:
    app.add_page(render, route=route, title=title, on_load=on_load)
# Reflex serves the "404" route for every unknown address.
app.add_page(
    not_found_page,
    route="404",
    title=f"{NOT_FOUND_TITLE} · CRM Telecom",
    description="Página não encontrada",
)

if not get_settings().redis_url:
    # Embedded mode has no taskiq worker or scheduler process: the backend sweeps reminders and purges
    # abandoned uploads itself, and resumes imports that died.
    from tasks.campaigns import sweep_loop as campaign_loop
    from tasks.imports import purge_loop, recover_loop
    from tasks.messaging import outbox_loop
    from tasks.notifications import reminder_loop
    from tasks.platform import purge_unconfirmed_loop
    from tasks.scheduled import sweep_loop as scheduled_loop

    app.register_lifespan_task(reminder_loop)
    app.register_lifespan_task(purge_loop)
    app.register_lifespan_task(purge_unconfirmed_loop)
    app.register_lifespan_task(outbox_loop)  # outbox: expired leases, retries, lost kicks
    app.register_lifespan_task(recover_loop)  # imports that died with the previous process resume
    app.register_lifespan_task(campaign_loop)  # scheduled campaigns, business hours, lost kicks
    app.register_lifespan_task(scheduled_loop)  # scheduled messages, follow-ups, recurring sends

# Everything imported so far (Reflex, SQLAlchemy, pydantic schemas, the pages) lives as long as the
# process: moved out of the collector's generations, full collections stop re-scanning ~160k objects,
# which showed up as single 100-290 ms pauses on otherwise 2-5 ms list requests.
gc.freeze()
