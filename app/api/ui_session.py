"""POST /api/auth/sessao-web: the login tab trades its one-shot secret for the HttpOnly session cookie.

A Reflex event cannot set an HttpOnly cookie (it only reaches the page's JavaScript), so right after a
UI login the page posts the secret here and navigates; from then on the browser sends the cookie on the
websocket handshake, and the secret never sits in JavaScript-readable storage (see app/auth/ui_sessions).
"""

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from app.auth import ui_sessions
from app.errors import Unauthorized
from app.settings import get_settings
from tenants.database import platform_session, unit_of_work

router = APIRouter(prefix="/api/auth", tags=["auth"], include_in_schema=False)


class BindBody(BaseModel):
    secret: str = Field(min_length=1, max_length=128)


@router.post("/sessao-web", status_code=204, response_model=None)
def bind_ui_session(body: BindBody, request: Request) -> Response:
    with platform_session() as db, unit_of_work(db):
        row = ui_sessions.bind(db, body.secret)
        stale = ui_sessions.stale_cookies(db, request.cookies) if row is not None else []
    if row is None:
        raise Unauthorized("Sessão inválida. Entre novamente.")
    settings = get_settings()
    response = Response(status_code=204)
    response.set_cookie(
        ui_sessions.cookie_name(row.key),
        body.secret,
        max_age=settings.refresh_token_days * 86400,
        path="/",
        httponly=True,
        secure=settings.public_origin.startswith("https://"),
        samesite="strict",
    )
    for name in stale:
        response.delete_cookie(name, path="/")
    response.headers["Cache-Control"] = "no-store"
    return response
