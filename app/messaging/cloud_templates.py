"""Meta-approved WhatsApp templates, synced from the WABA (`GET /{version}/{waba_id}/message_templates`)
into our `templates` table, and mapped to our Portuguese variables.

A Cloud API template has positional parameters (`{{1}}`, `{{2}}`...). Our row keeps Meta's name and
language (`provider_name`, `language`), its review status (`approval_status`: APPROVED, PENDING,
REJECTED, PAUSED, DISABLED) and the mapping: `variables[i]` is the variable of ours that fills
`{{i+1}}`. Once mapped, `body` reads with our names (`Olá {{nome}}`), so previews and the missing-variable
check work as for any template; the sender builds the positional `body_params` from `variables`.
A template not mapped yet keeps `{{1}}` in its body and cannot be sent until an admin maps it.
"""

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import custom_fields
from app.crm.templates import BUILTIN_VARIABLES
from app.errors import DomainError, Invalid, NotFound
from app.messaging.kinds import WhatsAppCloudConfig
from app.messaging.wpp_sessions import decrypted_config
from models.base import utcnow
from models.tenant import Channel, Template

_POSITIONAL = re.compile(r"\{\{\s*(\d+)\s*\}\}")
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
MAX_PAGES = 50  # 50 x 100 templates: far above Meta's per-WABA limit (250)


class SyncFailed(DomainError):
    code = "provider_unavailable"
    status = 503


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    unmapped: list[str] = field(default_factory=list)  # templates waiting for a variable mapping


def positional_count(text: str) -> int:
    """How many positional parameters a body has ({{1}}..{{n}}; Meta numbers them without gaps)."""
    numbers = {int(n) for n in _POSITIONAL.findall(text)}
    return max(numbers, default=0)


def apply_mapping(text: str, variables: list[str]) -> str:
    """Meta's body with {{n}} replaced by our {{variables[n-1]}}."""
    return _POSITIONAL.sub(
        lambda m: (
            "{{" + variables[int(m.group(1)) - 1] + "}}"
            if 0 < int(m.group(1)) <= len(variables)
            else m.group(0)
        ),
        text,
    )


def _body_text(graph_template: dict[str, Any]) -> str:
    for component in graph_template.get("components") or []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == "BODY":
            return str(component.get("text") or "")
    return ""


def fetch(config: WhatsAppCloudConfig, page_size: int = 100) -> list[dict[str, Any]]:
    """Every template of the WABA, following `paging.next` (Graph cursor pagination)."""
    url: str | None = (
        f"{config.api_base_url.rstrip('/')}/{config.api_version}/{config.waba_id}/message_templates"
    )
    params: dict[str, Any] | None = {"limit": page_size, "fields": "name,language,status,category,components"}
    found: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {config.access_token}"}
    with httpx.Client(timeout=TIMEOUT, headers=headers) as client:
        for _ in range(MAX_PAGES):
            if url is None:
                break
            try:
                response = client.get(url, params=params)
            except httpx.HTTPError as exc:
                raise SyncFailed("A Meta não respondeu. Tente sincronizar de novo em instantes.") from exc
            if response.status_code in {401, 403}:
                raise SyncFailed("A Meta recusou o token de acesso do canal: atualize-o em Canais.")
            if response.status_code != 200:
                raise SyncFailed(f"A Meta recusou a listagem de modelos (HTTP {response.status_code}).")
            body = response.json()
            found.extend(t for t in body.get("data") or [] if isinstance(t, dict) and t.get("name"))
            url, params = (body.get("paging") or {}).get("next"), None  # `next` carries the cursor
    return found


def _unique_name(db: Session, base: str) -> str:
    name, n = base[:120], 2
    while db.exec(select(Template.id).where(Template.name == name)).first() is not None:
        suffix = f" ({n})"
        name, n = base[: 120 - len(suffix)] + suffix, n + 1
    return name


def sync(db: Session, actor: Actor, channel_id: int) -> SyncReport:
    """Upsert the channel's WABA templates (by Meta name + language); mappings already made are kept
    while the parameter count still matches."""
    actor.require(Perm.TEMPLATES_WRITE)
    channel = db.get(Channel, channel_id)
    if channel is None or channel.deleted_at is not None or channel.kind != "whatsapp_cloud":
        raise NotFound("Canal WhatsApp Cloud API não encontrado.")
    config = decrypted_config(channel, WhatsAppCloudConfig)
    report = SyncReport()
    existing = {
        (t.provider_name, t.language): t
        for t in db.exec(
            select(Template).where(Template.channel == "whatsapp", col(Template.provider_name).is_not(None))
        )
    }
    for graph in fetch(config):
        provider_name, language = str(graph["name"])[:200], str(graph.get("language") or "pt_BR")[:10]
        status = str(graph.get("status") or "")[:20].upper() or None
        text = _body_text(graph)
        count = positional_count(text)
        row = existing.get((provider_name, language))
        if row is None:
            row = Template(
                name=_unique_name(db, f"{provider_name} ({language})"),
                channel="whatsapp",
                body=text or provider_name,
                variables=[],
                provider_name=provider_name,
                language=language,
                approval_status=status,
            )
            db.add(row)
            db.flush()
            record(db, actor, "template.create", "template", row.id, None, row)
            report.created.append(row.name)
        else:
            mapping = row.variables if len(row.variables) == count else []
            body = apply_mapping(text, mapping) if text else row.body
            if (row.body, row.approval_status, row.variables) == (body, status, mapping):
                report.unchanged += 1
            else:
                before = row.model_dump()
                row.body, row.approval_status, row.variables = body, status, mapping
                row.updated_at = utcnow()
                db.add(row)
                record(db, actor, "template.update", "template", row.id, before, row)
                report.updated.append(row.name)
        if count and len(row.variables) != count:
            report.unmapped.append(row.name)
    return report


def map_variables(db: Session, actor: Actor, template_id: int, variables: list[str]) -> Template:
    """Say which of our variables fills each {{n}} of a synced template (in order)."""
    actor.require(Perm.TEMPLATES_WRITE)
    row = db.get(Template, template_id)
    if row is None or row.provider_name is None:
        raise NotFound("Modelo aprovado da Meta não encontrado.")
    source = _original(row)
    count = positional_count(source)
    known = set(BUILTIN_VARIABLES) | {d.key for d in custom_fields.definitions(db)}
    if len(variables) != count:
        raise Invalid({"variables": f"O modelo tem {count} variáveis; informe {count}."})
    unknown = [v for v in variables if v not in known]
    if unknown:
        raise Invalid(
            {"variables": "Variável desconhecida: " + ", ".join("{{" + v + "}}" for v in unknown) + "."}
        )
    before = row.model_dump()
    row.body, row.variables, row.updated_at = apply_mapping(source, variables), list(variables), utcnow()
    db.add(row)
    record(db, actor, "template.update", "template", row.id, before, row)
    return row


def _original(row: Template) -> str:
    """The body with positional placeholders again (undoing an earlier mapping)."""
    text = row.body
    for index, name in enumerate(row.variables, start=1):
        text = text.replace("{{" + name + "}}", "{{" + str(index) + "}}")
    return text


def body_params(row: Template, values: dict[str, Any]) -> list[str]:
    """The positional parameters to send, from a customer's values (for the sending service)."""
    return [str(values.get(name, "") or "") for name in row.variables]
