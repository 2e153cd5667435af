"""Admin: the organisation's audit log ("Auditoria"), filterable, newest first."""

import reflex as rx

from app.audit import labels, queries
from app.auth.permissions import Perm
from app.formatting import datetime_br
from app.pages.base import Events, SessionState, event, page
from components.audit import AuditRow, audit_filters, audit_table
from models.platform import PlatformAudit
from models.tenant import AuditLog


def audit_row(r: AuditLog | PlatformAudit, tz: str, tenant: str = "") -> AuditRow:
    return AuditRow(
        id=str(r.id),
        at=datetime_br(r.at, tz),
        actor=labels.actor_label(r.actor_email, r.action, r.after),
        action=labels.action_label(r.action),
        code=r.action,
        entity=labels.entity_label(r.entity, r.entity_id),
        changes=labels.change_lines(r.before, r.after, tz),
        ip=r.ip or "",
        tenant=tenant,
    )


class AuditState(SessionState):
    rows: list[AuditRow] = []
    _filter: dict[str, str] = {}

    @event
    def load(self) -> Events:
        with self._calling() as call, self.db() as (db, actor):
            f = queries.AuditFilter(
                action=self._filter.get("action") or None,
                entity=self._filter.get("entity") or None,
                actor_email=self._filter.get("actor_email") or None,
            )
            self.rows = [audit_row(r, actor.time_zone) for r in queries.tenant_log(db, actor, f, limit=200)]
        return call.events

    @event
    def apply(self, form: dict[str, str]) -> Events:
        self._filter = {k: form.get(k, "").strip() for k in ("action", "entity", "actor_email")}
        return AuditState.load


@page(
    "/admin/auditoria",
    "Auditoria",
    permission=Perm.AUDIT_READ,
    nav=("Auditoria", "scroll-text", 90),
    on_load=AuditState.load,
)
def audit_page() -> rx.Component:
    return rx.vstack(audit_filters(AuditState.apply), audit_table(AuditState.rows), width="100%", spacing="4")
