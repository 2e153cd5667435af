"""The consent ledger (LGPD, CAN-SPAM): per contact address and medium, who opted in or out, when,
on what legal basis, from where, with what evidence.

The ledger is append-only (`consent_events`); an address's state is its newest line for the medium.
`Contact.opt_out` stays the fast flag every screen and the import read, and is kept in step here. The
ledger is keyed by the address's hash as well as the address, so an erasure (the customer anonymised)
clears the address but keeps the proof that it opted out; a later import of the same address is still
suppressed by `is_opted_out`.

Unsubscribe tokens are Fernet tokens (app.security.keys: authenticated, encrypted, key rotation), so a
link names the tenant and address without exposing the address and cannot be forged or altered.
"""

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from cryptography.fernet import InvalidToken
from pydantic import BaseModel
from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from app.audit.log import record as audit
from app.auth.actor import Actor, system_actor
from app.auth.permissions import Perm
from app.crm import timeline
from app.crm.visibility import get_visible_customer
from app.errors import Invalid
from app.security.keys import decrypt, encrypt
from app.text import fold_words
from models.base import utcnow
from models.tenant import ConsentEvent, Contact
from tenants.database import sql, text_array

MEDIUMS = ("whatsapp", "email")
# Contact kinds that carry each medium's address.
CONTACT_KINDS = {"whatsapp": ("phone", "whatsapp"), "email": ("email",)}
SOURCES = {
    "keyword": "Palavra-chave (WhatsApp)",
    "unsubscribe_link": "Link de descadastro",
    "complaint": "Reclamação de spam",
    "hard_bounce": "E-mail inexistente (bounce)",
    "agent": "Atendente",
    "import": "Importação",
    "api": "API",
    "inbound": "Mensagem do cliente",
}
LEGAL_BASES = {
    "consent": "Consentimento",
    "legitimate_interest": "Legítimo interesse",
    "contract": "Execução de contrato",
    "legal_obligation": "Obrigação legal",
}
# A whole message that is one of these words (accents, case and punctuation aside) opts the sender out.
# Only the whole message: "quero cancelar meu plano" is a conversation, not an opt-out.
STOP_WORDS = frozenset(
    {"sair", "parar", "pare", "stop", "cancelar", "descadastrar", "remover", "unsubscribe", "nao quero"}
)
_SPACES = re.compile(r"\s+")


class ConsentRow(BaseModel):
    id: int
    medium: str
    address: str | None
    status: str
    legal_basis: str
    source: str
    source_label: str
    evidence: dict[str, Any]
    actor_id: int | None
    created_at: datetime


def normalise_address(medium: str, address: str) -> str:
    if medium not in MEDIUMS:
        raise Invalid("medium", "Canal de consentimento inválido (whatsapp ou email).")
    address = address.strip()
    return address.lower() if medium == "email" else address


def address_hash(medium: str, address: str) -> str:
    return hashlib.sha256(f"{medium}:{normalise_address(medium, address)}".encode()).hexdigest()


def is_stop_keyword(text: str) -> bool:
    return _SPACES.sub(" ", fold_words(text)).strip() in STOP_WORDS


def append(
    db: Session,
    *,
    medium: str,
    address: str,
    status: str,
    source: str,
    legal_basis: str = "consent",
    customer_id: int | None = None,
    evidence: dict[str, Any] | None = None,
    actor: Actor | None = None,
) -> ConsentEvent:
    """Only the ledger line: for callers that keep the contact flag, audit and timeline themselves
    (an agent's opt-out switch on a contact, app.crm.contacts.set_opt_out)."""
    if status not in ("opt_in", "opt_out"):
        raise Invalid("status", "Situação de consentimento inválida.")
    if source not in SOURCES:
        raise Invalid("source", "Origem de consentimento inválida.")
    if legal_basis not in LEGAL_BASES:
        raise Invalid("legal_basis", "Base legal inválida.")
    address = normalise_address(medium, address)
    event = ConsentEvent(
        customer_id=customer_id,
        medium=medium,
        address=address,
        address_hash=address_hash(medium, address),
        status=status,
        legal_basis=legal_basis,
        source=source,
        evidence=evidence or {},
        actor_id=actor.user_id if actor else None,
    )
    db.add(event)
    return event


def record(
    db: Session,
    *,
    medium: str,
    address: str,
    status: str,
    source: str,
    legal_basis: str = "consent",
    customer_id: int | None = None,
    evidence: dict[str, Any] | None = None,
    actor: Actor | None = None,
) -> ConsentEvent:
    """Append a ledger line, bring the address's contacts' opt-out flag in step, audit it and put it on
    the customer's timeline. The caller has checked that the actor may act on the customer."""
    address = normalise_address(medium, address)
    contacts = db.exec(
        select(Contact).where(col(Contact.value) == address, col(Contact.kind).in_(CONTACT_KINDS[medium]))
    ).all()
    if customer_id is None and contacts:
        customer_id = contacts[0].customer_id
    event = append(
        db,
        medium=medium,
        address=address,
        status=status,
        source=source,
        legal_basis=legal_basis,
        customer_id=customer_id,
        evidence=evidence,
        actor=actor,
    )
    opt_out, now = status == "opt_out", utcnow()
    for contact in contacts:
        if contact.opt_out != opt_out:
            contact.opt_out = opt_out
            contact.opt_out_at = now if opt_out else None
            contact.opt_out_reason = SOURCES[source][:200] if opt_out else None
            db.add(contact)
    db.flush()
    # Nobody clicked a webhook or an unsubscribe link: the system is the author, as for imports.
    who = actor or system_actor(None, str(db.info.get("schema", "")))
    audit(db, who, f"consent.{status}", "consent_event", event.id, None, event)
    if customer_id is not None:
        verb = "Descadastrou" if opt_out else "Voltou a aceitar"
        timeline.add(
            db,
            customer_id,
            kind="opt_out",
            summary=f"{verb} {address} ({SOURCES[source]})",
            payload={"medium": medium, "status": status, "source": source, "consent_event_id": event.id},
            actor=actor,
            ref=("consent_event", event.id),
        )
    return event


def opt_out(
    db: Session,
    *,
    medium: str,
    address: str,
    source: str,
    evidence: dict[str, Any] | None = None,
    customer_id: int | None = None,
    actor: Actor | None = None,
) -> ConsentEvent | None:
    """Opt the address out (None when it already is: a repeated click or webhook adds no line)."""
    if is_opted_out(db, medium, address):
        return None
    return record(
        db,
        medium=medium,
        address=address,
        status="opt_out",
        source=source,
        evidence=evidence,
        customer_id=customer_id,
        actor=actor,
    )


def opted_out(db: Session, medium: str, addresses: list[str]) -> set[str]:
    """Which of these addresses must not be contacted on `medium`: the newest ledger line says so, or,
    for addresses the ledger never saw, a contact carrying the address is flagged (imports, demo data).
    One statement per call (the outbox checks every claimed chunk at send time): the newest line per
    address through `ix_consent_events_address`, the contact flag through the contacts' (kind, value) key."""
    if not addresses:
        return set()
    normalised = {normalise_address(medium, a): a for a in addresses}
    values = list(normalised)
    schema = _schema(db)
    rows = db.execute(
        sql(
            f"""
            SELECT w.value
              FROM unnest(CAST(:hashes AS text[]), CAST(:vals AS text[])) AS w(hash, value)
              LEFT JOIN LATERAL (SELECT e.status FROM {schema}.consent_events e
                                  WHERE e.medium = :medium AND e.address_hash = w.hash
                                  ORDER BY e.id DESC LIMIT 1) newest ON true
             WHERE newest.status = 'opt_out'
                OR (newest.status IS NULL AND EXISTS (
                        SELECT 1 FROM {schema}.contacts c
                         WHERE c.kind = ANY(CAST(:kinds AS text[])) AND c.value = w.value AND c.opt_out))
            """
        ),
        {
            "hashes": text_array(address_hash(medium, v) for v in values),
            "vals": text_array(values),
            "medium": medium,
            "kinds": text_array(CONTACT_KINDS[medium]),
        },
    ).all()
    return {normalised[r[0]] for r in rows}


def _schema(db: Session) -> str:
    """The tenant schema the session is bound to (text SQL names it explicitly)."""
    translate = db.get_bind().get_execution_options().get("schema_translate_map") or {}
    schema = db.info.get("schema") or translate.get(None)
    if not schema:
        raise RuntimeError("consent: a tenant session is required")
    return str(schema)


def is_opted_out(db: Session, medium: str, address: str) -> bool:
    return bool(opted_out(db, medium, [address]))


def list_for_customer(db: Session, actor: Actor, customer_id: int) -> list[ConsentRow]:
    """The customer's ledger, newest first: its own lines and those of the addresses it carries now."""
    actor.require(Perm.CUSTOMERS_READ)
    get_visible_customer(db, actor, customer_id)
    contacts = db.exec(select(Contact).where(Contact.customer_id == customer_id)).all()
    keys = [
        (medium, address_hash(medium, c.value))
        for c in contacts
        for medium in MEDIUMS
        if c.kind in CONTACT_KINDS[medium]
    ]
    clause = col(ConsentEvent.customer_id) == customer_id
    if keys:
        clause = clause | tuple_(ConsentEvent.medium, ConsentEvent.address_hash).in_(keys)
    rows = db.exec(select(ConsentEvent).where(clause).order_by(col(ConsentEvent.id).desc()).limit(500)).all()
    return [
        ConsentRow(
            id=r.id or 0,
            medium=r.medium,
            address=r.address,
            status=r.status,
            legal_basis=r.legal_basis,
            source=r.source,
            source_label=SOURCES.get(r.source, r.source),
            evidence=r.evidence,
            actor_id=r.actor_id,
            created_at=r.created_at,
        )
        for r in rows
    ]


def unsubscribe_token(tenant_id: int, medium: str, address: str) -> str:
    payload = {"t": tenant_id, "m": medium, "a": normalise_address(medium, address)}
    return encrypt(json.dumps(payload, separators=(",", ":")))


def read_unsubscribe_token(token: str) -> tuple[int, str, str]:
    """The (tenant id, medium, address) a link was made for; Invalid when it was altered or forged."""
    try:
        payload = json.loads(decrypt(token))
        tenant_id, medium, address = int(payload["t"]), str(payload["m"]), str(payload["a"])
    except (InvalidToken, ValueError, KeyError, TypeError):
        raise Invalid("token", "Link de descadastro inválido.") from None
    if medium not in MEDIUMS:
        raise Invalid("token", "Link de descadastro inválido.")
    return tenant_id, medium, address
