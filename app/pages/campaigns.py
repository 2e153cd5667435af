"""Campaigns ("Campanhas"): create a mass send to a segment (preview the audience and the message for a
real customer first), watch it live, pause / resume / cancel, download the recipients and outcomes."""

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import reflex as rx

from app.auth import ui_tickets
from app.auth.permissions import Perm
from app.campaigns import retry, service
from app.campaigns.service import CampaignIn, CampaignOut
from app.formatting import datetime_br, number_br
from app.pages.base import Events, SessionState, checked, event, page
from components.forms import field, form_error
from components.modal_form import options_field, textarea_field
from components.progress import progress_bar
from components.types import Option

# The business hours a campaign gets with the checkbox: Brazilian commerce's usual week.
BUSINESS_HOURS = {
    **{d: ["09:00", "18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "sat": ["09:00", "13:00"],
}
MEDIUMS = [Option("whatsapp", "WhatsApp"), Option("email", "E-mail")]
FREE_TEXT = "__texto__"


@dataclass
class CampaignRow:
    id: str = ""
    name: str = ""
    medium: str = ""
    status: str = ""
    status_label: str = ""
    percent: int = 0
    progress_label: str = ""
    sent: str = ""
    delivered: str = ""
    read: str = ""
    failed: str = ""
    skipped: str = ""
    replied: str = ""
    rate: str = ""
    eta: str = ""
    scheduled: str = ""


@dataclass
class FailureButton:
    campaign_id: str = ""
    motivo: str = ""
    label: str = ""
    title: str = ""


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{max(1, minutes)} min"


def _row(c: CampaignOut, tz: str) -> CampaignRow:
    n = c.counts
    return CampaignRow(
        id=str(c.id),
        name=c.nome,
        medium="WhatsApp" if c.medium == "whatsapp" else "E-mail",
        status=c.status,
        status_label=c.status_label,
        percent=int(c.progress * 100),
        progress_label=f"Progresso da campanha {c.nome}",
        sent=number_br(n["sent"]),
        delivered=number_br(n["delivered"]),
        read=number_br(n["read"]),
        failed=number_br(n["failed"]),
        skipped=number_br(n["skipped"]),
        replied=number_br(n["replied"]),
        rate=f"{number_br(c.rate_per_s, 1)}/s" if c.status == "running" else "—",
        eta=_eta(c.eta_s),
        scheduled=datetime_br(c.agendar_para, tz) if c.agendar_para else "",
    )


class CampaignsState(SessionState):
    rows: list[CampaignRow] = []
    failures: list[FailureButton] = []  # one retry button per campaign and failure reason
    polling: bool = False
    form_open: bool = False
    medium: str = "whatsapp"
    channels: list[Option] = []
    templates: list[Option] = []
    segments: list[Option] = []
    errors: dict[str, str] = {}
    error: str = ""
    preview_counts: str = ""
    preview_sample: str = ""
    _all: dict[str, list[dict[str, str]]] = {}
    _previewed: dict[str, Any] = {}

    def _reload(self) -> None:
        with self.db() as (db, actor):
            campaigns = service.list_campaigns(db, actor)
            self.rows = [_row(c, actor.time_zone) for c in campaigns]
            self.failures = [
                FailureButton(
                    campaign_id=str(c.id),
                    motivo=f.motivo,
                    label=f"Reenviar {number_br(f.quantidade)} ({f.motivo})",
                    title=f.descricao,
                )
                for c in campaigns
                if c.counts["failed"] and c.status != "cancelled"
                for f in retry.failure_reasons(db, actor, c.id)
            ]

    @event
    def load(self) -> Events:
        if (failed := self.attempt(self._reload)) is not None:
            return failed
        return CampaignsState.poll if self._live() else None

    def _live(self) -> bool:
        return any(r.status in ("running", "scheduled") for r in self.rows)

    @event(background=True)
    async def poll(self) -> None:
        """Refreshes the counters every two seconds while a campaign is sending or scheduled."""
        async with self:
            if self.polling:
                return
            self.polling = True
        try:
            while True:
                await asyncio.sleep(2.0)
                async with self:
                    with self._calling(quiet=True) as call:
                        self._reload()
                    if call.failed or not self._live():
                        return
        finally:
            async with self:
                self.polling = False

    # ---- new campaign -----------------------------------------------------------------------
    def _options(self) -> None:
        pick = self._all
        self.channels = [
            Option(c["value"], c["label"]) for c in pick["channels"] if c["medium"] == self.medium
        ]
        self.templates = [Option(FREE_TEXT, "Texto livre (sem modelo)")] + [
            Option(t["value"], t["label"]) for t in pick["templates"] if t["medium"] == self.medium
        ]

    @event
    def open_form(self) -> Events:
        with self._calling() as call, self.db() as (db, actor):
            options = service.sending_options(db, actor)
        if call.failed:
            return call.events
        self._all = {
            "channels": [c.model_dump() for c in options.channels],
            "templates": [t.model_dump() for t in options.templates],
        }
        self.segments = [Option(s.value, s.label) for s in options.segments]
        self.medium, self.errors, self.error = "whatsapp", {}, ""
        self.preview_counts = self.preview_sample = ""
        self._previewed = {}
        self._options()
        self.form_open = True
        return None

    @event
    def set_form_open(self, open_: bool) -> None:
        self.form_open = open_

    @event
    def set_medium(self, medium: str) -> None:
        self.medium = medium if medium in ("whatsapp", "email") else "whatsapp"
        self._previewed = {}
        self.preview_counts = self.preview_sample = ""
        self._options()

    def _data(self, form: dict[str, Any]) -> CampaignIn:
        template = form.get("template_id") or ""
        when = (form.get("agendar_para") or "").strip()
        cap = (form.get("limite_diario") or "").strip()
        segment = form.get("segment_id") or ""
        return CampaignIn(
            nome=form.get("nome", ""),
            canal_id=int(form["canal_id"]) if (form.get("canal_id") or "").isdigit() else None,
            template_id=int(template) if template.isdigit() else None,
            corpo=(form.get("corpo") or None) if not template.isdigit() else None,
            assunto=(form.get("assunto") or None),
            segment_id=int(segment) if segment.isdigit() else None,
            agendar_para=datetime.fromisoformat(when) if when else None,
            janela=BUSINESS_HOURS if checked(form, "horario_comercial") else {},
            limite_diario=int(cap) if cap.isdigit() else None,
        )

    @event
    def submit(self, form: dict[str, Any]) -> Events:
        """First submit previews (audience counts and the message for a real customer); submitting the
        same form again creates the campaign."""
        self.errors, self.error = {}, ""
        confirmed = bool(self._previewed) and form == self._previewed
        with self._calling(fields="errors", message="error") as call, self.db() as (db, actor):
            data = self._data(form)
            if not confirmed:
                preview = service.preview(db, actor, self.medium, data)
            else:
                created = service.create_campaign(db, actor, self.medium, data)
        if call.failed:
            self._previewed = {}
            return call.events
        if not confirmed:
            n = preview.counts
            self.preview_counts = (
                f"{number_br(n['pending'])} de {number_br(n['total'])} clientes receberão; "
                f"{number_br(n['skipped_opted_out'])} descadastrados e "
                f"{number_br(n['skipped_no_contact'])} sem contato ficam de fora."
            )
            sample = preview.sample or {}
            self.preview_sample = (
                f"Para {sample.get('para')}: {sample.get('mensagem')}" if sample else "Ninguém para receber."
            )
            self._previewed = dict(form)
            return None
        self.form_open = False
        self._reload()
        label = "agendada" if created.status == "scheduled" else "iniciada"
        return [rx.toast.success(f"Campanha {label}."), CampaignsState.poll]

    # ---- actions --------------------------------------------------------------------------
    def _act(self, action: str, row_id: str) -> Events:
        with self._calling() as call, self.db() as (db, actor):
            getattr(service, action)(db, actor, int(row_id))
        if call.failed:
            return call.events
        self._reload()
        done = {"pause": "Campanha pausada.", "resume": "Campanha retomada.", "cancel": "Campanha cancelada."}
        return [rx.toast.success(done[action]), CampaignsState.poll]

    @event
    def pause(self, row_id: str) -> Events:
        return self._act("pause", row_id)

    @event
    def resume(self, row_id: str) -> Events:
        return self._act("resume", row_id)

    @event
    def cancel(self, row_id: str) -> Events:
        return self._act("cancel", row_id)

    @event
    def retry(self, row_id: str, reason: str) -> Events:
        """Re-queue the campaign's failed sends of one reason (never sent or uncertain ones)."""
        with self._calling() as call, self.db() as (db, actor):
            out = retry.retry_failed(db, actor, int(row_id), reason or None)
        if call.failed:
            return call.events
        self._reload()
        return [
            rx.toast.success(f"Falhas reenviadas; a campanha está {out.status_label.lower()}."),
            CampaignsState.poll,
        ]

    @event
    def download(self, row_id: str) -> Events:
        """The recipients CSV, streamed by the REST route's code through a one-minute ticket."""
        with self._calling() as call:
            actor = self.actor()
            actor.require(Perm.CAMPAIGNS_MANAGE)
            ticket = ui_tickets.issue(
                self._ui_key or "", actor.user_id or 0, ui_tickets.CAMPAIGN_RECIPIENTS, {"id": int(row_id)}
            )
        if call.failed:
            return call.events
        return rx.download(
            url=f"/api/ui/campanhas/destinatarios/{ticket}", filename=f"campanha-{row_id}-destinatarios.csv"
        )


def _status_badge(row: Any) -> rx.Component:
    color = rx.match(
        row.status,
        ("running", "green"),
        ("scheduled", "blue"),
        ("paused", "amber"),
        ("cancelled", "gray"),
        ("done", "purple"),
        "gray",
    )
    return rx.badge(row.status_label, color_scheme=color, variant="soft")


def _actions(row: Any) -> rx.Component:
    return rx.hstack(
        rx.cond(
            (row.status == "running") | (row.status == "scheduled"),
            rx.button(
                "Pausar",
                size="1",
                variant="soft",
                on_click=CampaignsState.pause(row.id),
                id="pause-" + row.id,
            ),
        ),
        rx.cond(
            row.status == "paused",
            rx.button(
                "Retomar",
                size="1",
                variant="soft",
                on_click=CampaignsState.resume(row.id),
                id="resume-" + row.id,
            ),
        ),
        rx.cond(
            (row.status != "done") & (row.status != "cancelled"),
            rx.button(
                "Cancelar",
                size="1",
                variant="soft",
                color_scheme="red",
                on_click=CampaignsState.cancel(row.id),
                id="cancel-" + row.id,
            ),
        ),
        rx.button(
            "CSV",
            size="1",
            variant="outline",
            on_click=CampaignsState.download(row.id),
            aria_label="Baixar destinatários (CSV)",
        ),
        rx.foreach(
            CampaignsState.failures,
            lambda f: rx.cond(
                f.campaign_id == row.id,
                rx.button(
                    f.label,
                    size="1",
                    variant="soft",
                    color_scheme="orange",
                    title=f.title,
                    on_click=CampaignsState.retry(row.id, f.motivo),
                    class_name="retry-failed",
                ),
            ),
        ),
        spacing="1",
        wrap="wrap",
    )


def _table() -> rx.Component:
    def line(row: Any) -> rx.Component:
        return rx.table.row(
            rx.table.cell(
                rx.vstack(
                    rx.text(row.name, weight="medium"),
                    rx.text(row.medium, size="1", color_scheme="gray"),
                    spacing="0",
                )
            ),
            rx.table.cell(_status_badge(row)),
            rx.table.cell(
                progress_bar(row.percent, label=row.progress_label, id="progress-" + row.id),
                min_width="160px",
            ),
            rx.table.cell(
                rx.text(
                    row.sent,
                    " enviadas · ",
                    row.delivered,
                    " entregues · ",
                    row.read,
                    " lidas · ",
                    row.replied,
                    " respostas · ",
                    row.failed,
                    " falhas · ",
                    row.skipped,
                    " ignoradas",
                    size="1",
                ),
            ),
            rx.table.cell(rx.text(row.rate, " · ", row.eta, size="1")),
            rx.table.cell(_actions(row)),
            id="campaign-" + row.id,
        )

    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[
                    rx.table.column_header_cell(h)
                    for h in ("Campanha", "Status", "Progresso", "Resultados", "Ritmo", "Ações")
                ]
            )
        ),
        rx.table.body(rx.foreach(CampaignsState.rows, line)),
        width="100%",
        variant="surface",
    )


def _form() -> rx.Component:
    s = CampaignsState
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Nova campanha"),
            rx.form(
                rx.vstack(
                    field("Nome", "nome", s.errors.get("nome", "")),
                    options_field("Meio", "medium", MEDIUMS, value=s.medium, on_change=s.set_medium),
                    options_field("Canal de envio", "canal_id", s.channels, s.errors.get("canal_id", "")),
                    options_field(
                        "Modelo",
                        "template_id",
                        s.templates,
                        s.errors.get("template_id", ""),
                        default=FREE_TEXT,
                    ),
                    rx.cond(s.medium == "email", field("Assunto", "assunto", s.errors.get("assunto", ""))),
                    textarea_field(
                        "Mensagem (sem modelo; use {{primeiro_nome}}, {{plano_atual}}…)",
                        "corpo",
                        s.errors.get("corpo", ""),
                        rows="4",
                    ),
                    options_field(
                        "Público (segmento)", "segment_id", s.segments, s.errors.get("segment_id", "")
                    ),
                    field(
                        "Agendar para (opcional)",
                        "agendar_para",
                        s.errors.get("agendar_para", ""),
                        type="datetime-local",
                    ),
                    rx.el.label(
                        rx.hstack(
                            rx.checkbox(name="horario_comercial", id="horario_comercial"),
                            rx.text("Só em horário comercial (seg–sex 09h–18h, sáb 09h–13h)", size="2"),
                            spacing="2",
                        ),
                        html_for="horario_comercial",
                    ),
                    field(
                        "Limite diário (opcional)",
                        "limite_diario",
                        s.errors.get("limite_diario", ""),
                        type="number",
                        min="1",
                    ),
                    rx.cond(
                        s.preview_counts != "",
                        rx.callout(
                            rx.vstack(
                                rx.text(s.preview_counts), rx.text(s.preview_sample, size="1"), spacing="1"
                            ),
                            icon="users",
                            color_scheme="blue",
                            id="campaign-preview",
                            width="100%",
                        ),
                    ),
                    form_error(s.error),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancelar", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button(
                            rx.cond(s.preview_counts != "", "Confirmar e enviar", "Pré-visualizar"),
                            type="submit",
                            id="campaign-submit",
                        ),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=s.submit,
                reset_on_submit=False,
                no_validate=True,
                id="campaign-form",
            ),
            max_width="560px",
        ),
        open=s.form_open,
        on_open_change=s.set_form_open,
    )


@page(
    "/campanhas",
    "Campanhas",
    permission=Perm.CAMPAIGNS_MANAGE,
    nav=("Campanhas", "megaphone", 35),
    on_load=CampaignsState.load,
)
def campaigns_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.spacer(),
            rx.button(rx.icon("plus"), "Nova campanha", on_click=CampaignsState.open_form, id="new-campaign"),
            width="100%",
            align="center",
        ),
        rx.text(
            "Envios em massa por WhatsApp e e-mail, no ritmo que cada número aguenta, "
            "sem repetir nem perder ninguém.",
            color_scheme="gray",
            size="2",
        ),
        rx.cond(
            CampaignsState.rows.length() > 0,  # type: ignore[attr-defined]
            rx.box(_table(), overflow_x="auto", width="100%"),
            rx.callout("Nenhuma campanha ainda.", icon="info", width="100%"),
        ),
        _form(),
        spacing="4",
        width="100%",
    )
