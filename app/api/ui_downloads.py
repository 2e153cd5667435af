"""GET /api/ui/...: downloads the web app's pages start, authorised by a UI ticket and the session cookie.

A Reflex event cannot stream a file to the browser: the page signs a ticket (app.auth.ui_tickets) and
has the browser follow this URL, which streams through the same code as the REST route it mirrors.
"""

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from app.api.attachments import file_response
from app.api.campaigns import recipients_response
from app.api.customers import ExportBody, export_response
from app.api.deps import client_ip
from app.auth import ui_sessions, ui_tickets
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.errors import DomainError, Forbidden
from tenants.database import platform_session

router = APIRouter(prefix="/api/ui", tags=["ui"], include_in_schema=False)


def _actor(ticket: str, purpose: str, request: Request) -> tuple[Actor, ui_tickets.Ticket]:
    granted = ui_tickets.verify(ticket, purpose)
    with platform_session() as db:
        try:
            actor = ui_sessions.resolve(
                db, granted.ui_key, granted.user_id, request.cookies, client_ip(request)
            )
        except DomainError:
            db.commit()  # an ended session stays ended
            raise
        db.commit()
    if actor.schema is None:
        raise Forbidden()
    return actor, granted


@router.get("/clientes/exportar/{ticket}", response_class=StreamingResponse)
def export_customers(ticket: str, request: Request) -> StreamingResponse:
    """The Clientes page's CSV export (the filter or selection it had when the user asked)."""
    actor, granted = _actor(ticket, ui_tickets.CUSTOMERS_EXPORT, request)
    # export_response checks permission and filter before the first byte (customers.check_export).
    return export_response(actor, ExportBody.model_validate(granted.payload))


@router.get("/campanhas/destinatarios/{ticket}", response_class=StreamingResponse)
def campaign_recipients(ticket: str, request: Request) -> StreamingResponse:
    """The Campanhas page's recipients CSV."""
    actor, granted = _actor(ticket, ui_tickets.CAMPAIGN_RECIPIENTS, request)
    return recipients_response(actor, int(granted.payload["id"]))


@router.get("/anexos/{ticket}", response_model=None)
def attachment(ticket: str, request: Request) -> Response:
    """A message attachment shown in the profile's chat and timeline (image thumbnails, PDF links)."""
    actor, granted = _actor(ticket, ui_tickets.ATTACHMENT, request)
    actor.require(Perm.CUSTOMERS_READ)
    assert actor.schema is not None  # _actor refuses platform users
    return file_response(actor.schema, str(granted.payload.get("key") or ""))
