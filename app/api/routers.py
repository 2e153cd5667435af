"""The list of routers the REST app serves; add a module's router here."""

from fastapi import APIRouter

from app.api.auth import router as auth_router
from app.api.customers import router as customers_router
from app.api.imports import router as imports_router
from app.api.notifications import router as notifications_router
from app.api.platform import router as platform_router
from app.api.tenant_admin import router as tenant_admin_router
from app.api.ui_downloads import router as ui_downloads_router
from app.api.ui_session import router as ui_session_router
from app.api.workspace import router as workspace_router

ALL: list[APIRouter] = [
    auth_router,
    tenant_admin_router,
    platform_router,
    customers_router,
    workspace_router,
    imports_router,
    notifications_router,
    ui_session_router,
    ui_downloads_router,
]
