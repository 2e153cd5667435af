"""Superadmin: the platform audit log (logins, sign-ups, suspensions of every organisation), filterable."""

import reflex as rx

from app.audit import queries
from app.auth.permissions import Perm
from app.pages.audit import audit_row
from app.pages.base import Events, SessionState, event, page
from components.audit import AuditRow, audit_filters, audit_table


class PlatformAuditState(SessionState):
    rows: list[AuditRow] = []
    _filter: dict[str, str] = {}

    @event
    def load(self) -> Events:
        with self._calling() as call, self.platform_db() as (db, actor):
            f = queries.AuditFilter(
                action=self._filter.get("action") or None,
                entity=self._filter.get("entity") or None,
                actor_email=self._filter.get("actor_email") or None,
            )
            entries = queries.platform_log(db, actor, f, limit=200)
            names = queries.tenant_names(db, actor, {r.tenant_id for r in entries if r.tenant_id is not None})
            self.rows = [
                audit_row(r, actor.time_zone, names.get(r.tenant_id, "") if r.tenant_id is not None else "")
                for r in entries
            ]
        return call.events

    @event
    def apply(self, form: dict[str, str]) -> Events:
        self._filter = {k: form.get(k, "").strip() for k in ("action", "entity", "actor_email")}
        return PlatformAuditState.load


@page(
    "/plataforma/auditoria",
    "Auditoria da plataforma",
    permission=Perm.PLATFORM_AUDIT_READ,
    superadmin=True,
    nav=("Auditoria", "scroll-text", 90),
    on_load=PlatformAuditState.load,
)
def platform_audit_page() -> rx.Component:
    return rx.vstack(
        audit_filters(PlatformAuditState.apply),
        audit_table(PlatformAuditState.rows, show_tenant=True),
        width="100%",
        spacing="4",
    )
