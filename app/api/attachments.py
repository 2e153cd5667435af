"""/api/anexos: upload an attachment to send (multipart field `arquivo`) and read one back (previews in
the timeline and the chat). Keys carry the tenant's schema: another organisation's key is a 404."""

from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from app.api.deps import TenantActor, TenantDB
from app.auth.permissions import Perm
from app.errors import TooLarge
from app.messaging import attachments
from app.validation import Str500

router = APIRouter(prefix="/api", tags=["anexos"])
_CHUNK = 1024 * 1024


class AttachmentOut(BaseModel):
    key: str
    filename: str
    content_type: str
    size: int
    kind: str


@router.post("/anexos", response_model=AttachmentOut, status_code=201)
async def upload(
    arquivo: Annotated[UploadFile, File(json_schema_extra={"maxLength": attachments.MAX_BYTES})],
    actor: TenantActor,
    db: TenantDB,
) -> AttachmentOut:
    actor.require(Perm.CONVERSATIONS_REPLY)
    data = bytearray()
    while piece := await arquivo.read(_CHUNK):
        data += piece
        if len(data) > attachments.MAX_BYTES:
            raise TooLarge(attachments.too_large_message())
    return AttachmentOut(**attachments.upload(db, actor, arquivo.filename or "arquivo", bytes(data)))


@router.get(
    "/anexos/{key:path}",
    response_model=None,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "O arquivo"}},
)
def download(key: Str500, actor: TenantActor) -> Response:
    actor.require(Perm.CUSTOMERS_READ)
    assert actor.schema is not None
    return file_response(actor.schema, key)


def file_response(schema: str, key: str) -> Response:
    """One of this tenant's attachments (another organisation's key is a 404), typed from its bytes;
    images and PDFs inline (previews), the rest as a download."""
    data = attachments.load(schema, key)
    content_type, kind = attachments.sniff(key, data[:16])
    disposition = "inline" if kind == "image" or content_type == "application/pdf" else "attachment"
    filename = key.rsplit("/", 1)[-1]
    return Response(
        data,
        media_type=content_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )
