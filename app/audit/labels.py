"""How an audit entry reads to a person: pt-BR names for action codes and fields, and a before/after
diff as "campo: antes → depois" lines. The stored rows keep the codes (filters and the API use them);
only screens translate, through this one module."""

import re
from datetime import datetime
from typing import Any

from app.formatting import datetime_br

ACTION_LABELS: dict[str, str] = {
    # sign-in and sessions
    "auth.login": "Entrou no sistema",
    "auth.login_failed": "Tentativa de acesso recusada",
    "auth.login_blocked": "Acesso bloqueado por excesso de tentativas",
    "auth.logout": "Saiu do sistema",
    "auth.refresh_reuse": "Sessão revogada (token reutilizado)",
    "auth.ui_session_end": "Sessão do navegador encerrada",
    # platform
    "superadmin.create": "Superadmin criado",
    "tenant.create": "Organização criada",
    "tenant.signup": "Cadastro de organização",
    "tenant.provision": "Organização provisionada",
    "tenant.confirm": "Cadastro confirmado",
    "tenant.suspend": "Organização suspensa",
    "tenant.reactivate": "Organização reativada",
    "tenant.purge": "Cadastro não confirmado removido",
    "tenant.time_zone": "Fuso horário da organização alterado",
    # users and API clients
    "user.create": "Usuário criado",
    "user.update": "Usuário alterado",
    "user.activate": "Usuário reativado",
    "user.deactivate": "Usuário desativado",
    "user.reset_password": "Senha redefinida",
    "user.time_zone": "Fuso horário do usuário alterado",
    "api_client.create": "Cliente de API criado",
    "api_client.revoke": "Cliente de API revogado",
    # customers and their contacts
    "customer.create": "Cliente criado",
    "customer.update": "Cliente alterado",
    "customer.delete": "Cliente excluído",
    "customer.bulk": "Ação em massa em clientes",
    "customer.export": "Clientes exportados",
    "contact.create": "Contato adicionado",
    "contact.update": "Contato alterado",
    "contact.delete": "Contato removido",
    "contact.opt_out": "Contato descadastrado",
    "contact.opt_in": "Contato voltou a aceitar mensagens",
    "consent.opt_out": "Descadastro registrado",
    "consent.opt_in": "Consentimento registrado",
    "message.receive": "Mensagem recebida",
    "message.send_whatsapp": "WhatsApp enviado ao cliente",
    "message.send_email": "E-mail enviado ao cliente",
    "channel.create": "Canal criado",
    "channel.update": "Canal alterado",
    "channel.delete": "Canal removido",
    "webhook.rejected": "Webhook recusado (assinatura inválida)",
    "attachment.upload": "Anexo enviado",
    "attachment.receive": "Anexo do cliente baixado",
    "channel.pause": "Canal pausado (reputação)",
    "channel.resume": "Canal retomado (limite de envio liberado)",
    "campaign.create": "Campanha criada",
    "campaign.pause": "Campanha pausada",
    "campaign.resume": "Campanha retomada",
    "campaign.cancel": "Campanha cancelada",
    "campaign.export": "Destinatários da campanha exportados",
    "channel.health": "Saúde do número alterada",
    "scheduled_message.create": "Mensagem agendada",
    "scheduled_message.update": "Mensagem agendada alterada",
    "scheduled_message.cancel": "Mensagem agendada cancelada",
    "scheduled_message.queued": "Mensagem agendada enviada para a fila",
    "scheduled_message.skipped": "Mensagem agendada ignorada",
    "scheduled_message.failed": "Mensagem agendada falhou",
    "campaign.retry": "Falhas da campanha reenviadas",
    "campaign_list.upload": "Lista de clientes para campanha enviada",
    "customer.anonymise": "Cliente anonimizado (LGPD)",
    "customer.data_export": "Dados do cliente exportados (LGPD)",
    "note.create": "Anotação criada",
    "note.update": "Anotação alterada",
    "note.delete": "Anotação excluída",
    "appointment.create": "Compromisso criado",
    "appointment.update": "Compromisso alterado",
    "appointment.delete": "Compromisso excluído",
    "opportunity.create": "Oportunidade criada",
    "opportunity.update": "Oportunidade alterada",
    "opportunity.move": "Oportunidade movida de etapa",
    "opportunity.delete": "Oportunidade excluída",
    "tenant.first_steps_dismiss": "Primeiros passos ocultados",
    "pipeline.create": "Funil criado",
    "pipeline.update": "Funil alterado",
    "pipeline.archive": "Funil arquivado",
    "stage.create": "Etapa criada",
    "stage.update": "Etapa alterada",
    "stage.archive": "Etapa arquivada",
    "conversation.assign": "Conversa atribuída",
    "conversation.resolve": "Conversa resolvida",
    "message.reply": "Mensagem respondida",
    # WhatsApp sessions and webhooks (issue 18)
    "channel.session_start": "Sessão do WhatsApp iniciada",
    "channel.session_status": "Status da sessão do WhatsApp alterado",
    "channel.session_logout": "Sessão do WhatsApp desconectada",
    "channel.session_close": "Sessão do WhatsApp encerrada",
    "channel.ban_signal": "Canal pausado por sinal de bloqueio da Meta",
    # imports
    "import.create": "Importação iniciada",
    "import.cancel": "Importação cancelada",
    "import.resume": "Importação retomada",
    "import.preset.save": "Modelo de importação salvo",
    "import.preset.delete": "Modelo de importação excluído",
    # configuration
    "segment.create": "Segmento criado",
    "segment.update": "Segmento alterado",
    "segment.delete": "Segmento excluído",
    "tag.create": "Etiqueta criada",
    "tag.update": "Etiqueta alterada",
    "tag.delete": "Etiqueta excluída",
    "template.create": "Modelo de mensagem criado",
    "template.update": "Modelo de mensagem alterado",
    "template.delete": "Modelo de mensagem excluído",
    "wallet.create": "Carteira criada",
    "wallet.update": "Carteira alterada",
    "wallet.delete": "Carteira excluída",
    "custom_field.create": "Campo personalizado criado",
    "custom_field.update": "Campo personalizado alterado",
    "custom_field.delete": "Campo personalizado excluído",
    "notification.create": "Notificação criada",
    "notification.read": "Notificação lida",
    "notification.read_all": "Notificações marcadas como lidas",
    "preference.update": "Preferência salva",
}

ENTITY_LABELS: dict[str, str] = {
    "account": "Conta",
    "api_client": "Cliente de API",
    "appointment": "Compromisso",
    "campaign": "Campanha",
    "campaign_list": "Lista de campanha",
    "channel": "Canal",
    "contact": "Contato",
    "conversation": "Conversa",
    "custom_field": "Campo personalizado",
    "customer": "Cliente",
    "import": "Importação",
    "import_preset": "Modelo de importação",
    "interaction": "Interação",
    "message": "Mensagem",
    "note": "Anotação",
    "notification": "Notificação",
    "opportunity": "Oportunidade",
    "pipeline": "Funil",
    "scheduled_message": "Mensagem agendada",
    "stage": "Etapa",
    "segment": "Segmento",
    "tag": "Etiqueta",
    "template": "Modelo de mensagem",
    "tenant": "Organização",
    "token_family": "Sessão",
    "user": "Usuário",
    "user_preference": "Preferência",
    "wallet": "Carteira",
}

FIELD_LABELS: dict[str, str] = {
    "name": "nome",
    "email": "e-mail",
    "status": "situação",
    "role": "perfil",
    "slug": "identificador",
    "plan": "plano",
    "phone": "telefone",
    "document": "documento",
    "owner_id": "responsável",
    "wallet_id": "carteira",
    "team_id": "equipe",
    "stage_id": "etapa",
    "value": "valor",
    "title": "título",
    "body": "texto",
    "reason": "motivo",
    "time_zone": "fuso horário",
    "tags": "etiquetas",
    "schema": "schema",
    "schema_name": "schema",
    "admin_email": "e-mail do administrador",
    "rows": "linhas",
    "count": "quantidade",
    "created_at": "criado em",
    "updated_at": "alterado em",
    "confirmed_at": "confirmado em",
    "last_login_at": "último acesso",
    "limits": "limites",
    "pipeline_id": "funil",
    "position": "posição",
    "color": "cor",
    "wip_limit": "limite de cartões",
    "outcome": "resultado",
    "required_fields": "campos obrigatórios",
    "loss_reason": "motivo da perda",
    "expected_close": "previsão de fechamento",
    "archived_at": "arquivado em",
    "first_steps_dismissed_at": "primeiros passos ocultados em",
}

EMPTY = "—"
# A changed JSON document (filters, custom fields) can be long; the table shows its start, the row's
# own tooltip nothing more: the full value stays in the database and the API.
VALUE_MAX = 80


def action_label(code: str) -> str:
    """The pt-BR name of an action; an unknown code reads as itself, never as a blank."""
    return ACTION_LABELS.get(code) or code


def entity_label(entity: str, entity_id: str | None) -> str:
    name = ENTITY_LABELS.get(entity, entity)
    return f"{name} #{entity_id}" if entity_id else name


def field_label(key: str) -> str:
    return FIELD_LABELS.get(key) or key.replace("_", " ")


# Snapshots store datetimes as ISO 8601 (audit.log._plain); people read them in their own zone.
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def value_text(value: Any, tz: str | None = None) -> str:
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        try:
            return datetime_br(datetime.fromisoformat(value), tz)
        except ValueError:
            pass
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY
    if isinstance(value, bool):
        return "sim" if value else "não"
    if isinstance(value, list):
        text = ", ".join(value_text(v, tz) for v in value)
    elif isinstance(value, dict):
        text = ", ".join(f"{field_label(str(k))}: {value_text(v, tz)}" for k, v in value.items())
    else:
        text = str(value)
    return text if len(text) <= VALUE_MAX else text[: VALUE_MAX - 1] + "…"


def change_lines(
    before: dict[str, Any] | None, after: dict[str, Any] | None, tz: str | None = None
) -> list[str]:
    """One "campo: antes → depois" line per field, in a stable order; dates in the reader's zone `tz`.

    A field only on one side reads as created ("campo: valor") or removed ("campo: valor → —")."""
    before, after = before or {}, after or {}
    lines = []
    for key in sorted(before.keys() | after.keys(), key=str):
        label = field_label(str(key))
        if key in before and key in after:
            lines.append(f"{label}: {value_text(before[key], tz)} → {value_text(after[key], tz)}")
        elif key in after:
            lines.append(f"{label}: {value_text(after[key], tz)}")
        else:
            lines.append(f"{label}: {value_text(before[key], tz)} → {EMPTY}")
    return lines


def actor_label(actor_email: str | None, action: str, after: dict[str, Any] | None) -> str:
    """Who did it. Logins recorded before they carried the user (entries without an actor) are named
    by the e-mail they were made with; anything else without an actor was the system."""
    if actor_email:
        return actor_email
    if action == "auth.login" and after and after.get("email"):
        return str(after["email"])
    return "sistema"
