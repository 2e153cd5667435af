"""GET /api/ui/...: downloads the web app's pages start, authorised by a UI ticket and the session cookie.

A Reflex event cannot stream a file to the browser: the page signs a ticket (app.auth.ui_tickets) and
has the browser follow this URL, which streams through the same code as the REST route it mirrors.
"""

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from app.api.customers import ExportBody, export_response
from app.api.deps import client_ip
from app.auth import ui_sessions, ui_tickets
from app.errors import DomainError, Forbidden
from tenants.database import platform_session

router = APIRouter(prefix="/api/ui", tags=["ui"], include_in_schema=False)


@router.get("/clientes/exportar/{ticket}", response_class=StreamingResponse)
def export_customers(ticket: str, request: Request) -> StreamingResponse:
    """The Clientes page's CSV export (the filter or selection it had when the user asked)."""
    granted = ui_tickets.verify(ticket, ui_tickets.CUSTOMERS_EXPORT)
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
    # export_response checks permission and filter before the first byte (customers.check_export).
    return export_response(actor, ExportBody.model_validate(granted.payload))
