"""REST route for the agent's home screen (início): thin call into `app.crm.home`."""

from fastapi import APIRouter

from app.api.deps import TenantActor, TenantDB
from app.crm import home

router = APIRouter(prefix="/api", tags=["início"])


@router.get("/inicio", response_model=home.Home, summary="Início do atendente")
def get_home(actor: TenantActor, db: TenantDB) -> home.Home:
    return home.home(db, actor)
