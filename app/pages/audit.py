"""Admin: the organisation's audit log ("Auditoria"), filterable, newest first."""

import json
from typing import Any

import reflex as rx

from app.audit import queries
from app.auth.permissions import Perm
from app.formatting import datetime_br
from app.pages.base import SessionState, page
from components.audit import audit_filters, audit_table


def audit_row(r: Any, tz: str, tenant: str = "") -> dict[str, str]:
    return {
        "id": str(r.id),
        "at": datetime_br(r.at, tz),
        "actor": r.actor_email or "sistema",
        "action": r.action,
        "entity": f"{r.entity} #{r.entity_id}" if r.entity_id else r.entity,
        "before": json.dumps(r.before, ensure_ascii=False)[:400] if r.before else "",
        "after": json.dumps(r.after, ensure_ascii=False)[:400] if r.after else "",
        "ip": r.ip or "",
        "tenant": tenant,
    }


class AuditState(SessionState):
    rows: list[dict[str, str]] = []
    _filter: dict[str, str] = {}

    @rx.event
    def load(self):  # type: ignore[no-untyped-def]
        with self.calling() as call, self.db() as (db, actor):
            f = queries.AuditFilter(**{k: v for k, v in self._filter.items() if v})
            self.rows = [audit_row(r, actor.time_zone) for r in queries.tenant_log(db, actor, f, limit=200)]
        return call.events

    @rx.event
    def apply(self, form: dict[str, str]):  # type: ignore[no-untyped-def]
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
