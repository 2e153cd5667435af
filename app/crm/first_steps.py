"""The first-steps checklist a new organisation's admins see on Início.

Each step ticks itself from data, never from a flag someone must remember to set; the only thing
stored is that an admin hid the list (platform.tenants.first_steps_dismissed_at, audited).

WhatsApp and e-mail count as done when the organisation has a working channel of that medium (a real
provider, not a sandbox, in status "active": a WPPConnect session counts once its QR code was read); e-mail
also when the deployment has an outbound provider configured for everyone (RESEND_API_KEY or SMTP_HOST).
"""

from pydantic import BaseModel
from sqlalchemy import exists, func
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.errors import NotFound
from app.settings import get_settings
from models.base import utcnow
from models.platform import Tenant, User
from models.tenant import Channel, ImportJob

CHANNELS_PAGE = "/admin/canais"


class Step(BaseModel):
    key: str
    label: str
    done: bool
    href: str
    hint: str


class FirstSteps(BaseModel):
    steps: list[Step]
    done: int
    total: int


def _tenant(db: Session, actor: Actor) -> Tenant:
    tenant = db.get(Tenant, actor.tenant_id) if actor.tenant_id is not None else None
    if tenant is None:
        raise NotFound("Organização não encontrada.")
    return tenant


def _steps(db: Session, actor: Actor) -> list[Step]:
    settings = get_settings()
    imported = db.exec(select(exists().where(col(ImportJob.state) == "done"))).one()
    users = db.exec(select(func.count()).select_from(User).where(User.tenant_id == actor.tenant_id)).one()
    working = set(
        db.exec(
            select(Channel.medium)
            .where(
                col(Channel.deleted_at).is_(None),
                Channel.status == "active",
                col(Channel.kind).not_like("sandbox%"),
            )
            .distinct()
        ).all()
    )
    return [
        Step(
            key="importar_clientes",
            label="Importar clientes",
            done=bool(imported),
            href="/importacoes",
            hint="Envie uma planilha CSV ou XLSX com a sua base.",
        ),
        Step(
            key="conectar_whatsapp",
            label="Conectar WhatsApp",
            done="whatsapp" in working,
            href=CHANNELS_PAGE,
            hint="Conecte um número pela API oficial (Meta) ou por QR code (WPPConnect).",
        ),
        Step(
            key="configurar_email",
            label="Configurar e-mail",
            done="email" in working or bool(settings.resend_api_key or settings.smtp_host),
            href=CHANNELS_PAGE,
            hint="Cadastre uma conta Resend ou um servidor SMTP para enviar e-mails.",
        ),
        Step(
            key="convidar_usuarios",
            label="Convidar usuários",
            done=users > 1,
            href="/admin/usuarios",
            hint="Cadastre gestores e atendentes da sua equipe.",
        ),
    ]


def first_steps(db: Session, actor: Actor) -> FirstSteps | None:
    """The checklist for the actor's home, or None: shown to admins until one of them hides it."""
    if not actor.can(Perm.SETTINGS_MANAGE) or _tenant(db, actor).first_steps_dismissed_at is not None:
        return None
    steps = _steps(db, actor)
    return FirstSteps(steps=steps, done=sum(s.done for s in steps), total=len(steps))


def dismiss(db: Session, actor: Actor) -> None:
    """Hide the checklist for the whole organisation (admins only; audited, no commit)."""
    actor.require(Perm.SETTINGS_MANAGE)
    tenant = _tenant(db, actor)
    if tenant.first_steps_dismissed_at is not None:
        return
    tenant.first_steps_dismissed_at = utcnow()
    db.add(tenant)
    record(
        db,
        actor,
        "tenant.first_steps_dismiss",
        "tenant",
        tenant.id,
        {"dismissed": False},
        {"dismissed": True},
    )
