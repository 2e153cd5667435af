"""Campaigns ("Campanhas"): create a mass send to a segment (preview the audience and the message for a
real customer first), watch it live, pause / resume / cancel, download the recipients and outcomes."""

import asyncio
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import reflex as rx

from app.audit.log import record
from app.auth import ui_tickets
from app.auth.permissions import Perm
from app.campaigns import lists, retry, service
from app.campaigns.service import CampaignIn, CampaignOut
from app.errors import TooLarge
from app.formatting import datetime_br, number_br
from app.messaging import attachments
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
LIST_UPLOAD_ID = "campaign-list-upload"
LIST_MAX_BYTES = lists.MAX_BYTES
ATTACHMENT_UPLOAD_ID = "campaign-attachment-upload"
LIST_ACCEPT = {
    "text/csv": [".csv", ".txt"],
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": [".xlsx"],
}


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
    list_id: str = ""  # an uploaded list replaces the segment as the audience
    list_summary: str = ""
    list_problems: list[str] = []
    attachment_key: str = ""
    attachment_name: str = ""
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
                # Grouping the failures reads the campaign's messages: done while it is paused or done,
                # not on every refresh of a large campaign that is still sending.
                if c.counts["failed"] and c.status in ("paused", "done")
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
        self.list_id = self.list_summary = self.attachment_key = self.attachment_name = ""
        self.list_problems = []
        self._previewed = {}
        self._options()
        self.form_open = True
        return None

    @event
    async def upload_list(self, files: list[rx.UploadFile]) -> Events:
        """A CSV/XLSX of CPF/CNPJ, phones or e-mails becomes the audience (matched within the user's
        portfolio); what did not match is counted and listed."""
        if not files:
            return None
        with tempfile.TemporaryDirectory(prefix="crm-list-") as tmp:
            path = Path(tmp) / "upload"
            with path.open("wb") as out:
                shutil.copyfileobj(files[0].file, out)
            with self._calling() as call, self.db() as (db, actor):
                if path.stat().st_size > LIST_MAX_BYTES:
                    raise TooLarge(f"Lista grande demais: o limite é {LIST_MAX_BYTES // (1024 * 1024)} MB.")
                got = lists.upload_list(db, actor, files[0].name or "lista.csv", path)
        if call.failed:
            return call.events
        self.list_id = str(got.id)
        self.list_summary = (
            f"{got.arquivo}: {number_br(got.encontrados)} clientes encontrados em {number_br(got.linhas)} "
            f"linhas; {number_br(got.nao_encontrados)} não encontrados, "
            f"{number_br(got.invalidos)} inválidos, {number_br(got.repetidos)} repetidos."
        )
        self.list_problems = [
            f"Linha {p.linha}: {p.valor or '(vazia)'} — {p.motivo}" for p in got.problemas[:20]
        ]
        self._previewed = {}
        self.preview_counts = self.preview_sample = ""
        return None

    @event
    def clear_list(self) -> None:
        self.list_id = self.list_summary = ""
        self.list_problems = []
        self._previewed = {}
        self.preview_counts = self.preview_sample = ""

    @event
    async def upload_attachment(self, files: list[rx.UploadFile]) -> Events:
        """The one file sent with every message (image or document on WhatsApp, attached to e-mail)."""
        if not files:
            return None
        data = files[0].file.read(attachments.MAX_BYTES + 1)
        with self._calling() as call, self.db() as (db, actor):
            actor.require(Perm.CAMPAIGNS_MANAGE)
            if len(data) > attachments.MAX_BYTES:
                raise TooLarge(
                    f"Arquivo grande demais: o limite é {attachments.MAX_BYTES // (1024 * 1024)} MB."
                )
            ref = attachments.store(actor.schema or "", files[0].name or "arquivo", data)
            record(db, actor, "attachment.upload", "attachment", ref["key"], None, ref)
        if call.failed:
            return call.events
        self.attachment_key, self.attachment_name = ref["key"], ref["filename"]
        self._previewed = {}
        return None

    @event
    def clear_attachment(self) -> None:
        self.attachment_key = self.attachment_name = ""
        self._previewed = {}

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
            segment_id=int(segment) if segment.isdigit() and not self.list_id else None,
            lista_id=int(self.list_id) if self.list_id else None,
            anexo=self.attachment_key or None,
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
            if preview.lista is not None:
                self.preview_counts += (
                    f" Da lista, {number_br(preview.lista.nao_encontrados + preview.lista.invalidos)} "
                    "linhas ficaram de fora (veja abaixo)."
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


def _drop_section(
    label: str,
    prompt: str,
    upload_id: str,
    on_drop: Any,
    empty: rx.Var[bool] | bool,
    chosen: rx.Component,
    **upload: Any,
) -> rx.Component:
    """One file for the campaign form: a drop zone until it is uploaded, then what was made of it."""
    return rx.vstack(
        rx.text(label, size="2", weight="medium"),
        rx.cond(
            empty,
            rx.upload(
                rx.text(prompt, size="2", color_scheme="gray"),
                id=upload_id,
                max_files=1,
                multiple=False,
                on_drop=on_drop,
                border="1px dashed var(--gray-7)",
                padding="0.75em",
                width="100%",
                **upload,
            ),
            chosen,
        ),
        spacing="1",
        width="100%",
    )


def _list_upload() -> rx.Component:
    s = CampaignsState
    summary = rx.callout(
        rx.vstack(
            rx.text(s.list_summary),
            rx.foreach(s.list_problems, lambda p: rx.text(p, size="1")),
            rx.button(
                "Usar segmento em vez da lista",
                size="1",
                variant="soft",
                type="button",
                on_click=CampaignsState.clear_list,
            ),
            spacing="1",
        ),
        icon="list",
        color_scheme="gray",
        id="campaign-list",
        width="100%",
    )
    return _drop_section(
        "Ou público por lista (CSV/XLSX com CPF/CNPJ, telefone ou e-mail)",
        "Escolha ou arraste a lista aqui",
        LIST_UPLOAD_ID,
        CampaignsState.upload_list,
        s.list_id == "",
        summary,
        accept=LIST_ACCEPT,
    )


def _attachment_upload() -> rx.Component:
    s = CampaignsState
    chosen = rx.hstack(
        rx.icon("paperclip", size=16),
        rx.text(s.attachment_name, size="2", id="campaign-attachment"),
        rx.button(
            "Remover",
            size="1",
            variant="soft",
            type="button",
            on_click=CampaignsState.clear_attachment,
        ),
        align="center",
        spacing="2",
    )
    return _drop_section(
        "Anexo (opcional: imagem, PDF ou documento enviado com cada mensagem)",
        "Escolha ou arraste o arquivo aqui",
        ATTACHMENT_UPLOAD_ID,
        CampaignsState.upload_attachment,
        s.attachment_key == "",
        chosen,
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
                    rx.cond(
                        s.list_id == "",
                        options_field(
                            "Público (segmento)", "segment_id", s.segments, s.errors.get("segment_id", "")
                        ),
                    ),
                    _list_upload(),
                    _attachment_upload(),
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
