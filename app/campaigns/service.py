"""Campaigns: create (validate channels, template and audience, then materialise the recipients),
preview, read with live counters, pause / resume / cancel, recipients CSV. Services never commit."""

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.after_commit import enqueue_after_commit
from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.campaigns import audience, counters, lists, window
from app.crm.customers.schemas import CustomerFilter
from app.crm.templates import SAMPLE_VALUES, extract_variables, render
from app.errors import Conflict, Invalid, NotFound
from app.messaging import attachments
from app.validation import Id, Str60, Str200, Str300, Str500, Str1000
from models.base import utcnow
from models.tenant import Campaign, CampaignRecipient, Channel, Customer, CustomField, Message, Template

FEED_TASK = "campaigns.feed"
STATUS_LABELS = {
    "draft": "Rascunho",
    "scheduled": "Agendada",
    "running": "Enviando",
    "paused": "Pausada",
    "done": "Concluída",
    "cancelled": "Cancelada",
}
BASE_VARIABLES = set(SAMPLE_VALUES)


class CampaignIn(BaseModel):
    nome: Str200 = Field(min_length=1)
    canal_id: Id | None = None
    identidades: list[Id] = Field(default=[], max_length=50)
    atribuicao: Literal["round_robin", "sticky"] = "round_robin"
    template_id: Id | None = None
    assunto: Str300 | None = None
    corpo: str | None = Field(default=None, max_length=100_000)
    segment_id: Id | None = None
    filtro: CustomerFilter | None = None
    lista_id: Id | None = None  # an uploaded list (POST /api/campanhas/listas)
    anexo: Str500 | None = None  # key of a file sent to POST /api/anexos, sent with every message
    variaveis: dict[Str60, Str1000] = Field(default={}, max_length=50)
    agendar_para: datetime | None = None
    janela: dict[Str60, list[Str60]] = Field(default={}, max_length=7)
    limite_diario: int | None = Field(default=None, ge=1, le=10_000_000)


class CampaignOut(BaseModel):
    id: int
    nome: str
    medium: str
    status: str
    status_label: str
    canal_ids: list[int]
    template_id: int | None
    anexo: str | None
    agendar_para: datetime | None
    janela: dict[str, Any]
    limite_diario: int | None
    counts: dict[str, int]
    progress: float
    rate_per_s: float
    eta_s: float | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime


class PreviewOut(BaseModel):
    counts: dict[str, int]
    sample: dict[str, Any] | None
    lista: lists.ListOut | None = None  # an uploaded list's lines left out, with their reasons


def _channels(db: Session, medium: str, data: CampaignIn) -> list[Channel]:
    ids = list(dict.fromkeys(([data.canal_id] if data.canal_id else []) + data.identidades))
    if not ids:
        default = db.exec(
            select(Channel).where(
                Channel.medium == medium, col(Channel.is_default).is_(True), col(Channel.deleted_at).is_(None)
            )
        ).first()
        if default is None:
            raise Invalid("canal_id", "Escolha o canal de envio (não há canal padrão para este meio).")
        return [default]
    found = {
        c.id: c
        for c in db.exec(
            select(Channel).where(col(Channel.id).in_(ids), col(Channel.deleted_at).is_(None))
        ).all()
    }
    for i in ids:
        channel = found.get(i)
        if channel is None:
            raise NotFound("Canal não encontrado.")
        if channel.medium != medium:
            label = "WhatsApp" if medium == "whatsapp" else "e-mail"
            raise Invalid("canal_id", f"O canal “{channel.name}” não é de {label}.")
    return [found[i] for i in ids]


def _content(db: Session, medium: str, channels: list[Channel], data: CampaignIn) -> Template | None:
    template = None
    if data.template_id is not None:
        template = db.get(Template, data.template_id)
        if template is None:
            raise NotFound("Modelo não encontrado.")
        if template.channel != medium:
            raise Invalid("template_id", "O modelo é de outro canal.")
    # Outside the 24-hour window Meta only delivers approved templates, and a campaign always is outside.
    approved = template is not None and (template.approval_status or "").upper() == "APPROVED"
    if any(c.kind == "whatsapp_cloud" for c in channels) and not approved:
        raise Invalid("template_id", "Campanhas pela API oficial exigem um modelo aprovado pela Meta.")
    body = template.body if template else data.corpo
    if not body or not body.strip():
        raise Invalid("corpo", "Escreva a mensagem ou escolha um modelo.")
    if medium == "email" and not ((template and template.subject) or data.assunto):
        raise Invalid("assunto", "Informe o assunto do e-mail.")
    if data.anexo and template is not None and any(c.kind == "whatsapp_cloud" for c in channels):
        # A Cloud API template's media goes in its header, which the approved template must declare.
        raise Invalid("anexo", "Modelos da API oficial não levam anexo; use um canal WPPConnect ou e-mail.")
    known = BASE_VARIABLES | set(data.variaveis) | set(db.exec(select(CustomField.key)).all())
    unknown = [
        v for v in extract_variables(body, template.subject if template else data.assunto) if v not in known
    ]
    if unknown:
        names = ", ".join("{{" + v + "}}" for v in unknown)
        raise Invalid("template_id" if template else "corpo", f"Variáveis desconhecidas: {names}.")
    return template


def _audience(db: Session, actor: Actor, data: CampaignIn) -> tuple[dict[str, Any], CustomerFilter]:
    if data.lista_id is not None:
        # The list's customers, still through the creator's visibility (CustomerFilter() adds it).
        return {"list_id": lists.get_list(db, actor, data.lista_id).id}, CustomerFilter()
    if data.segment_id is not None:
        return {"segment_id": data.segment_id}, CustomerFilter(segment_id=data.segment_id)
    if data.filtro is not None:
        return {"filter": data.filtro.model_dump(mode="json", exclude_defaults=True)}, data.filtro
    raise Invalid("segment_id", "Escolha o público: um segmento, um filtro ou uma lista.")


def _draft(db: Session, actor: Actor, medium: str, data: CampaignIn) -> tuple[Campaign, CustomerFilter]:
    actor.require(Perm.CAMPAIGNS_MANAGE)
    channels = _channels(db, medium, data)
    template = _content(db, medium, channels, data)
    window.parse(data.janela)
    spec, customer_filter = _audience(db, actor, data)
    zone = actor.time_zone or "America/Sao_Paulo"
    schedule = data.agendar_para
    if schedule is not None and schedule.tzinfo is None:
        schedule = schedule.replace(tzinfo=ZoneInfo(zone))
    campaign = Campaign(
        name=data.nome.strip(),
        medium=medium,
        channel_ids=[c.id or 0 for c in channels],
        assignment=data.atribuicao,
        template_id=template.id if template else None,
        subject=(template.subject if template and template.subject else data.assunto),
        body=None if template else data.corpo,
        variables=dict(data.variaveis),
        audience=spec,
        schedule_at=schedule,
        window=dict(data.janela),
        time_zone=zone,
        daily_cap=data.limite_diario,
        attachments=[attachments.reference(actor.schema or "", data.anexo)] if data.anexo else [],
        created_by=actor.user_id,
    )
    return campaign, customer_filter


def preview(db: Session, actor: Actor, medium: str, data: CampaignIn) -> PreviewOut:
    """The audience counts (skipped ones by reason) and the message rendered for its first customer."""
    campaign, customer_filter = _draft(db, actor, medium, data)
    campaign.id = 0
    counts = audience.preview_counts(db, actor, campaign, customer_filter)
    sub = audience.audience_select(db, actor, campaign, customer_filter).subquery()
    first = db.exec(
        select(sub.c.customer_id, sub.c.address).where(sub.c.status == "pending").limit(1)
    ).first()
    sample = None
    if first is not None:
        values = db.exec(
            select(audience.customer_variables(campaign.variables)).where(col(Customer.id) == first[0])
        ).one()
        body = _body(db, campaign)
        sample = {
            "para": first[1],
            "assunto": render(campaign.subject, values) if campaign.subject else None,
            "mensagem": render(body, values),
        }
    listed = campaign.audience.get("list_id")
    return PreviewOut(
        counts=counters.read(counts),
        sample=sample,
        lista=lists.view(lists.get_list(db, actor, int(listed))) if listed else None,
    )


def _body(db: Session, campaign: Campaign) -> str:
    if campaign.template_id is not None:
        template = db.get(Template, campaign.template_id)
        return template.body if template else ""
    return campaign.body or ""


def create_campaign(db: Session, actor: Actor, medium: str, data: CampaignIn) -> Campaign:
    """Create the campaign and materialise its recipients; it starts now or at its scheduled time."""
    campaign, customer_filter = _draft(db, actor, medium, data)
    db.add(campaign)
    db.flush()
    counts = audience.materialise(db, actor, campaign, customer_filter)
    now = utcnow()
    campaign.counts = counters.read(counts)
    if counts["total"] == 0:
        raise Invalid("segment_id", "O público escolhido não tem nenhum cliente.")
    campaign.status = "scheduled" if campaign.schedule_at and campaign.schedule_at > now else "running"
    if campaign.status == "running":
        campaign.started_at = now
    db.add(campaign)
    record(db, actor, "campaign.create", "campaign", campaign.id, None, _audit_view(campaign))
    if campaign.status == "running":
        enqueue_after_commit(db, FEED_TASK, actor.schema, campaign.id)
    return campaign


def _audit_view(c: Campaign) -> dict[str, Any]:
    return {
        "name": c.name,
        "medium": c.medium,
        "status": c.status,
        "channel_ids": c.channel_ids,
        "template_id": c.template_id,
        "audience": c.audience,
        "schedule_at": c.schedule_at,
        "window": c.window,
        "daily_cap": c.daily_cap,
        "attachments": [a.get("key") for a in c.attachments or []],
        "total": (c.counts or {}).get("total"),
    }


def _get(db: Session, actor: Actor, campaign_id: int, *, lock: bool = False) -> Campaign:
    actor.require(Perm.CAMPAIGNS_MANAGE)
    stmt = select(Campaign).where(Campaign.id == campaign_id)
    campaign = db.exec(stmt.with_for_update() if lock else stmt).first()
    if campaign is None:
        raise NotFound("Campanha não encontrada.")
    return campaign


def view(campaign: Campaign, now: datetime | None = None) -> CampaignOut:
    counts = counters.read(campaign.counts or {})
    done = counts["sent"] + counts["failed"] + counts["skipped"]
    total = counts["total"]
    rate = float((campaign.counts or {}).get("_rate", 0.0) or 0.0)
    left = total - done
    return CampaignOut(
        id=campaign.id or 0,
        nome=campaign.name,
        medium=campaign.medium,
        status=campaign.status,
        status_label=STATUS_LABELS.get(campaign.status, campaign.status),
        canal_ids=list(campaign.channel_ids),
        template_id=campaign.template_id,
        anexo=(campaign.attachments or [{}])[0].get("filename"),
        agendar_para=campaign.schedule_at,
        janela=campaign.window,
        limite_diario=campaign.daily_cap,
        counts=counts,
        progress=round(done / total, 4) if total else 0.0,
        rate_per_s=round(rate, 2),
        eta_s=round(left / rate, 1) if rate > 0 and left > 0 and campaign.status == "running" else None,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        created_at=campaign.created_at,
    )


def get_campaign(db: Session, actor: Actor, campaign_id: int) -> CampaignOut:
    return view(_get(db, actor, campaign_id))


def list_campaigns(db: Session, actor: Actor, limit: int = 100) -> list[CampaignOut]:
    actor.require(Perm.CAMPAIGNS_MANAGE)
    rows = db.exec(select(Campaign).order_by(col(Campaign.id).desc()).limit(max(1, min(limit, 500)))).all()
    return [view(c) for c in rows]


def _unqueue(db: Session, campaign: Campaign, *, to: str) -> int:
    """Take the campaign's messages that no worker holds yet out of the outbox: their recipients go back
    to pending (pause) or are skipped (cancel). Reserved and sent ones stay: they are being, or were, sent."""
    taken = (
        db.exec(
            update(Message)
            .where(col(Message.campaign_id) == campaign.id, col(Message.status) == "queued")
            .values(status="skipped", error="campaign " + ("paused" if to == "pending" else "cancelled"))
            .returning(col(Message.id))
        )
        .scalars()
        .all()
    )
    if taken:
        db.exec(
            update(CampaignRecipient)
            .where(col(CampaignRecipient.message_id).in_(taken))
            .values(
                status=to,
                message_id=None if to == "pending" else CampaignRecipient.message_id,
                skip_reason=None if to == "pending" else "cancelled",
            )
        )
        # Paused messages are deleted, not kept as skipped: a resume sends them again with the same key.
        if to == "pending":
            db.exec(update(Message).where(col(Message.id).in_(taken)).values(idempotency_key=None))
    return len(taken)


def pause(db: Session, actor: Actor, campaign_id: int) -> CampaignOut:
    campaign = _get(db, actor, campaign_id, lock=True)
    if campaign.status not in ("running", "scheduled"):
        raise Conflict("Só campanhas em envio ou agendadas podem ser pausadas.")
    before = campaign.status
    n = _unqueue(db, campaign, to="pending")
    counters.bump(db, campaign.id or 0, {"queued": -n, "pending": n})
    campaign.status, campaign.updated_at = "paused", utcnow()
    db.add(campaign)
    record(db, actor, "campaign.pause", "campaign", campaign.id, {"status": before}, {"status": "paused"})
    db.flush()
    db.refresh(campaign)
    return view(campaign)


def resume(db: Session, actor: Actor, campaign_id: int) -> CampaignOut:
    campaign = _get(db, actor, campaign_id, lock=True)
    if campaign.status != "paused":
        raise Conflict("Só campanhas pausadas podem ser retomadas.")
    campaign.status, campaign.updated_at = "running", utcnow()
    campaign.started_at = campaign.started_at or utcnow()
    db.add(campaign)
    record(db, actor, "campaign.resume", "campaign", campaign.id, {"status": "paused"}, {"status": "running"})
    enqueue_after_commit(db, FEED_TASK, actor.schema, campaign.id)
    return view(campaign)


def cancel(db: Session, actor: Actor, campaign_id: int) -> CampaignOut:
    campaign = _get(db, actor, campaign_id, lock=True)
    if campaign.status in ("done", "cancelled"):
        raise Conflict("A campanha já terminou.")
    before = campaign.status
    n = _unqueue(db, campaign, to="skipped")
    pending = (
        db.exec(
            update(CampaignRecipient)
            .where(
                col(CampaignRecipient.campaign_id) == campaign.id, col(CampaignRecipient.status) == "pending"
            )
            .values(status="skipped", skip_reason="cancelled")
            .returning(col(CampaignRecipient.id))
        )
        .scalars()
        .all()
    )
    counters.bump(db, campaign.id or 0, {"queued": -n, "pending": -len(pending), "skipped": n + len(pending)})
    campaign.status, campaign.finished_at, campaign.updated_at = "cancelled", utcnow(), utcnow()
    db.add(campaign)
    record(db, actor, "campaign.cancel", "campaign", campaign.id, {"status": before}, {"status": "cancelled"})
    db.flush()
    db.refresh(campaign)
    return view(campaign)


CSV_HEADER = [
    "cliente_id",
    "endereco",
    "canal_id",
    "situacao",
    "motivo",
    "mensagem_id",
    "status_envio",
    "erro",
]


def recipients_csv(db: Session, actor: Actor, campaign_id: int) -> Iterator[str]:
    """Every recipient and its outcome, streamed in keyset pages (a 500k campaign is never in memory)."""
    campaign = _get(db, actor, campaign_id)
    record(db, actor, "campaign.export", "campaign", campaign.id, None, {"format": "csv"})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    last = 0
    while True:
        rows = db.exec(
            select(CampaignRecipient, Message.status, Message.error)
            .join(Message, col(Message.id) == CampaignRecipient.message_id, isouter=True)
            .where(CampaignRecipient.campaign_id == campaign.id, col(CampaignRecipient.id) > last)
            .order_by(col(CampaignRecipient.id))
            .limit(5000)
        ).all()
        if not rows:
            break
        for r, status, error in rows:
            writer.writerow(
                [
                    r.customer_id,
                    r.address or "",
                    r.channel_id or "",
                    r.status,
                    r.skip_reason or "",
                    r.message_id or "",
                    status or "",
                    error or "",
                ]
            )
        last = rows[-1][0].id or 0
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


class Choice(BaseModel):
    value: str
    label: str
    medium: str


class SendingOptions(BaseModel):
    channels: list[Choice]
    templates: list[Choice]
    segments: list[Choice]


def sending_options(db: Session, actor: Actor) -> SendingOptions:
    """What the "Nova campanha" form offers: live channels, templates and the actor's segments."""
    from app.crm.segments import list_segments

    actor.require(Perm.CAMPAIGNS_MANAGE)
    channels = db.exec(
        select(Channel).where(col(Channel.deleted_at).is_(None)).order_by(col(Channel.name))
    ).all()
    templates = db.exec(select(Template).order_by(col(Template.name))).all()
    return SendingOptions(
        channels=[
            Choice(value=str(c.id), label=c.name + (" (padrão)" if c.is_default else ""), medium=c.medium)
            for c in channels
        ],
        templates=[
            Choice(
                value=str(t.id),
                label=t.name + (f" · {t.approval_status.lower()}" if t.approval_status else ""),
                medium=t.channel,
            )
            for t in templates
        ],
        segments=[Choice(value=str(s.id), label=s.name, medium="") for s in list_segments(db, actor)],
    )
