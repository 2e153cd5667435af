"""Admin: "Monitoramento" — the task queue and its workers, the outbox, every sending identity's usage
against its limits and its state, and each e-mail domain's bounce and complaint rates per day."""

from dataclasses import dataclass
from typing import Any

import reflex as rx

from app.auth.permissions import Perm
from app.formatting import number_br
from app.messaging import health
from app.pages.base import Events, SessionState, event, page


@dataclass
class IdentityRow:
    name: str = ""
    kind: str = ""
    status: str = ""
    detail: str = ""
    usage: str = ""
    limits: str = ""
    health: str = ""
    health_detail: str = ""


@dataclass
class DomainRow:
    day: str = ""
    domain: str = ""
    sent: str = ""
    bounce: str = ""
    complaint: str = ""
    bounce_pct: float = 0.0
    complaint_pct: float = 0.0


def _pct(share: float, digits: int = 1) -> str:
    return f"{share * 100:.{digits}f}".replace(".", ",") + " %"


def _health_detail(i: health.IdentityHealth) -> str:
    parts = []
    if i.meta_limit:
        parts.append(f"Meta: {i.meta_limit}")
    if i.failure_rate is not None:
        parts.append(f"falhas {_pct(i.failure_rate)}")
    return " · ".join(parts)


def _limits(i: health.IdentityHealth) -> str:
    parts = []
    if i.rate_per_s:
        parts.append(f"{number_br(i.rate_per_s, 1)}/s")
    if i.daily_cap:
        parts.append(f"{number_br(i.daily_cap)} por 24 h")
    if i.tier:
        parts.append(f"{number_br(i.tier)} destinatários por 24 h")
    return " · ".join(parts) or "sem limite"


class MonitoringState(SessionState):
    queue: str = ""
    workers: str = ""
    outbox: str = ""
    campaigns: str = ""
    identities: list[IdentityRow] = []
    domains: list[DomainRow] = []
    chart: list[dict[str, Any]] = []  # recharts takes plain dicts

    def _reload(self) -> None:
        with self.db() as (db, actor):
            snap = health.snapshot(db, actor)
        pending = "—" if snap.queue_pending is None else number_br(snap.queue_pending)
        self.queue = f"{pending} tarefas na fila ({snap.queue_backend})"
        self.workers = (
            "processo do app (modo embutido)" if snap.workers is None else f"{len(snap.workers)} ativos"
        )
        o = snap.outbox
        self.outbox = (
            f"{number_br(o['queued'])} na fila · {number_br(o['reserved'])} em envio · "
            f"{number_br(o['uncertain'])} incertas"
        )
        self.campaigns = f"{number_br(snap.campaigns_running)} em andamento ou agendadas"
        self.identities = [
            IdentityRow(
                name=i.name,
                kind=i.kind_label,
                status="Pausado" if i.paused or i.status == "paused" else i.status.capitalize(),
                detail=i.paused or i.status_detail,
                usage=f"{number_br(i.sends_24h)} envios · {number_br(i.unique_recipients_24h)} destinatários",
                limits=_limits(i),
                health=i.health_label or "—",
                health_detail=_health_detail(i),
            )
            for i in snap.identities
        ]
        self.domains = [
            DomainRow(
                day=d.day.strftime("%d/%m"),
                domain=d.domain,
                sent=number_br(d.sent),
                bounce=_pct(d.bounce_rate),
                complaint=_pct(d.complaint_rate, 2),
                bounce_pct=round(d.bounce_rate * 100, 2),
                complaint_pct=round(d.complaint_rate * 100, 3),
            )
            for d in snap.domains
        ]
        self.chart = [
            {"day": r.day, "bounce_pct": r.bounce_pct, "complaint_pct": r.complaint_pct} for r in self.domains
        ]

    @event
    def load(self) -> Events:
        return self.attempt(self._reload)


def _card(title: str, value: rx.Var[str] | str, id_: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(title, size="1", color_scheme="gray"), rx.text(value, weight="medium"), spacing="1"
        ),
        id=id_,
        min_width="220px",
    )


def _identities() -> rx.Component:
    def line(row: IdentityRow) -> rx.Component:
        return rx.table.row(
            rx.table.cell(
                rx.vstack(rx.text(row.name), rx.text(row.kind, size="1", color_scheme="gray"), spacing="0")
            ),
            rx.table.cell(
                rx.vstack(
                    rx.text(row.status), rx.text(row.detail, size="1", color_scheme="gray"), spacing="0"
                )
            ),
            rx.table.cell(
                rx.vstack(
                    rx.text(row.health),
                    rx.text(row.health_detail, size="1", color_scheme="gray"),
                    spacing="0",
                )
            ),
            rx.table.cell(row.usage),
            rx.table.cell(row.limits),
        )

    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[
                    rx.table.column_header_cell(h)
                    for h in ("Identidade", "Estado", "Saúde", "Últimas 24 h", "Limites")
                ]
            )
        ),
        rx.table.body(rx.foreach(MonitoringState.identities, line)),
        width="100%",
        variant="surface",
        id="identities",
    )


def _domains() -> rx.Component:
    return rx.vstack(
        rx.recharts.line_chart(
            rx.recharts.line(data_key="bounce_pct", name="Devoluções (%)", stroke="#660098"),
            rx.recharts.line(data_key="complaint_pct", name="Reclamações (%)", stroke="#d97706"),
            rx.recharts.x_axis(data_key="day"),
            rx.recharts.y_axis(),
            rx.recharts.legend(),
            rx.recharts.graphing_tooltip(),
            data=MonitoringState.chart,
            width="100%",
            height=240,
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Dia", "Domínio", "Enviados", "Devoluções", "Reclamações")
                    ]
                )
            ),
            rx.table.body(
                rx.foreach(
                    MonitoringState.domains,
                    lambda d: rx.table.row(
                        rx.table.cell(d.day),
                        rx.table.cell(d.domain),
                        rx.table.cell(d.sent),
                        rx.table.cell(d.bounce),
                        rx.table.cell(d.complaint),
                    ),
                )
            ),
            width="100%",
            variant="surface",
            id="domains",
        ),
        width="100%",
    )


@page(
    "/admin/monitoramento",
    "Monitoramento",
    permission=Perm.SETTINGS_MANAGE,
    nav=("Monitoramento", "activity", 95),
    on_load=MonitoringState.load,
)
def monitoring_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            _card("Fila de tarefas", MonitoringState.queue, "queue"),
            _card("Workers", MonitoringState.workers, "workers"),
            _card("Saída de mensagens", MonitoringState.outbox, "outbox"),
            _card("Campanhas", MonitoringState.campaigns, "campaigns"),
            rx.button(rx.icon("refresh-cw"), "Atualizar", on_click=MonitoringState.load, variant="soft"),
            wrap="wrap",
            spacing="3",
            align="center",
        ),
        rx.heading("Identidades de envio", as_="h2", size="4"),
        rx.box(_identities(), overflow_x="auto", width="100%"),
        rx.heading("Reputação de e-mail por domínio (14 dias)", as_="h2", size="4"),
        rx.cond(
            MonitoringState.domains.length() > 0,  # type: ignore[attr-defined]
            _domains(),
            rx.text("Nenhum e-mail enviado nos últimos 14 dias.", color_scheme="gray"),
        ),
        spacing="4",
        width="100%",
    )
