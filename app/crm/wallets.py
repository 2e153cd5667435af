"""Wallets (carteiras): named portfolios of customers with a responsible user."""

from pydantic import BaseModel
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm.visibility import check_assignable
from app.errors import Conflict, Invalid, NotFound
from app.validation import Id, Str120, Str500
from models.base import utcnow
from models.tenant import Wallet


class WalletIn(BaseModel):
    name: Str120
    description: Str500 = ""
    owner_id: Id | None = None


def list_wallets(db: Session, actor: Actor) -> list[Wallet]:
    actor.require(Perm.CUSTOMERS_READ)
    return list(db.exec(select(Wallet).order_by(col(Wallet.name))).all())


def _validate(db: Session, actor: Actor, data: WalletIn, own_id: int | None = None) -> str:
    name = data.name.strip()
    if not name:
        raise Invalid("name", "Informe o nome da carteira.")
    other = db.exec(select(Wallet).where(Wallet.name == name)).first()
    if other is not None and other.id != own_id:
        raise Conflict("Já existe uma carteira com este nome.", field="name")
    if data.owner_id is not None:
        check_assignable(db, actor, data.owner_id)
    return name


def create_wallet(db: Session, actor: Actor, data: WalletIn) -> Wallet:
    actor.require(Perm.WALLETS_WRITE)
    wallet = Wallet(name=_validate(db, actor, data), description=data.description, owner_id=data.owner_id)
    db.add(wallet)
    db.flush()
    record(db, actor, "wallet.create", "wallet", wallet.id, None, wallet)
    return wallet


def update_wallet(db: Session, actor: Actor, wallet_id: int, data: WalletIn) -> Wallet:
    actor.require(Perm.WALLETS_WRITE)
    wallet = db.get(Wallet, wallet_id)
    if wallet is None:
        raise NotFound("Carteira não encontrada.")
    before = wallet.model_dump()
    wallet.name = _validate(db, actor, data, wallet.id)
    wallet.description, wallet.owner_id, wallet.updated_at = data.description, data.owner_id, utcnow()
    db.add(wallet)
    record(db, actor, "wallet.update", "wallet", wallet.id, before, wallet)
    return wallet


def delete_wallet(db: Session, actor: Actor, wallet_id: int) -> None:
    """Delete a wallet; its customers stay, without wallet (FK ON DELETE SET NULL)."""
    actor.require(Perm.WALLETS_WRITE)
    wallet = db.get(Wallet, wallet_id)
    if wallet is None:
        raise NotFound("Carteira não encontrada.")
    record(db, actor, "wallet.delete", "wallet", wallet.id, wallet, None)
    db.delete(wallet)
