"""The list of routers the REST app serves, one module per domain; add a module's router here."""

from fastapi import APIRouter

from app.api.appointments import router as appointments_router
from app.api.attachments import router as attachments_router
from app.api.auth import router as auth_router
from app.api.campaigns import router as campaigns_router
from app.api.channel_sessions import router as channel_sessions_router
from app.api.channels import router as channels_router
from app.api.cloud_templates import router as cloud_templates_router
from app.api.conversations import router as conversations_router
from app.api.custom_fields import router as custom_fields_router
from app.api.customers import router as customers_router
from app.api.home import router as home_router
from app.api.imports import router as imports_router
from app.api.kanban import router as kanban_router
from app.api.messages import router as messages_router
from app.api.metrics import router as metrics_router
from app.api.notifications import router as notifications_router
from app.api.opportunities import router as opportunities_router
from app.api.platform import router as platform_router
from app.api.privacy import router as privacy_router
from app.api.scheduled import router as scheduled_router
from app.api.segments import router as segments_router
from app.api.tags import router as tags_router
from app.api.templates import router as templates_router
from app.api.tenant_admin import router as tenant_admin_router
from app.api.ui_downloads import router as ui_downloads_router
from app.api.ui_session import router as ui_session_router
from app.api.unsubscribe import router as unsubscribe_router
from app.api.wallets import router as wallets_router
from app.api.webhooks_resend import router as webhooks_resend_router
from app.api.webhooks_whatsapp import router as webhooks_whatsapp_router

ALL: list[APIRouter] = [
    auth_router,
    tenant_admin_router,
    platform_router,
    customers_router,
    home_router,
    appointments_router,
    opportunities_router,
    kanban_router,
    conversations_router,
    channels_router,
    messages_router,
    privacy_router,
    attachments_router,
    campaigns_router,
    scheduled_router,
    metrics_router,
    tags_router,
    wallets_router,
    custom_fields_router,
    segments_router,
    templates_router,
    imports_router,
    notifications_router,
    ui_session_router,
    ui_downloads_router,
    channel_sessions_router,
    cloud_templates_router,
    webhooks_whatsapp_router,
    webhooks_resend_router,
    unsubscribe_router,
]
