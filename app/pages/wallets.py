"""Admin: wallets ("Carteiras"): named portfolios with a responsible user; delete keeps the customers."""

from typing import Any, ClassVar

import reflex as rx
from sqlmodel import Session

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import wallets
from app.crm.visibility import assignable_users
from app.pages.base import SessionState, page
from app.pages.crud import CrudMixin, crud_view
from components.crud import Column, FormField
from components.types import Option

NO_OWNER = "0"  # radix select items cannot have an empty value


class WalletsState(CrudMixin, SessionState):
    owner_options: list[Option] = []
    _owner_names: dict[str, str] = {}

    saved_new: ClassVar[str] = "Carteira criada."
    saved_edit: ClassVar[str] = "Carteira salva."
    deleted: ClassVar[str] = "Carteira excluída; os clientes ficaram sem carteira."

    def _extra_load(self, db: Session, actor: Actor) -> None:
        users = assignable_users(db, actor)
        self._owner_names = {str(u.id): u.name or u.email for u in users}
        self.owner_options = [Option(NO_OWNER, "Sem responsável")] + [
            Option(k, v) for k, v in self._owner_names.items()
        ]

    def _rows(self, db: Session, actor: Actor) -> list[dict[str, str]]:
        return [
            {
                "id": str(w.id),
                "name": w.name,
                "description": w.description,
                "owner_id": str(w.owner_id or NO_OWNER),
                "owner": self._owner_names.get(str(w.owner_id), "—"),
            }
            for w in wallets.list_wallets(db, actor)
        ]

    def _blank(self) -> dict[str, str]:
        return {"name": "", "description": "", "owner_id": NO_OWNER}

    def _save(self, db: Session, actor: Actor, row_id: int | None, form: dict[str, Any]) -> None:
        owner = form.get("owner_id") or NO_OWNER
        data = wallets.WalletIn(
            name=form.get("name", ""),
            description=(form.get("description") or "").strip(),
            owner_id=None if owner == NO_OWNER else int(owner),
        )
        if row_id is None:
            wallets.create_wallet(db, actor, data)
        else:
            wallets.update_wallet(db, actor, row_id, data)

    def _remove(self, db: Session, actor: Actor, row_id: int) -> None:
        wallets.delete_wallet(db, actor, row_id)


@page(
    "/admin/carteiras",
    "Carteiras",
    permission=Perm.WALLETS_WRITE,
    nav=("Carteiras", "briefcase-business", 62),
    on_load=WalletsState.load,
)
def wallets_page() -> rx.Component:
    return crud_view(
        WalletsState,
        noun="carteira",
        description="Carteiras agrupam clientes por operação ou canal (ex.: PME Sul, Vivo Empresas).",
        columns=[
            Column("name", "Nome"),
            Column("description", "Descrição", kind="muted"),
            Column("owner", "Responsável"),
        ],
        fields=[
            FormField("name", "Nome"),
            FormField("description", "Descrição", kind="textarea"),
            FormField("owner_id", "Responsável", kind="select", options=WalletsState.owner_options),
        ],
        slug="wallet",
        new_label="Nova carteira",
        delete_message="Os clientes desta carteira continuam cadastrados, sem carteira.",
    )
