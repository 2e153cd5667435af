"""REST routes for wallets (carteiras): thin calls into `app.crm.wallets`."""

from fastapi import APIRouter, Response

from app.api.deps import TenantActor, TenantDB
from app.crm import wallets
from app.validation import Id
from models.tenant import Wallet

router = APIRouter(prefix="/api", tags=["carteiras"])

# The path parameter keeps its historical name `item_id` so the OpenAPI document does not change.


@router.get("/carteiras", response_model=list[Wallet])
def list_wallets(actor: TenantActor, db: TenantDB) -> list[Wallet]:
    return wallets.list_wallets(db, actor)


@router.post("/carteiras", response_model=Wallet, status_code=201)
def create_wallet(body: wallets.WalletIn, actor: TenantActor, db: TenantDB) -> Wallet:
    return wallets.create_wallet(db, actor, body)


@router.put("/carteiras/{item_id:int}", response_model=Wallet)
def update_wallet(item_id: Id, body: wallets.WalletIn, actor: TenantActor, db: TenantDB) -> Wallet:
    return wallets.update_wallet(db, actor, item_id, body)


@router.delete("/carteiras/{item_id:int}", status_code=204, response_model=None, response_class=Response)
def delete_wallet(item_id: Id, actor: TenantActor, db: TenantDB) -> None:
    wallets.delete_wallet(db, actor, item_id)
