"""/api/campanhas: create (WhatsApp: POST /api/campanhas; e-mail: POST /api/campanhas/email), preview,
list, detail with live counters, pause / resume / cancel, retry failed sends by reason, recipients CSV,
uploaded audience lists (POST /api/campanhas/listas). Thin calls into `app.campaigns`."""

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from app.api.deps import TenantActor, TenantDB
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.campaigns import lists, retry, service
from app.campaigns.lists import ListOut
from app.campaigns.retry import FailureReason, RetryIn
from app.campaigns.service import CampaignIn, CampaignOut, PreviewOut
from app.errors import TooLarge
from app.validation import Id
from tasks import campaigns as _campaign_tasks  # noqa: F401  (registers campaigns.feed in this process)
from tenants.database import session

router = APIRouter(prefix="/api", tags=["campanhas"])
LIST_MAX_BYTES = lists.MAX_BYTES
_CHUNK = 1024 * 1024


class CreatedOut(BaseModel):
    id: int
    status: str


@router.post("/campanhas", response_model=CreatedOut, status_code=201)
def create_whatsapp(body: CampaignIn, actor: TenantActor, db: TenantDB) -> CreatedOut:
    c = service.create_campaign(db, actor, "whatsapp", body)
    return CreatedOut(id=c.id or 0, status=c.status)


@router.post("/campanhas/email", response_model=CreatedOut, status_code=201)
def create_email(body: CampaignIn, actor: TenantActor, db: TenantDB) -> CreatedOut:
    c = service.create_campaign(db, actor, "email", body)
    return CreatedOut(id=c.id or 0, status=c.status)


@router.post("/campanhas/previa", response_model=PreviewOut)
def preview_whatsapp(body: CampaignIn, actor: TenantActor, db: TenantDB) -> PreviewOut:
    return service.preview(db, actor, "whatsapp", body)


@router.post("/campanhas/email/previa", response_model=PreviewOut)
def preview_email(body: CampaignIn, actor: TenantActor, db: TenantDB) -> PreviewOut:
    return service.preview(db, actor, "email", body)


@router.get("/campanhas", response_model=list[CampaignOut])
def list_campaigns(actor: TenantActor, db: TenantDB) -> list[CampaignOut]:
    return service.list_campaigns(db, actor)


@router.get("/campanhas/{campaign_id:int}", response_model=CampaignOut)
def get_campaign(campaign_id: Id, actor: TenantActor, db: TenantDB) -> CampaignOut:
    return service.get_campaign(db, actor, campaign_id)


@router.post("/campanhas/{campaign_id:int}/pausar", response_model=CampaignOut)
def pause(campaign_id: Id, actor: TenantActor, db: TenantDB) -> CampaignOut:
    return service.pause(db, actor, campaign_id)


@router.post("/campanhas/{campaign_id:int}/retomar", response_model=CampaignOut)
def resume(campaign_id: Id, actor: TenantActor, db: TenantDB) -> CampaignOut:
    return service.resume(db, actor, campaign_id)


@router.post("/campanhas/{campaign_id:int}/cancelar", response_model=CampaignOut)
def cancel(campaign_id: Id, actor: TenantActor, db: TenantDB) -> CampaignOut:
    return service.cancel(db, actor, campaign_id)


@router.get("/campanhas/{campaign_id:int}/falhas", response_model=list[FailureReason])
def failures(campaign_id: Id, actor: TenantActor, db: TenantDB) -> list[FailureReason]:
    return retry.failure_reasons(db, actor, campaign_id)


@router.post("/campanhas/{campaign_id:int}/reenviar", response_model=CampaignOut)
def retry_failed(
    campaign_id: Id, actor: TenantActor, db: TenantDB, body: RetryIn | None = None
) -> CampaignOut:
    return retry.retry_failed(db, actor, campaign_id, body.motivo if body else None)


@router.post("/campanhas/listas", response_model=ListOut, status_code=201)
def upload_list(
    arquivo: Annotated[UploadFile, File(json_schema_extra={"maxLength": LIST_MAX_BYTES})],
    actor: TenantActor,
    db: TenantDB,
) -> ListOut:
    """A CSV or XLSX of CPF/CNPJ, phones or e-mails: matched against the customers the caller may see."""
    actor.require(Perm.CAMPAIGNS_MANAGE)  # before reading a byte
    name = arquivo.filename or "lista.csv"
    with tempfile.TemporaryDirectory(prefix="crm-list-") as tmp:
        path = Path(tmp) / "upload"
        with path.open("wb") as out:
            size = 0
            while piece := arquivo.file.read(_CHUNK):
                size += len(piece)
                if size > LIST_MAX_BYTES:
                    raise TooLarge(f"Lista grande demais: o limite é {LIST_MAX_BYTES // (1024 * 1024)} MB.")
                out.write(piece)
        return lists.upload_list(db, actor, name, path)


@router.get("/campanhas/listas/{list_id:int}", response_model=ListOut)
def get_list(list_id: Id, actor: TenantActor, db: TenantDB) -> ListOut:
    return lists.view(lists.get_list(db, actor, list_id))


@router.get(
    "/campanhas/{campaign_id:int}/destinatarios.csv",
    response_model=None,
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def recipients_csv(campaign_id: Id, actor: TenantActor) -> StreamingResponse:
    return recipients_response(actor, campaign_id)


def recipients_response(actor: Actor, campaign_id: int) -> StreamingResponse:
    """The recipients CSV, streamed: the REST route and the Campanhas page's download answer with it."""
    schema = actor.schema or ""
    with session(schema) as db:  # 404 / 403 before the first byte
        service.get_campaign(db, actor, campaign_id)

    def stream() -> Iterator[bytes]:
        # The response outlives the request: the stream opens its own session.
        with session(schema) as db:
            yield "\ufeff".encode()  # BOM: Excel opens UTF-8 with accents correctly
            for chunk in service.recipients_csv(db, actor, campaign_id):
                yield chunk.encode()
            db.commit()  # the export's audit row

    return StreamingResponse(
        stream(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="campanha-{campaign_id}-destinatarios.csv"'},
    )
