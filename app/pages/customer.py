"""Customer profile: header with contacts and opt-out badges, editable fields (incl. custom fields),
the central timeline (newest first, infinite scroll, kind filter), the conversation side panel (a chat:
messages with status ticks that move live, reply through a chosen channel) and the quick actions (send
WhatsApp / e-mail, schedule a message, note, follow-up, opportunity, resolve, assign), with the
customer's scheduled messages still to go."""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import InvalidOperation
from typing import Any

import reflex as rx

from app import live
from app.auth import ui_tickets
from app.auth.permissions import Perm
from app.crm import appointments, contacts, conversations, customers, notes, opportunities, timeline
from app.crm import templates as template_service
from app.crm.customers import STATUSES, CustomerUpdate
from app.crm.visibility import assignable_users
from app.formatting import bytes_br, contact_br, datetime_br, document_br, label, money_from_br
from app.messaging import attachments, channels, inbound, scheduling, sending
from app.pages.base import Events, SessionState, checked, event, page
from components.forms import field
from components.modal_form import attachment_picker, modal_form, options_field, textarea_field
from components.timeline import AttachmentView, MessageRow, TimelineRow, message_bubble
from components.timeline import timeline as timeline_view
from components.types import Option, array_var

ALL = "__all__"
WA_FILE_ID, EMAIL_FILE_ID = "wa-file", "email-file"
_READ_CHUNK = 1024 * 1024
# The open conversation polls its customer's live revision this often, for at most this many rounds.
WATCH_EVERY_S = 2.0
WATCH_ROUNDS = 1_800
KIND_OPTIONS = [Option(k, v) for k, v in timeline.KIND_LABELS.items()]
STATUS_OPTIONS = [Option(k, v) for k, v in STATUSES.items()]
MESSAGE_STATUSES = {
    "queued": "Na fila",
    "reserved": "Enviando",
    "sent": "Enviada",
    "delivered": "Entregue",
    "read": "Lida",
    "uncertain": "Sem confirmação",
    "failed": "Falhou",
    "skipped": "Não enviada",
    "received": "Recebida",
}


def _stages(pipeline: dict[str, object]) -> list[dict[str, object]]:
    stages = pipeline["stages"]
    return stages if isinstance(stages, list) else []


def _when(at: datetime, tz: str) -> str:
    return datetime_br(at, tz)


@dataclass
class ContactRow:
    id: str
    kind: str
    value: str
    opt_out: bool


@dataclass
class ScheduledRow:
    id: str
    when: str
    medium: str
    text: str
    detail: str  # recurrence and follow-up, in pt-BR
    # what the edit dialog starts from (wall-clock in the organisation's zone)
    date: str = ""
    time: str = ""
    body: str = ""
    subject: str = ""
    template: bool = False


REPEAT_OPTIONS = [
    Option("", "Não repetir"),
    Option("diaria", "Todo dia"),
    Option("semanal", "Toda semana"),
    Option("mensal", "Todo mês"),
]
MEDIUM_OPTIONS = [Option("whatsapp", "WhatsApp"), Option("email", "E-mail")]
# Select items cannot carry an empty value: these stand for "no template" and "the medium's default".
FREE_TEXT = "__texto__"
DEFAULT_CHANNEL = "__padrao__"
_TEMPLATE_DIALOGS = frozenset({"whatsapp", "email", "scheduled"})


def _picked(form: dict[str, Any], name: str) -> int | None:
    """A select's chosen id, or None for its sentinel (free text, default channel) or nothing chosen."""
    value = str(form.get(name) or "")
    return int(value) if value.isdigit() else None


_REPEAT_LABELS = {"daily": "todo dia", "weekly": "toda semana", "monthly": "todo mês"}


def _scheduled_row(x: scheduling.ScheduledOut) -> ScheduledRow:
    parts = []
    if x.recorrencia:
        parts.append("Repete " + _REPEAT_LABELS.get(str(x.recorrencia.get("freq")), ""))
    if x.se_sem_resposta:
        parts.append("só se o cliente não responder")
    text = x.assunto or x.texto or (f"Modelo #{x.template_id}" if x.template_id else "")
    return ScheduledRow(
        id=str(x.id),
        when=x.agendar_para_local.strftime("%d/%m/%Y %H:%M"),
        medium=sending.MEDIUM_LABELS.get(x.medium, x.medium),
        text=text if len(text) <= 120 else text[:117] + "...",
        detail=" · ".join(parts),
        date=x.agendar_para_local.strftime("%Y-%m-%d"),
        time=x.agendar_para_local.strftime("%H:%M"),
        body=x.texto or "",
        subject=x.assunto or "",
        template=x.template_id is not None,
    )


@dataclass
class CustomFieldRow:
    key: str
    label: str
    type: str
    value: str


class CustomerState(SessionState):
    customer_id: int = 0
    header: dict[str, str] = {}
    contacts: list[ContactRow] = []
    custom: list[CustomFieldRow] = []
    items: list[TimelineRow] = []
    kind: str = ALL
    cursor: str = ""
    tz: str = "America/Sao_Paulo"
    owner_options: list[Option] = []
    stage_options: list[Option] = []
    # side panel
    panel_open: bool = False
    conversation: dict[str, str] = {}
    messages: list[MessageRow] = []
    # Channels the actor may send with, per medium (the first is the default); the reply's picker.
    wa_channels: list[Option] = []
    email_channels: list[Option] = []
    reply_channels: list[Option] = []
    # Templates per medium for the send and schedule dialogs, "free text" first; every usable channel
    # (the schedule dialog's picker), "the medium's default" first.
    wa_templates: list[Option] = []
    email_templates: list[Option] = []
    any_channels: list[Option] = []
    all_templates: list[Option] = []
    _schema: str = ""
    _seen_revision: int = 0
    _watch_id: str = ""
    # this customer's scheduled messages still to go
    scheduled: list[ScheduledRow] = []
    editing: ScheduledRow = ScheduledRow("", "", "", "", "")  # the one open in the edit dialog
    # dialogs: "" | note | followup | opportunity | edit | assign | scheduled
    dialog: str = ""
    errors: dict[str, str] = {}
    error: str = ""
    # The file chosen in a send dialog ({"name", "size"}), uploaded at once and sent as `anexo`.
    attachment: dict[str, str] = {}
    attachment_error: str = ""
    _attachment_key: str = ""

    def _files(self, refs: list[dict[str, Any]]) -> list[AttachmentView]:
        """Previews of a message's attachments; stored ones get a link only this UI session can open
        (app.api.ui_downloads: the ticket, the session cookie and the tenant's own key)."""
        views = []
        for ref in refs or []:
            name = str(ref.get("filename") or ("Imagem" if ref.get("kind") == "image" else "Documento"))
            status = ref.get("status") or ("stored" if ref.get("key") else "")
            if status == "stored" and ref.get("key"):
                ticket = ui_tickets.issue(
                    self._ui_key or "",
                    self._user_id or 0,
                    ui_tickets.ATTACHMENT,
                    {"key": ref["key"]},
                    ttl_s=ui_tickets.ATTACHMENT_TTL_S,
                )
                state = "image" if ref.get("kind") == "image" else "file"
                views.append(
                    AttachmentView(
                        state, name, bytes_br(int(ref.get("size") or 0)), f"/api/ui/anexos/{ticket}"
                    )
                )
            elif status == "pending":
                views.append(AttachmentView("pending", name, note="Baixando o arquivo..."))
            elif status == "failed":
                views.append(AttachmentView("failed", name, note=str(ref.get("error") or "")))
        return views

    def _item(self, i: timeline.TimelineItem) -> TimelineRow:
        conv = i.payload.get("conversation_id") or (i.ref_id if i.ref_type == "conversation" else None)
        return TimelineRow(
            id=str(i.id),
            kind=i.kind,
            label=i.label,
            summary=i.summary,
            when=_when(i.at, self.tz),
            conversation_id=str(conv or ""),
            files=self._files(i.payload.get("attachments") or []),
        )

    def _load_profile(self) -> None:
        with self.db() as (db, actor):
            detail = customers.get_customer(db, actor, self.customer_id, interactions=30)
            self.tz = appointments.user_zone(db, actor)
            users = {str(u.id): u.name or u.email for u in assignable_users(db, actor)}
            self.owner_options = [Option(k, v) for k, v in users.items()]
            self.stage_options = [
                Option(f"{p['id']}:{s['id']}", f"{p['name']} · {s['name']}")
                for p in opportunities.list_pipelines(db, actor)
                for s in _stages(p)
            ]
            usable = [
                c
                for c in channels.list_channels(db, actor)
                if c.status == "active" and c.owner_user_id in (None, actor.user_id)
            ]
            self.wa_channels = [Option(str(c.id), c.name) for c in usable if c.medium == "whatsapp"]
            self.email_channels = [Option(str(c.id), c.name) for c in usable if c.medium == "email"]
            medium_label = sending.MEDIUM_LABELS
            self.any_channels = [Option(DEFAULT_CHANNEL, "Padrão do meio escolhido")] + [
                Option(str(c.id), f"{c.name} ({medium_label.get(c.medium, c.medium)})") for c in usable
            ]
            self._schema = actor.schema or ""
            upcoming = scheduling.list_for_customer(db, actor, self.customer_id, upcoming=True)
        self.scheduled = [_scheduled_row(x) for x in upcoming]
        c = detail.customer
        self.header = {
            "name": c.name,
            "document": document_br(c.document),
            "status": STATUSES.get(c.status, c.status),
            "status_key": c.status,
            "plan": c.plan or "",
            "owner": users.get(str(c.owner_id), "—"),
            "score": str(c.score),
            "tags": ", ".join(c.tags),
            "wallet": detail.wallet["name"] if detail.wallet else "",
        }
        self.contacts = [
            ContactRow(
                id=str(x["id"]),
                kind={"phone": "Telefone", "email": "E-mail", "whatsapp": "WhatsApp"}.get(
                    x["kind"], x["kind"]
                ),
                value=contact_br(x["kind"], x["value"]),
                opt_out=bool(x["opt_out"]),
            )
            for x in detail.contacts
        ]
        self.custom = [
            CustomFieldRow(
                key=f["key"],
                label=f["label"],
                type=f["type"],
                value="" if f["value"] is None else str(f["value"]),
            )
            for f in detail.custom_fields
        ]
        self.items = [self._item(i) for i in detail.last_interactions]
        self.cursor = detail.timeline_cursor or ""

    @event
    def load(self) -> Events:
        # /clientes/<id>: the last path segment (RouterData.page, which held the route args, is deprecated).
        raw = self.router.url.path.rstrip("/").rsplit("/", 1)[-1]
        self.customer_id = int(raw) if raw.isdigit() else 0
        self.kind, self.panel_open, self.dialog = ALL, False, ""
        with self._calling() as call:
            self._load_profile()
        if call.failed:
            # A session that ended goes to the login (fail says so); anything else back to the list.
            return call.events if self._user_id is None else [*call.events, rx.redirect("/clientes")]
        return None

    def _reload_timeline(self) -> None:
        with self.db() as (db, actor):
            page_ = timeline.list_timeline(
                db, actor, self.customer_id, kinds=None if self.kind == ALL else [self.kind], limit=30
            )
        self.items = [self._item(i) for i in page_.rows]
        self.cursor = page_.next_cursor or ""

    @event
    def set_kind(self, kind: str) -> Events:
        self.kind = kind
        return self.attempt(self._reload_timeline)

    @event
    def more(self) -> Events:
        if not self.cursor:
            return None
        with self._calling() as call, self.db() as (db, actor):
            page_ = timeline.list_timeline(
                db,
                actor,
                self.customer_id,
                kinds=None if self.kind == ALL else [self.kind],
                cursor=self.cursor,
            )
        if call.failed:
            return call.events
        self.items = self.items + [self._item(i) for i in page_.rows]
        self.cursor = page_.next_cursor or ""
        return None

    # ---- conversation side panel -------------------------------------------------------
    def _load_conversation(self, conversation_id: int) -> None:
        with self.db() as (db, actor):
            detail = conversations.get_conversation(db, actor, conversation_id)
        conv = detail.conversation
        self.conversation = {
            "id": str(conv.id),
            "channel": "WhatsApp" if conv.channel == "whatsapp" else "E-mail",
            "status": conversations.STATUSES.get(conv.status, conv.status),
            "status_key": conv.status,
            "contact": contact_br(detail.contact["kind"], detail.contact["value"]) if detail.contact else "",
            "opt_out": "sim" if detail.contact and detail.contact["opt_out"] else "",
        }
        self.messages = [
            MessageRow(
                body=m["body"],
                direction=m["direction"],
                meta=f"{_when(m['created_at'], self.tz)} · {label(m['status'], MESSAGE_STATUSES)}",
                status=m["status"],
                error=(m["error"] or "") if m["status"] in ("failed", "skipped", "uncertain") else "",
                files=self._files(m.get("attachments") or []),
            )
            for m in detail.messages
        ]
        options = self.wa_channels if conv.channel == "whatsapp" else self.email_channels
        # The conversation's own channel first: it is what a reply uses unless another is picked.
        own = str(conv.channel_id or "")
        self.reply_channels = sorted(options, key=lambda o: o.value != own)

    @event
    def open_conversation(self, conversation_id: str) -> Events:
        if self._schema:
            self._seen_revision = live.revision(self._schema, inbound.NAMESPACE_CUSTOMER, self.customer_id)
        if (failed := self.attempt(lambda: self._load_conversation(int(conversation_id)))) is not None:
            return failed
        self.panel_open = True
        return CustomerState.watch

    @event(background=True)
    async def watch(self) -> None:
        """While the panel is open, poll the customer's conversation revision (no database read) and
        re-read the messages when it moved: status ticks and new inbound messages appear live."""
        mine = uuid.uuid4().hex
        async with self:
            self._watch_id = mine
        for _ in range(WATCH_ROUNDS):
            await asyncio.sleep(WATCH_EVERY_S)
            async with self:
                if self._watch_id != mine or not self.panel_open or not self.conversation.get("id"):
                    return
                current = live.revision(self._schema, inbound.NAMESPACE_CUSTOMER, self.customer_id)
                if current == self._seen_revision or current < 0:
                    continue
                self._seen_revision = current
                with self._calling(quiet=True) as call:
                    self._load_conversation(int(self.conversation["id"]))
                    self._reload_timeline()
                if call.failed:
                    return

    @event
    def set_panel(self, open_: bool) -> None:
        self.panel_open = open_

    @event
    def reply(self, form: dict[str, str]) -> Events:
        with self._calling() as call:
            with self.db() as (db, actor):
                canal = str(form.get("canal_id") or "")
                conversations.reply(
                    db,
                    actor,
                    int(self.conversation["id"]),
                    conversations.ReplyIn(
                        body=form.get("body", ""), canal_id=int(canal) if canal.isdigit() else None
                    ),
                )
            self._load_conversation(int(self.conversation["id"]))
            self._reload_timeline()
        if call.failed:
            return call.events
        return rx.toast.success("Mensagem na fila de envio.")

    @event
    def resolve(self) -> Events:
        with self._calling() as call:
            with self.db() as (db, actor):
                conversations.resolve(db, actor, int(self.conversation["id"]))
            self._load_conversation(int(self.conversation["id"]))
            self._reload_timeline()
        if call.failed:
            return call.events
        return rx.toast.success("Conversa resolvida.")

    # ---- quick actions ----------------------------------------------------------------
    @event
    def open_dialog(self, name: str) -> Events:
        self.dialog, self.errors, self.error = name, {}, ""
        self._clear_attachment()
        if name not in _TEMPLATE_DIALOGS:
            return None
        # The templates are read when a dialog that offers them opens, not with every profile load.
        with self._calling() as call, self.db() as (db, actor):
            tpls = template_service.list_templates(db, actor)
        if call.failed:
            return call.events
        free, label = Option(FREE_TEXT, "Texto livre (sem modelo)"), sending.MEDIUM_LABELS
        self.wa_templates = [free] + [Option(str(t.id), t.name) for t in tpls if t.channel == "whatsapp"]
        self.email_templates = [free] + [Option(str(t.id), t.name) for t in tpls if t.channel == "email"]
        self.all_templates = [free] + [
            Option(str(t.id), f"{t.name} ({label.get(t.channel, t.channel)})") for t in tpls
        ]
        return None

    def _clear_attachment(self) -> None:
        self.attachment, self.attachment_error, self._attachment_key = {}, "", ""

    @event
    def clear_attachment(self) -> None:
        self._clear_attachment()

    @event
    async def attach(self, files: list[rx.UploadFile]) -> Events:
        """The file picked in a send dialog: checked and stored now (the same service as POST
        /api/anexos), so an oversized or disallowed file is refused, in pt-BR, before anything is sent."""
        # react-dropzone calls on_drop with no files when it refused the pick itself (then on_drop_rejected):
        # this upload arrives over HTTP, the refusal over the websocket, in either order, so an empty pick
        # must not clear the refusal's message.
        if not files:
            return None
        self._clear_attachment()
        picked = files[0]
        data = bytearray()
        while piece := await picked.read(_READ_CHUNK):
            data += piece
            if len(data) > attachments.MAX_BYTES:
                self.attachment_error = attachments.too_large_message()
                return None
        name = picked.name or "arquivo"
        with (
            self._calling(message="attachment_error", invalid="attachment_error") as call,
            self.db() as (db, actor),
        ):
            ref = attachments.upload(db, actor, name, bytes(data))
        if call.failed:
            return call.events
        self._attachment_key = ref["key"]
        self.attachment = {"name": ref["filename"], "size": bytes_br(ref["size"])}
        return None

    @event
    def attach_rejected(self) -> None:
        """The browser refused the file before uploading it: over the size limit (one file at most is
        picked). The rejected files are not sent here: only the fact, never megabytes over the socket."""
        self._clear_attachment()
        self.attachment_error = attachments.too_large_message()

    @event
    def close_dialog(self, open_: bool = False) -> None:
        if not open_:
            self.dialog = ""

    def _done(self, message: str) -> Events:
        self.dialog = ""
        self._load_profile()
        return rx.toast.success(message)

    def _sent(self, conversation_id: int) -> Events:
        self.dialog = ""
        self._clear_attachment()
        if self._schema:
            self._seen_revision = live.revision(self._schema, inbound.NAMESPACE_CUSTOMER, self.customer_id)
        self._load_conversation(conversation_id)
        self._reload_timeline()
        self.panel_open = True
        return [rx.toast.success("Mensagem na fila de envio."), CustomerState.watch]

    @event
    def send_whatsapp(self, form: dict[str, str]) -> Events:
        canal = str(form.get("canal_id") or "")
        with self._calling(fields="errors", message="error") as call, self.db() as (db, actor):
            msg = sending.send_whatsapp(
                db,
                actor,
                self.customer_id,
                sending.SendWhatsAppIn(
                    texto=form.get("texto", ""),
                    template_id=_picked(form, "template_id"),
                    canal_id=int(canal) if canal.isdigit() else None,
                    anexo=self._attachment_key or None,
                ),
            )
            conversation_id = msg.conversation_id
        if call.failed:
            return call.events
        return self._sent(conversation_id)

    @event
    def send_email(self, form: dict[str, str]) -> Events:
        canal = str(form.get("canal_id") or "")
        with self._calling(fields="errors", message="error") as call, self.db() as (db, actor):
            msg = sending.send_email(
                db,
                actor,
                self.customer_id,
                sending.SendEmailIn(
                    assunto=form.get("assunto", "") or None,
                    html=sending.html_from_text(texto) if (texto := form.get("texto", "")).strip() else None,
                    template_id=_picked(form, "template_id"),
                    canal_id=int(canal) if canal.isdigit() else None,
                    anexo=self._attachment_key or None,
                ),
            )
            conversation_id = msg.conversation_id
        if call.failed:
            return call.events
        return self._sent(conversation_id)

    @event
    def add_note(self, form: dict[str, str]) -> Events:
        with self._calling(fields="errors", message="error") as call:
            with self.db() as (db, actor):
                notes.add_note(db, actor, self.customer_id, notes.NoteIn(body=form.get("body", "")))
            return self._done("Nota adicionada.")
        return call.events

    @event
    def schedule(self, form: dict[str, str]) -> Events:
        try:
            starts = datetime.fromisoformat(f"{form.get('date', '')}T{form.get('time', '') or '09:00'}")
        except ValueError:
            self.errors = {"date": "Informe data e hora válidas."}
            return None
        remind = form.get("remind", "15")
        with self._calling(fields="errors", message="error") as call:
            with self.db() as (db, actor):
                appointments.create_appointment(
                    db,
                    actor,
                    appointments.AppointmentIn(
                        customer_id=self.customer_id,
                        title=form.get("title", "") or "Retorno",
                        starts_local=starts,
                        description=form.get("description", ""),
                        kind="follow_up",
                        remind_minutes=int(remind) if remind.isdigit() else None,
                    ),
                )
            return self._done("Retorno agendado.")
        return call.events

    @event
    def schedule_message(self, form: dict[str, Any]) -> Events:
        """A message at a date/time in the organisation's zone, optionally recurring or a follow-up."""
        try:
            when = datetime.fromisoformat(f"{form.get('data', '')}T{form.get('hora', '') or '09:00'}")
        except ValueError:
            self.errors = {"agendar_para": "Informe data e hora válidas."}
            return None
        medium, texto = str(form.get("meio") or "whatsapp"), str(form.get("texto", ""))
        freq, times = str(form.get("repetir") or ""), str(form.get("vezes") or "")
        canal_id, template_id = _picked(form, "canal_id"), _picked(form, "template_id")
        if canal_id is not None:  # a chosen channel decides the medium
            medium = "email" if any(o.value == str(canal_id) for o in self.email_channels) else "whatsapp"
        body: dict[str, Any] = {
            "agendar_para": when,
            "canal_id": canal_id,
            "template_id": template_id,
            "se_sem_resposta": checked(form, "se_sem_resposta"),
        }
        if template_id is None:
            body["texto"] = texto
            if medium == "email":
                body.update(assunto=str(form.get("assunto", "")), html=sending.html_from_text(texto))
        if freq:
            body["recorrencia"] = {"frequencia": freq, "vezes": int(times) if times.isdigit() else None}
        with self._calling(fields="errors", message="error") as call:
            with self.db() as (db, actor):
                scheduling.schedule(db, actor, self.customer_id, scheduling.ScheduleIn.model_validate(body))
            return self._done("Mensagem agendada.")
        return call.events

    @event
    def open_edit_scheduled(self, scheduled_id: str) -> None:
        row = next((r for r in self.scheduled if r.id == scheduled_id), None)
        if row is not None:
            self.editing, self.dialog, self.errors, self.error = row, "scheduled_edit", {}, ""

    @event
    def edit_scheduled(self, form: dict[str, Any]) -> Events:
        """New time or text for a scheduled message (the rest of a series moves with it)."""
        row = self.editing
        if not row.id:
            return None
        try:
            when = datetime.fromisoformat(f"{form.get('data', '')}T{form.get('hora', '') or '09:00'}")
        except ValueError:
            self.errors = {"agendar_para": "Informe data e hora válidas."}
            return None
        body: dict[str, Any] = {"agendar_para": when}
        if not row.template:  # the e-mail's html is made from the text by the service
            body["texto"] = str(form.get("texto", ""))
            if row.medium == sending.MEDIUM_LABELS["email"]:
                body["assunto"] = str(form.get("assunto", ""))
        with self._calling(fields="errors", message="error") as call:
            with self.db() as (db, actor):
                scheduling.edit(db, actor, int(row.id), scheduling.ScheduleUpdate.model_validate(body))
            return self._done("Agendamento alterado.")
        return call.events

    @event
    def cancel_scheduled(self, scheduled_id: str) -> Events:
        with self._calling() as call:
            with self.db() as (db, actor):
                scheduling.cancel(db, actor, int(scheduled_id))
            return self._done("Agendamento cancelado.")
        return call.events

    @event
    def convert(self, form: dict[str, str]) -> Events:
        pipeline_id = stage_id = None
        if form.get("stage"):
            pipeline_id, stage_id = (int(x) for x in form["stage"].split(":"))
        try:
            value = money_from_br(form.get("value", ""))
        except InvalidOperation:
            self.errors = {"value": "Informe um valor válido (ex.: 1.234,56)."}
            return None
        with self._calling(fields="errors", message="error") as call:
            with self.db() as (db, actor):
                opportunities.create_opportunity(
                    db,
                    actor,
                    opportunities.OpportunityIn(
                        customer_id=self.customer_id,
                        pipeline_id=pipeline_id,
                        stage_id=stage_id,
                        title=form.get("title", ""),
                        value=value,
                    ),
                )
            return self._done("Oportunidade criada.")
        return call.events

    @event
    def assign(self, form: dict[str, str]) -> Events:
        user = form.get("user_id", "")
        if not user:
            self.errors = {"user_id": "Escolha alguém."}
            return None
        with self._calling(fields="errors", message="error") as call:
            with self.db() as (db, actor):
                if self.panel_open and self.conversation:
                    conversations.assign(db, actor, int(self.conversation["id"]), int(user))
                else:
                    customers.update_customer(db, actor, self.customer_id, CustomerUpdate(owner_id=int(user)))
            return self._done("Atribuído.")
        return call.events

    @event
    def save(self, form: dict[str, str]) -> Events:
        custom = {c.key: (form.get(f"custom_{c.key}") or None) for c in self.custom}
        changes = CustomerUpdate(
            name=form.get("name"),
            document=form.get("document") or None,
            plan=form.get("plan") or None,
            status=form.get("status") or None,
            custom=custom,
        )
        with self._calling(fields="errors", message="error") as call:
            with self.db() as (db, actor):
                customers.update_customer(db, actor, self.customer_id, changes)
            return self._done("Dados salvos.")
        return call.events

    @event
    def add_contact(self, form: dict[str, str]) -> Events:
        with self._calling(fields="errors", message="error") as call:
            data = contacts.ContactIn(
                kind=form.get("kind") or "phone", value=form.get("value", ""), label=form.get("label") or None
            )
            with self.db() as (db, actor):
                contacts.add_contact(db, actor, self.customer_id, data)
            return self._done("Contato adicionado.")
        return call.events

    @event
    def remove_contact(self, contact_id: str) -> Events:
        with self._calling() as call:
            with self.db() as (db, actor):
                contacts.delete_contact(db, actor, int(contact_id))
            return self._done("Contato removido.")
        return call.events

    @event
    def toggle_opt_out(self, contact_id: str, opt_out: bool) -> Events:
        with self._calling() as call:
            with self.db() as (db, actor):
                contacts.set_opt_out(db, actor, int(contact_id), opt_out=opt_out, reason="Marcado no perfil")
            self._load_profile()
        if call.failed:
            return call.events
        return rx.toast.success("Descadastro registrado." if opt_out else "Contato reativado.")


def header_card() -> rx.Component:
    h = CustomerState.header
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(h["name"], size="6", as_="h2", id="customer-name"),
                rx.badge(h["status"]),
                rx.spacer(),
                rx.button(
                    rx.icon("pencil"),
                    "Editar",
                    variant="soft",
                    on_click=CustomerState.open_dialog("edit"),
                    id="qa-edit",
                ),
                width="100%",
                align="center",
            ),
            rx.hstack(
                rx.text("Documento: ", h["document"], size="2"),
                rx.text("Plano: ", h["plan"], size="2"),
                rx.text("Responsável: ", h["owner"], size="2"),
                rx.text("Score: ", h["score"], size="2"),
                rx.text("Carteira: ", h["wallet"], size="2"),
                rx.text("Etiquetas: ", h["tags"], size="2"),
                wrap="wrap",
                spacing="4",
            ),
            rx.hstack(
                rx.foreach(
                    CustomerState.contacts,
                    lambda c: rx.hstack(
                        rx.badge(c.kind, variant="soft"),
                        rx.text(c.value, size="2"),
                        rx.cond(c.opt_out, rx.badge("Opt-out", color_scheme="red")),
                        rx.icon_button(
                            rx.icon(rx.cond(c.opt_out, "bell", "bell-off"), size=14),
                            size="1",
                            variant="ghost",
                            on_click=CustomerState.toggle_opt_out(c.id, ~c.opt_out),
                            title="Alternar descadastro",
                        ),
                        rx.icon_button(
                            rx.icon("x", size=14),
                            size="1",
                            variant="ghost",
                            color_scheme="gray",
                            on_click=CustomerState.remove_contact(c.id),
                            title="Remover contato",
                        ),
                        spacing="1",
                        align="center",
                    ),
                ),
                rx.button(
                    rx.icon("plus", size=14),
                    "Contato",
                    size="1",
                    variant="soft",
                    on_click=CustomerState.open_dialog("contact"),
                    id="qa-contact",
                ),
                wrap="wrap",
                spacing="4",
            ),
            rx.hstack(
                rx.foreach(CustomerState.custom, lambda f: rx.text(f.label, ": ", f.value, size="2")),
                wrap="wrap",
                spacing="4",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="customer-header",
    )


# (icon, label, dialog): each quick action opens its modal; ids are qa-<dialog> for tests.
QUICK_ACTIONS = (
    ("message-circle", "Enviar WhatsApp", "whatsapp"),
    ("mail", "Enviar e-mail", "email"),
    ("clock", "Agendar mensagem", "scheduled"),
    ("sticky-note", "Nota", "note"),
    ("calendar-plus", "Agendar retorno", "followup"),
    ("badge-dollar-sign", "Converter em oportunidade", "opportunity"),
    ("user-round-check", "Atribuir", "assign"),
)


def quick_actions() -> rx.Component:
    s = CustomerState
    return rx.hstack(
        *[
            rx.button(rx.icon(icon), label, variant="soft", on_click=s.open_dialog(name), id=f"qa-{name}")
            for icon, label, name in QUICK_ACTIONS
        ],
        wrap="wrap",
        spacing="2",
    )


CONTACT_KINDS = [
    Option("phone", "Telefone"),
    Option("email", "E-mail"),
    Option("whatsapp", "WhatsApp"),
]


def _attachment(file_id: str) -> rx.Component:
    """The send dialogs' file picker: one attachment per message, refused in the browser above the limit."""
    s = CustomerState
    return attachment_picker(
        file_id,
        s.attach,
        s.attach_rejected,
        s.clear_attachment,
        s.attachment,
        s.attachment_error,
        max_size=attachments.MAX_BYTES,
    )


def dialogs() -> rx.Component:
    s, e = CustomerState, CustomerState.errors
    custom_inputs = rx.foreach(
        s.custom,
        lambda f: field(f.label, "custom_" + f.key, e.get("custom." + f.key, ""), default_value=f.value),
    )
    first_wa = rx.cond(array_var(s.wa_channels).length() > 0, array_var(s.wa_channels)[0].value, "")
    first_email = rx.cond(array_var(s.email_channels).length() > 0, array_var(s.email_channels)[0].value, "")
    return rx.fragment(
        modal_form(
            "Enviar WhatsApp",
            s.dialog == "whatsapp",
            s.close_dialog,
            s.send_whatsapp,
            options_field("Canal", "canal_id", s.wa_channels, e.get("canal_id", ""), default=first_wa),
            _template_field(s.wa_templates),
            textarea_field(
                "Mensagem",
                "texto",
                e.get("texto", e.get("variaveis", "")),
                placeholder="Olá {{primeiro_nome}}, ...",
            ),
            _attachment(WA_FILE_ID),
            error=s.error,
            submit_label="Enviar",
            form_id="whatsapp-form",
        ),
        modal_form(
            "Enviar e-mail",
            s.dialog == "email",
            s.close_dialog,
            s.send_email,
            options_field("Canal", "canal_id", s.email_channels, e.get("canal_id", ""), default=first_email),
            _template_field(s.email_templates),
            field("Assunto", "assunto", e.get("assunto", "")),
            textarea_field("Mensagem", "texto", e.get("html", e.get("variaveis", ""))),
            _attachment(EMAIL_FILE_ID),
            error=s.error,
            submit_label="Enviar",
            form_id="email-form",
        ),
        modal_form(
            "Agendar mensagem",
            s.dialog == "scheduled",
            s.close_dialog,
            s.schedule_message,
            options_field("Enviar por", "meio", MEDIUM_OPTIONS, e.get("meio", ""), default="whatsapp"),
            options_field(
                "Canal", "canal_id", s.any_channels, e.get("canal_id", ""), default=DEFAULT_CHANNEL
            ),
            _template_field(s.all_templates),
            field("Data", "data", e.get("agendar_para", ""), type="date"),
            field("Hora (fuso da organização)", "hora", "", type="time"),
            field("Assunto (só e-mail)", "assunto", e.get("assunto", "")),
            textarea_field(
                "Mensagem",
                "texto",
                e.get("texto", e.get("variaveis", e.get("html", e.get("cliente", "")))),
                placeholder="Olá {{primeiro_nome}}, ...",
            ),
            options_field("Repetir", "repetir", REPEAT_OPTIONS, e.get("recorrencia", ""), default=""),
            field("Quantas vezes (se repetir)", "vezes", "", placeholder="4", input_mode="numeric"),
            rx.el.label(
                rx.hstack(
                    rx.checkbox(name="se_sem_resposta", id="se_sem_resposta"),
                    rx.text("Enviar só se o cliente não tiver respondido até lá", size="2"),
                    spacing="2",
                ),
                html_for="se_sem_resposta",
            ),
            error=s.error,
            submit_label="Agendar",
            form_id="scheduled-form",
        ),
        _edit_scheduled_dialog(),
        modal_form(
            "Novo contato",
            s.dialog == "contact",
            s.close_dialog,
            s.add_contact,
            options_field("Tipo", "kind", CONTACT_KINDS, e.get("kind", ""), default="phone"),
            field("Telefone ou e-mail", "value", e.get("value", ""), placeholder="(11) 98765-4321"),
            field("Rótulo (opcional)", "label", e.get("label", ""), placeholder="Comercial"),
            error=s.error,
            form_id="contact-form",
        ),
        modal_form(
            "Nova nota",
            s.dialog == "note",
            s.close_dialog,
            s.add_note,
            textarea_field("Nota", "body", e.get("body", "")),
            error=s.error,
            form_id="note-form",
        ),
        modal_form(
            "Agendar retorno",
            s.dialog == "followup",
            s.close_dialog,
            s.schedule,
            field("Título", "title", e.get("title", ""), default_value="Retorno"),
            field("Data", "date", e.get("date", ""), type="date"),
            field("Hora (seu fuso horário)", "time", e.get("starts_local", ""), type="time"),
            field("Lembrete (minutos antes)", "remind", e.get("remind_minutes", ""), default_value="15"),
            textarea_field("Descrição", "description"),
            error=s.error,
            form_id="followup-form",
        ),
        modal_form(
            "Converter em oportunidade",
            s.dialog == "opportunity",
            s.close_dialog,
            s.convert,
            field("Título", "title", e.get("title", "")),
            options_field("Funil e etapa", "stage", s.stage_options, e.get("stage_id", "")),
            field("Valor (R$)", "value", e.get("value", ""), placeholder="0,00"),
            error=s.error,
            form_id="opportunity-form",
        ),
        modal_form(
            "Atribuir",
            s.dialog == "assign",
            s.close_dialog,
            s.assign,
            options_field("Para", "user_id", s.owner_options, e.get("user_id", "")),
            error=s.error,
            form_id="assign-form",
        ),
        modal_form(
            "Editar cliente",
            s.dialog == "edit",
            s.close_dialog,
            s.save,
            field("Nome", "name", e.get("name", ""), default_value=s.header["name"]),
            field("CPF/CNPJ", "document", e.get("document", ""), default_value=s.header["document"]),
            field("Plano", "plan", e.get("plan", ""), default_value=s.header["plan"]),
            options_field(
                "Status", "status", STATUS_OPTIONS, e.get("status", ""), default=s.header["status_key"]
            ),
            custom_inputs,
            error=s.error,
            form_id="edit-form",
        ),
    )


def _template_field(options: list[Option]) -> rx.Component:
    """The dialogs' template choice ("free text" first): its variables come from the customer."""
    return options_field(
        "Modelo", "template_id", options, CustomerState.errors.get("template_id", ""), default=FREE_TEXT
    )


def _edit_scheduled_dialog() -> rx.Component:
    s, e = CustomerState, CustomerState.errors
    row = s.editing
    is_email = row.medium == sending.MEDIUM_LABELS["email"]
    return modal_form(
        "Alterar agendamento",
        s.dialog == "scheduled_edit",
        s.close_dialog,
        s.edit_scheduled,
        field("Data", "data", e.get("agendar_para", ""), type="date", default_value=row.date),
        field("Hora (fuso da organização)", "hora", "", type="time", default_value=row.time),
        rx.cond(
            row.template,
            rx.text("Enviada com um modelo: só a data e a hora podem mudar.", size="2", color_scheme="gray"),
            rx.fragment(
                rx.cond(
                    is_email,
                    field("Assunto", "assunto", e.get("assunto", ""), default_value=row.subject),
                ),
                textarea_field(
                    "Mensagem", "texto", e.get("texto", e.get("html", "")), default_value=row.body
                ),
            ),
        ),
        error=s.error,
        submit_label="Salvar",
        form_id="scheduled-edit-form",
    )


def scheduled_list() -> rx.Component:
    s = CustomerState

    def item(row: ScheduledRow) -> rx.Component:
        return rx.hstack(
            rx.icon("clock", size=16),
            rx.vstack(
                rx.text(row.when, " · ", row.medium, weight="medium", size="2"),
                rx.text(row.text, size="2"),
                rx.cond(row.detail != "", rx.text(row.detail, size="1", color_scheme="gray")),
                spacing="0",
                width="100%",
            ),
            rx.button(
                "Alterar",
                size="1",
                variant="soft",
                on_click=s.open_edit_scheduled(row.id),
                aria_label="Alterar agendamento",
                class_name="scheduled-edit",
            ),
            rx.button(
                "Cancelar",
                size="1",
                variant="soft",
                color_scheme="red",
                on_click=s.cancel_scheduled(row.id),
                aria_label="Cancelar agendamento",
            ),
            width="100%",
            align="center",
            class_name="scheduled-item",
        )

    return rx.cond(
        array_var(s.scheduled).length() > 0,
        rx.card(
            rx.vstack(
                rx.heading("Mensagens agendadas", size="3", as_="h2"),
                rx.foreach(s.scheduled, item),
                spacing="2",
                width="100%",
            ),
            width="100%",
            id="scheduled-list",
        ),
    )


def conversation_panel() -> rx.Component:
    s, c = CustomerState, CustomerState.conversation
    return rx.drawer.root(
        rx.drawer.overlay(),
        rx.drawer.portal(
            rx.drawer.content(
                rx.vstack(
                    rx.hstack(
                        rx.heading(c["channel"], " · ", c["contact"], size="4", as_="h2"),
                        rx.badge(c["status"]),
                        rx.cond(c["opt_out"] != "", rx.badge("Opt-out", color_scheme="red")),
                        rx.spacer(),
                        rx.drawer.close(rx.icon_button(rx.icon("x"), variant="ghost")),
                        width="100%",
                    ),
                    rx.scroll_area(
                        rx.vstack(rx.foreach(s.messages, message_bubble), spacing="2", width="100%"),
                        height="60vh",
                    ),
                    rx.form(
                        rx.cond(
                            array_var(s.reply_channels).length() > 1,
                            rx.select.root(
                                rx.select.trigger(
                                    width="100%", id="reply-channel", aria_label="Canal da resposta"
                                ),
                                rx.select.content(
                                    rx.foreach(
                                        s.reply_channels, lambda o: rx.select.item(o.label, value=o.value)
                                    )
                                ),
                                name="canal_id",
                                default_value=array_var(s.reply_channels)[0].value,
                            ),
                        ),
                        rx.hstack(
                            rx.text_area(
                                name="body",
                                placeholder="Responder...",
                                aria_label="Resposta",
                                width="100%",
                                id="reply-body",
                            ),
                            rx.button(rx.icon("send"), type="submit", aria_label="Enviar", id="reply-send"),
                            width="100%",
                        ),
                        on_submit=s.reply,
                        reset_on_submit=True,
                        width="100%",
                    ),
                    rx.hstack(
                        rx.button(
                            "Marcar como resolvida",
                            variant="soft",
                            on_click=s.resolve,
                            disabled=c["status_key"] == "resolved",
                        ),
                        rx.button("Atribuir", variant="soft", on_click=s.open_dialog("assign")),
                    ),
                    spacing="3",
                    height="100%",
                ),
                width="480px",
                height="100%",
                padding="16px",
                background="var(--color-panel-solid)",
                top="0",
                right="0",
                position="fixed",
            )
        ),
        direction="right",
        open=s.panel_open,
        on_open_change=s.set_panel,
    )


@page("/clientes/[customer_id]", "Cliente", permission=Perm.CUSTOMERS_READ, on_load=CustomerState.load)
def customer_page() -> rx.Component:
    s = CustomerState
    return rx.vstack(
        rx.link(rx.hstack(rx.icon("arrow-left", size=16), rx.text("Clientes")), href="/clientes"),
        header_card(),
        quick_actions(),
        scheduled_list(),
        rx.hstack(
            rx.heading("Linha do tempo", size="4", as_="h2"),
            rx.spacer(),
            rx.select.root(
                rx.select.trigger(placeholder="Tipo", aria_label="Tipo de interação"),
                rx.select.content(
                    rx.select.item("Todos os tipos", value=ALL),
                    *[rx.select.item(o.label, value=o.value) for o in KIND_OPTIONS],
                ),
                value=s.kind,
                on_change=s.set_kind,
            ),
            width="100%",
            align="center",
        ),
        timeline_view(s.items, s.open_conversation, s.cursor != "", s.more),
        dialogs(),
        conversation_panel(),
        width="100%",
        spacing="4",
    )


__all__: list[Any] = ["CustomerState", "customer_page"]
