"""REST route for the agent's home screen (início): thin call into `app.crm.home`."""

from fastapi import APIRouter, Response

from app.api.deps import TenantActor, TenantDB
from app.crm import first_steps, home

router = APIRouter(prefix="/api", tags=["início"])


@router.get("/inicio", response_model=home.Home, summary="Início do atendente")
def get_home(actor: TenantActor, db: TenantDB) -> home.Home:
    return home.home(db, actor)


@router.post(
    "/inicio/primeiros-passos/ocultar",
    status_code=204,
    response_model=None,
    response_class=Response,
    summary="Ocultar os primeiros passos",
)
def dismiss_first_steps(actor: TenantActor, db: TenantDB) -> None:
    first_steps.dismiss(db, actor)
