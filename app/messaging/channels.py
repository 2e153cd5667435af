"""Channels (sending identities): create, list, read, update and archive; secrets encrypted, never shown.

An admin sends the whole configuration of a kind (`app.messaging.kinds`); the secret fields are split
off and stored as one Fernet-encrypted JSON document (`Channel.secrets`), the rest stays readable JSON.
Secrets are write-only: responses and the audit log show which ones are set (`secrets_set`, "••••"),
never their values, and an update that does not re-send a secret keeps the stored one.

One live channel per medium may be the tenant's default (the first of a medium becomes it). A
WhatsApp Cloud API number is also written to `platform.channel_routes` (phone_number_id → tenant and
channel, sha256 of the verify token), because Meta posts every number's events to one URL.
"""

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.errors import Conflict, Invalid, NotFound, invalid_from
from app.messaging import governor, limits, number_signals
from app.messaging.adapters import build_adapter
from app.messaging.kinds import KINDS, Kind
from app.messaging.protocol import ChannelAdapter
from app.security.keys import decrypt, encrypt
from app.validation import Id, Str30, Str120
from models.base import utcnow
from models.platform import ChannelRoute, User
from models.tenant import Channel

MASK = "••••"
STATUS_LABELS = {
    "active": "Ativo",
    "connecting": "Conectando",
    "qrcode": "Aguardando QR code",
    "disconnected": "Desconectado",
    "paused": "Pausado",
    "error": "Com erro",
}
# Statuses an admin may set by hand; the others are reported by the provider's session.
ADMIN_STATUSES = {"active", "paused"}
CLOUD_ROUTE = "whatsapp_cloud"


class ChannelIn(BaseModel):
    kind: Str30
    name: Str120
    config: dict[str, Any] = Field(default_factory=dict)
    is_default: bool | None = None
    owner_user_id: Id | None = None


class ChannelUpdate(BaseModel):
    """Partial: absent fields are kept; in `config`, secrets not sent (or sent as "••••") are kept."""

    name: Str120 | None = None
    config: dict[str, Any] | None = None
    is_default: bool | None = None
    status: Str30 | None = None
    owner_user_id: Id | None = None


class ChannelOut(BaseModel):
    id: int
    kind: str
    kind_label: str
    medium: str
    name: str
    status: str
    status_label: str
    status_detail: str | None
    is_default: bool
    owner_user_id: int | None
    config: dict[str, Any]  # secret fields appear as "••••" when set
    secrets_set: list[str]
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- secrets


def _secrets(channel: Channel) -> dict[str, Any]:
    if not channel.secrets:
        return {}
    data: dict[str, Any] = json.loads(decrypt(channel.secrets))
    return data


def secrets_set(channel: Channel) -> list[str]:
    """Names of the secret fields that hold a value (decrypts; never returns the values)."""
    return sorted(k for k, v in _secrets(channel).items() if v not in ("", None))


def config_model(channel: Channel) -> BaseModel:
    """The channel's full configuration (secrets decrypted) as its kind's model; for adapters only."""
    kind = KINDS[channel.kind]
    return kind.config.model_validate({**channel.config, **_secrets(channel)})


def adapter_for(channel: Channel) -> ChannelAdapter:
    """A provider adapter for the channel, built from its decrypted configuration and state."""
    return build_adapter(channel.kind, config_model(channel), dict(channel.state or {}))


def verify_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- views


def to_out(channel: Channel) -> ChannelOut:
    kind = KINDS.get(channel.kind)
    present = secrets_set(channel)
    config = dict(channel.config)
    for name in sorted(kind.secret_fields if kind else ()):
        config[name] = MASK if name in present else ""
    return ChannelOut(
        id=channel.id or 0,
        kind=channel.kind,
        kind_label=kind.label if kind else channel.kind,
        medium=channel.medium,
        name=channel.name,
        status=channel.status,
        status_label=STATUS_LABELS.get(channel.status, channel.status),
        status_detail=channel.status_detail,
        is_default=channel.is_default,
        owner_user_id=channel.owner_user_id,
        config=config,
        secrets_set=present,
        created_at=channel.created_at,
        updated_at=channel.updated_at,
    )


def _audit_view(channel: Channel) -> dict[str, Any]:
    # What the audit log keeps of a channel: never the secrets, only which ones are set.
    return {
        "kind": channel.kind,
        "medium": channel.medium,
        "name": channel.name,
        "status": channel.status,
        "is_default": channel.is_default,
        "owner_user_id": channel.owner_user_id,
        "config": dict(channel.config),
        "secrets_set": secrets_set(channel),
        "deleted_at": channel.deleted_at,
    }


# ---------------------------------------------------------------- rules


def _kind(name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        raise Invalid("kind", "Tipo de canal inválido.")
    return kind


def _validated(kind: Kind, merged: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate a kind's whole configuration; return (plain config, secrets)."""
    bad = [k for k, v in merged.items() if isinstance(v, str) and "\x00" in v]
    if bad:
        raise Invalid({f"config.{k}": "Texto com caractere inválido." for k in bad})
    try:
        model = kind.config.model_validate(merged)
    except ValidationError as exc:
        errors = [{**e, "loc": ("config", *e.get("loc", ()))} for e in exc.errors()]
        raise invalid_from(errors) from exc
    data = model.model_dump(mode="json")
    secrets = {k: v for k, v in data.items() if k in kind.secret_fields and v not in ("", None)}
    plain = {k: v for k, v in data.items() if k not in kind.secret_fields}
    return plain, secrets


def _owner(db: Session, actor: Actor, user_id: int | None) -> int | None:
    if user_id is None:
        return None
    user = db.get(User, user_id)
    if user is None or user.tenant_id != actor.tenant_id or user.status != "active":
        raise Invalid("owner_user_id", "Usuário não encontrado nesta organização.")
    return user_id


def _live(db: Session, channel_id: int) -> Channel:
    channel = db.exec(
        select(Channel).where(Channel.id == channel_id, col(Channel.deleted_at).is_(None))
    ).first()
    if channel is None:
        raise NotFound("Canal não encontrado.")
    return channel


def _make_default(db: Session, channel: Channel) -> None:
    others = db.exec(
        select(Channel).where(
            Channel.medium == channel.medium,
            col(Channel.is_default),
            col(Channel.deleted_at).is_(None),
            Channel.id != channel.id,
        )
    ).all()
    for other in others:
        other.is_default, other.updated_at = False, utcnow()
        db.add(other)
    # The partial unique index checks row by row: the old default goes first.
    db.flush()
    channel.is_default = True


def _has_default(db: Session, medium: str) -> bool:
    return (
        db.exec(
            select(Channel.id).where(
                Channel.medium == medium, col(Channel.is_default), col(Channel.deleted_at).is_(None)
            )
        ).first()
        is not None
    )


def _sync_route(db: Session, actor: Actor, channel: Channel, secrets: dict[str, Any] | None) -> None:
    """Keep platform.channel_routes in step with a Cloud API channel (none once archived)."""
    if channel.kind != CLOUD_ROUTE:
        return
    routes = db.exec(
        select(ChannelRoute).where(
            ChannelRoute.provider == CLOUD_ROUTE,
            ChannelRoute.tenant_id == actor.tenant_id,
            ChannelRoute.channel_id == channel.id,
        )
    ).all()
    phone_number_id = None if channel.deleted_at else str(channel.config.get("phone_number_id") or "")
    for route in routes:
        if route.external_id != phone_number_id:
            db.delete(route)
    db.flush()
    if not phone_number_id:
        return
    taken = db.get(ChannelRoute, (CLOUD_ROUTE, phone_number_id))
    if taken is not None and (taken.tenant_id != actor.tenant_id or taken.channel_id != channel.id):
        raise Conflict(
            "Este número (phone_number_id) já está configurado em outro canal.",
            field="config.phone_number_id",
        )
    token = (secrets if secrets is not None else _secrets(channel)).get("verify_token") or ""
    route = taken or ChannelRoute(
        provider=CLOUD_ROUTE,
        external_id=phone_number_id,
        tenant_id=actor.tenant_id or 0,
        channel_id=channel.id or 0,
    )
    route.verify_token_hash = verify_token_hash(token) if token else None
    route.waba_id = str(channel.config.get("waba_id") or "") or None
    db.add(route)


# ---------------------------------------------------------------- services


def usable_clause(actor: Actor) -> ColumnElement[bool]:
    """Channels the actor may send with: the organisation's, and the actor's own sessions."""
    return or_(col(Channel.owner_user_id).is_(None), col(Channel.owner_user_id) == actor.user_id)


def list_channels(db: Session, actor: Actor, *, medium: str | None = None) -> list[ChannelOut]:
    """Admins see every live channel; others the active ones they may send with, and their own sessions
    whatever their state (to connect them), with no secrets either way."""
    stmt = select(Channel).where(col(Channel.deleted_at).is_(None))
    if not actor.can(Perm.CHANNELS_MANAGE):
        actor.require(Perm.CONVERSATIONS_REPLY)
        stmt = stmt.where(
            usable_clause(actor),
            or_(col(Channel.status) == "active", col(Channel.owner_user_id) == actor.user_id),
        )
    if medium:
        stmt = stmt.where(Channel.medium == medium)
    stmt = stmt.order_by(
        col(Channel.medium), col(Channel.is_default).desc(), col(Channel.name), col(Channel.id)
    )
    return [to_out(c) for c in db.exec(stmt).all()]


def get_channel(db: Session, actor: Actor, channel_id: int) -> Channel:
    """A live channel the actor may manage or send with, else NotFound."""
    channel = _live(db, channel_id)
    if actor.can(Perm.CHANNELS_MANAGE):
        return channel
    actor.require(Perm.CONVERSATIONS_REPLY)
    if channel.owner_user_id not in (None, actor.user_id):
        raise NotFound("Canal não encontrado.")
    return channel


def create_channel(db: Session, actor: Actor, data: ChannelIn) -> Channel:
    """Create a channel; the config is validated for its kind and its secrets encrypted."""
    actor.require(Perm.CHANNELS_MANAGE)
    kind = _kind(data.kind)
    name = data.name.strip()
    if not name:
        raise Invalid("name", "Informe o nome do canal.")
    plain, secrets = _validated(kind, data.config)
    channel = Channel(
        kind=kind.name,
        medium=kind.medium.value,
        name=name,
        # A QR-code session sends nothing until its QR code is read (status-find CONNECTED → active).
        status="disconnected" if kind.name == "wppconnect" else "active",
        owner_user_id=_owner(db, actor, data.owner_user_id),
        config=plain,
        secrets=encrypt(json.dumps(secrets)) if secrets else "",
        created_by=actor.user_id,
    )
    db.add(channel)
    db.flush()
    # An agent's own session is never the organisation's default.
    if channel.owner_user_id is None and (data.is_default or not _has_default(db, channel.medium)):
        _make_default(db, channel)
    elif data.is_default:
        raise Invalid("is_default", "O canal pessoal de um usuário não pode ser o padrão da organização.")
    db.add(channel)
    db.flush()
    _sync_route(db, actor, channel, secrets)
    record(db, actor, "channel.create", "channel", channel.id, None, _audit_view(channel))
    return channel


def update_channel(db: Session, actor: Actor, channel_id: int, data: ChannelUpdate) -> Channel:
    """Change a channel; secrets not re-sent are kept, the config is validated whole again."""
    actor.require(Perm.CHANNELS_MANAGE)
    channel = _live(db, channel_id)
    kind = _kind(channel.kind)
    before = _audit_view(channel)
    fields = data.model_fields_set
    if data.name is not None:
        name = data.name.strip()
        if not name:
            raise Invalid("name", "Informe o nome do canal.")
        channel.name = name
    secrets: dict[str, Any] | None = None
    if data.config is not None:
        stored = _secrets(channel)
        sent = {
            k: v for k, v in data.config.items() if not (k in kind.secret_fields and v in (MASK, None, ""))
        }
        kept = {k: v for k, v in stored.items() if k not in sent}
        plain, secrets = _validated(kind, {**channel.config, **kept, **sent})
        channel.config = plain
        channel.secrets = encrypt(json.dumps(secrets)) if secrets else ""
    if "owner_user_id" in fields:
        channel.owner_user_id = _owner(db, actor, data.owner_user_id)
    resumed = False
    if data.status is not None and data.status != channel.status:
        if data.status not in ADMIN_STATUSES:
            raise Invalid("status", "Status inválido (ativo ou pausado).")
        resumed = data.status == "active"
        channel.status, channel.status_detail, channel.status_at = data.status, None, utcnow()
    if data.is_default is True and not channel.is_default:
        if channel.owner_user_id is not None:
            raise Invalid("is_default", "O canal pessoal de um usuário não pode ser o padrão da organização.")
        _make_default(db, channel)
    elif data.is_default is False or channel.owner_user_id is not None:
        channel.is_default = False
    channel.updated_at = utcnow()
    db.add(channel)
    db.flush()
    _sync_route(db, actor, channel, secrets)
    record(db, actor, "channel.update", "channel", channel.id, before, _audit_view(channel))
    if resumed:
        _resume_identity(db, actor, channel)
    return channel


def _resume_identity(db: Session, actor: Actor, channel: Channel) -> None:
    """An admin resuming a channel lifts the governor's pause of its sending identity too (set by a ban
    signal, a disconnect burst or the bounce/complaint rates): otherwise the channel would read active
    while every slot stayed refused. Redis is not part of the transaction; if the caller then rolls
    back, the channel stays paused in the database and the outbox reserves nothing for it anyway."""
    number_signals.clear_failures(db, channel)  # its failure verdict starts over from now (number health)
    identity = limits.identity_for(actor.schema or "", channel.id or 0, config_model(channel))
    gov = governor.get_governor()
    reason = gov.usage(identity, governor.now()).get("paused")
    gov.resume(identity)
    if reason:
        record(
            db,
            actor,
            "channel.resume",
            "channel",
            channel.id,
            {"governor_paused": str(reason)[:300]},
            {"governor_paused": None},
        )


def delete_channel(db: Session, actor: Actor, channel_id: int) -> Channel:
    """Archive a channel: it stops sending and receiving; its messages and history stay."""
    actor.require(Perm.CHANNELS_MANAGE)
    channel = _live(db, channel_id)
    before = _audit_view(channel)
    now = utcnow()
    channel.deleted_at, channel.is_default, channel.updated_at = now, False, now
    db.add(channel)
    db.flush()
    _sync_route(db, actor, channel, None)
    record(db, actor, "channel.delete", "channel", channel.id, before, _audit_view(channel))
    return channel


def default_channel(db: Session, medium: str) -> Channel | None:
    """The tenant's live, active default channel of a medium, if any."""
    return db.exec(
        select(Channel).where(
            Channel.medium == medium,
            col(Channel.is_default),
            Channel.status == "active",
            col(Channel.deleted_at).is_(None),
        )
    ).first()
