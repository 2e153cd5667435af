"""Message templates with Portuguese variables ({{nome}}, {{razao_social}}, {{plano_atual}}...)."""

import re
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import custom_fields
from app.crm.visibility import get_visible_customer
from app.errors import Conflict, Invalid, NotFound
from app.validation import Id, Str10, Str20, Str120, Str200, Str300, Str20000
from models.base import utcnow
from models.tenant import Customer, Template

CHANNELS = {"whatsapp": "WhatsApp", "email": "E-mail"}
_VAR = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
# Variables every template may use; custom field keys are valid too.
BUILTIN_VARIABLES = {
    "nome": "Nome do cliente",
    "primeiro_nome": "Primeiro nome",
    "razao_social": "Razão social",
    "nome_fantasia": "Nome fantasia",
    "documento": "CPF/CNPJ",
    "plano_atual": "Plano atual",
    "status": "Status",
}


class TemplateIn(BaseModel):
    name: Str120
    channel: Str20
    subject: Str300 | None = None
    body: Str20000
    provider_name: Str200 | None = None
    language: Str10 = "pt_BR"


def extract_variables(*texts: str | None) -> list[str]:
    """Distinct {{variables}} in order of first appearance."""
    seen: dict[str, None] = {}
    for text in texts:
        for name in _VAR.findall(text or ""):
            seen.setdefault(name, None)
    return list(seen)


def _validate(db: Session, data: TemplateIn, own_id: int | None = None) -> tuple[str, list[str]]:
    errors: dict[str, str] = {}
    name = data.name.strip()
    if not name:
        errors["name"] = "Informe o nome do modelo."
    if data.channel not in CHANNELS:
        errors["channel"] = "Canal inválido (WhatsApp ou e-mail)."
    if not data.body.strip():
        errors["body"] = "Escreva o texto do modelo."
    if data.channel == "email" and not (data.subject or "").strip():
        errors["subject"] = "Informe o assunto do e-mail."
    variables = extract_variables(data.subject, data.body)
    known = set(BUILTIN_VARIABLES) | {d.key for d in custom_fields.definitions(db)}
    unknown = [v for v in variables if v not in known]
    if unknown:
        errors["body"] = "Variável desconhecida: " + ", ".join("{{" + v + "}}" for v in unknown) + "."
    if errors:
        raise Invalid(errors)
    other = db.exec(select(Template).where(Template.name == name)).first()
    if other is not None and other.id != own_id:
        raise Conflict("Já existe um modelo com este nome.", field="name")
    return name, variables


def list_templates(db: Session, actor: Actor, channel: str | None = None) -> list[Template]:
    actor.require(Perm.CUSTOMERS_READ)
    stmt = select(Template).order_by(col(Template.name))
    if channel:
        stmt = stmt.where(Template.channel == channel)
    return list(db.exec(stmt).all())


def get_template(db: Session, actor: Actor, template_id: int) -> Template:
    actor.require(Perm.CUSTOMERS_READ)
    template = db.get(Template, template_id)
    if template is None:
        raise NotFound("Modelo não encontrado.")
    return template


def create_template(db: Session, actor: Actor, data: TemplateIn) -> Template:
    actor.require(Perm.TEMPLATES_WRITE)
    name, variables = _validate(db, data)
    template = Template(
        name=name,
        channel=data.channel,
        subject=data.subject,
        body=data.body,
        variables=variables,
        provider_name=data.provider_name,
        language=data.language,
    )
    db.add(template)
    db.flush()
    record(db, actor, "template.create", "template", template.id, None, template)
    return template


def update_template(db: Session, actor: Actor, template_id: int, data: TemplateIn) -> Template:
    actor.require(Perm.TEMPLATES_WRITE)
    template = get_template(db, actor, template_id)
    before = template.model_dump()
    name, variables = _validate(db, data, template.id)
    template.name, template.channel, template.subject, template.body = (
        name,
        data.channel,
        data.subject,
        data.body,
    )
    template.variables, template.provider_name, template.language = (
        variables,
        data.provider_name,
        data.language,
    )
    template.updated_at = utcnow()
    db.add(template)
    record(db, actor, "template.update", "template", template.id, before, template)
    return template


def delete_template(db: Session, actor: Actor, template_id: int) -> None:
    actor.require(Perm.TEMPLATES_WRITE)
    template = get_template(db, actor, template_id)
    record(db, actor, "template.delete", "template", template.id, template, None)
    db.delete(template)


def variables_for(customer: Customer) -> dict[str, Any]:
    first = customer.name.split()[0] if customer.name.split() else ""
    return {
        "nome": customer.name,
        "primeiro_nome": first,
        "razao_social": customer.name,
        "nome_fantasia": customer.trade_name or customer.name,
        "documento": customer.document or "",
        "plano_atual": customer.plan or "",
        "status": customer.status,
        **customer.custom,
    }


def render(text: str, values: dict[str, Any]) -> str:
    """Fill {{variables}}; a missing value renders empty rather than leaking the placeholder."""
    return _VAR.sub(lambda m: str(values.get(m.group(1), "") or ""), text)


# ---------------------------------------------------------------- preview
# What a preview shows when no customer is chosen: plausible values, clearly an example.
SAMPLE_VALUES = {
    "nome": "Maria da Silva",
    "primeiro_nome": "Maria",
    "razao_social": "Silva Telecom Ltda",
    "nome_fantasia": "Silva Telecom",
    "documento": "12.345.678/0001-95",
    "plano_atual": "Controle 20 GB",
    "status": "ativo",
}
_SAMPLE_BY_TYPE = {"number": "42", "date": "31/12/2025", "bool": "Sim"}


class PreviewPart(BaseModel):
    text: str
    # text: the template's own words | value: a filled variable | empty: a known variable with no
    # value for this customer (sends as nothing) | unknown: not a variable the template may use
    kind: str
    variable: str | None = None


class TemplatePreview(BaseModel):
    subject: str | None
    body: str
    subject_parts: list[PreviewPart]
    body_parts: list[PreviewPart]
    customer_id: int | None
    customer_name: str | None
    sample: bool  # True: sample values, no customer chosen
    unknown: list[str]  # variables nobody can fill: the send would leave them empty
    empty: list[str]  # known variables this customer has no value for


class PreviewIn(BaseModel):
    customer_id: Id | None = None


class TextPreviewIn(PreviewIn):
    subject: Str300 | None = None
    body: Str20000


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Sim" if value else "Não"
    return str(value)


def _parts(text: str, values: dict[str, Any], known: set[str]) -> list[PreviewPart]:
    parts: list[PreviewPart] = []
    pos = 0
    for m in _VAR.finditer(text):
        if m.start() > pos:
            parts.append(PreviewPart(text=text[pos : m.start()], kind="text"))
        name = m.group(1)
        if name not in known:
            # Shown as typed, so the author sees exactly which placeholder is wrong.
            parts.append(PreviewPart(text=m.group(0), kind="unknown", variable=name))
        else:
            value = _display(values.get(name))
            parts.append(PreviewPart(text=value, kind="value" if value else "empty", variable=name))
        pos = m.end()
    if pos < len(text):
        parts.append(PreviewPart(text=text[pos:], kind="text"))
    return parts


def preview_text(
    db: Session, actor: Actor, *, subject: str | None, body: str, customer_id: int | None = None
) -> TemplatePreview:
    """Render a subject/body for one visible customer (or sample values), flagging unknown variables."""
    actor.require(Perm.CUSTOMERS_READ)
    definitions = custom_fields.definitions(db)
    known = set(BUILTIN_VARIABLES) | {d.key for d in definitions}
    customer = get_visible_customer(db, actor, customer_id) if customer_id is not None else None
    if customer is not None:
        values = variables_for(customer)
    else:
        values = {
            **{d.key: _SAMPLE_BY_TYPE.get(d.type, f"[{d.label}]") for d in definitions},
            **SAMPLE_VALUES,
        }
    body_parts = _parts(body, values, known)
    subject_parts = _parts(subject, values, known) if subject else []
    used = subject_parts + body_parts
    return TemplatePreview(
        subject="".join(p.text for p in subject_parts) if subject else None,
        body="".join(p.text for p in body_parts),
        subject_parts=subject_parts,
        body_parts=body_parts,
        customer_id=customer.id if customer else None,
        customer_name=customer.name if customer else None,
        sample=customer is None,
        unknown=list(dict.fromkeys(p.variable for p in used if p.kind == "unknown" and p.variable)),
        empty=list(dict.fromkeys(p.variable for p in used if p.kind == "empty" and p.variable)),
    )


def preview_template(
    db: Session, actor: Actor, template_id: int, *, customer_id: int | None = None
) -> TemplatePreview:
    """A saved template rendered for a customer (or sample values); see preview_text."""
    template = get_template(db, actor, template_id)
    return preview_text(db, actor, subject=template.subject, body=template.body, customer_id=customer_id)
