"""Message templates with Portuguese variables ({{nome}}, {{razao_social}}, {{plano_atual}}...)."""

import re
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import custom_fields
from app.errors import Conflict, Invalid, NotFound
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
    name: str = Field(max_length=120)
    channel: str
    subject: str | None = Field(default=None, max_length=300)
    body: str = Field(max_length=20_000)
    provider_name: str | None = Field(default=None, max_length=200)
    language: str = Field(default="pt_BR", max_length=10)


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
