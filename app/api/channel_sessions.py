"""REST for WPPConnect sessions of a channel: `/api/canais/{id}/sessao` (thin calls into
`app.messaging.wpp_sessions`). Sync routes: the provider call runs in the thread pool with short
timeouts, never on the event loop."""

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from app.api.contract import ErrorOut
from app.api.deps import TenantActor, TenantDB
from app.messaging import wpp_sessions
from app.validation import Id

router = APIRouter(prefix="/api/canais", tags=["canais"])
_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "O servidor WPPConnect não respondeu ou recusou"}
}


class SessionOut(BaseModel):
    channel_id: int
    status: str  # active | connecting | qrcode | disconnected
    status_label: str
    qrcode: str | None  # data:image/png;base64,... while waiting for the phone to scan it
    detail: str | None


def _out(view: wpp_sessions.SessionView) -> SessionOut:
    return SessionOut(**view.__dict__)


@router.post("/{channel_id:int}/sessao", response_model=SessionOut, responses=_UNAVAILABLE)
def start_session(channel_id: Id, actor: TenantActor, db: TenantDB) -> SessionOut:
    """Start or reconnect the session; a phone not yet paired gets a QR code (GET shows it)."""
    return _out(wpp_sessions.start(db, actor, channel_id))


@router.get("/{channel_id:int}/sessao", response_model=SessionOut, responses=_UNAVAILABLE)
def session_status(channel_id: Id, actor: TenantActor, db: TenantDB) -> SessionOut:
    return _out(wpp_sessions.status(db, actor, channel_id))


@router.get(
    "/{channel_id:int}/sessao/qrcode",
    response_model=None,
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "O QR code (PNG)"},
        204: {"description": "Não há QR code a ler (sessão conectada ou parada)"},
        **_UNAVAILABLE,
    },
)
def session_qrcode(channel_id: Id, actor: TenantActor, db: TenantDB) -> Response:
    """The QR code straight from the WPPConnect server, while the session waits for the phone."""
    image = wpp_sessions.qrcode_png(db, actor, channel_id)
    if image is None:
        return Response(status_code=204)
    return Response(image, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.delete("/{channel_id:int}/sessao", response_model=SessionOut, responses=_UNAVAILABLE)
def logout_session(channel_id: Id, actor: TenantActor, db: TenantDB) -> SessionOut:
    """Unpair the phone (a new QR code will be needed)."""
    return _out(wpp_sessions.logout(db, actor, channel_id))
