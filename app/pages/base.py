"""The UI session and the page decorator every screen uses.

SessionState keeps who is logged in only in backend vars (names starting with `_`), so the
browser never receives a token or another tenant's data. Every event re-resolves the Actor
through the same auth service the REST API uses: a logged-out, deactivated or suspended
user's open tab stops working on its next click.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import reflex as rx
from sqlmodel import Session

from app.auth import sessions
from app.auth.actor import Actor
from app.auth.network import reflex_client_address
from app.auth.permissions import Perm, Role
from app.crm import appointments, notifications
from app.errors import DomainError, Forbidden, Unauthorized
from components.shell import app_shell, notification_bell
from tenants.database import platform_session, read, unit_of_work
from tenants.database import session as tenant_session

LOGIN_ROUTE = "/"


@dataclass(frozen=True)
class NavEntry:
    route: str
    label: str
    icon: str
    permission: Perm | None
    order: int


NAV: list[NavEntry] = []
PAGES: list[tuple[Callable[[], rx.Component], str, str, object]] = []
# route -> (permission, superadmin-only); looked up by the on_load guard.
PAGE_RULES: dict[str, tuple[Perm | None, bool]] = {}


class SessionState(rx.State):
    _user_id: int | None = None
    _family: str | None = None
    user_name: str = ""
    user_email: str = ""
    role: str = ""
    tenant_slug: str = ""
    org_name: str = ""
    nav: list[dict[str, str]] = []
    ready: bool = False

    # ---- used by every page state -------------------------------------------------
    def actor(self) -> Actor:
        """The live Actor (raises Unauthorized/Forbidden when the session is no longer valid)."""
        if self._user_id is None:
            raise Unauthorized("Sua sessão terminou. Entre novamente.")
        user_id, ip, family = self._user_id, reflex_client_address(self.router), self._family
        return read(lambda db: sessions.actor_for_user(db, user_id, ip, family))

    @contextmanager
    def db(self, actor: Actor | None = None) -> Iterator[tuple[Session, Actor]]:
        """(tenant Session, Actor); commits when the block succeeds, rolls back when it raises."""
        actor = actor or self.actor()
        if actor.schema is None:
            raise Forbidden()
        with tenant_session(actor.schema) as db, unit_of_work(db):
            yield db, actor

    @contextmanager
    def platform_db(self) -> Iterator[tuple[Session, Actor]]:
        actor = self.actor()
        with platform_session() as db, unit_of_work(db):
            yield db, actor

    def attempt(self, action: Callable[[], object]):  # type: ignore[no-untyped-def]
        """Run a service call for an event; a DomainError becomes what the user sees (see fail)."""
        try:
            action()
        except DomainError as exc:
            return self.fail(exc)
        return None

    def fail(self, exc: DomainError):  # type: ignore[no-untyped-def]
        """Turn a domain error into what the user sees: a toast, or back to login."""
        if self._user_id is None:
            # Not logged in: the page's guard has already sent the browser to the login.
            return None
        if isinstance(exc, Unauthorized | Forbidden) and self._user_id is not None:
            try:
                self.actor()
            except DomainError:
                self._clear()
                return [rx.toast.error(exc.message), rx.redirect(LOGIN_ROUTE)]
        return rx.toast.error(exc.message)

    # ---- session lifecycle -----------------------------------------------------------
    def start(self, pair: sessions.TokenPair, actor: Actor) -> None:
        self._user_id = actor.user_id
        self._family = pair.family
        self.user_name = actor.name or actor.email
        self.user_email = actor.email
        self.role = actor.role
        self.tenant_slug = actor.tenant_slug or ""
        self.org_name = self._org_name(actor)
        self.nav = [
            {"route": n.route, "label": n.label, "icon": n.icon}
            for n in sorted(NAV, key=lambda n: n.order)
            if (n.permission is None and actor.schema is not None)
            or (n.permission and actor.can(n.permission))
        ]

    @staticmethod
    def _org_name(actor: Actor) -> str:
        if actor.tenant_id is None:
            return "Plataforma"
        from models.platform import Tenant

        with platform_session() as db:
            tenant = db.get(Tenant, actor.tenant_id)
            return tenant.name if tenant else ""

    def _clear(self) -> None:
        self._user_id = None
        self._family = None
        self.user_name = self.user_email = self.role = self.tenant_slug = self.org_name = ""
        self.nav = []
        self.ready = False

    @rx.event
    def logout(self):  # type: ignore[no-untyped-def]
        if self._family is not None:
            with platform_session() as db:
                try:
                    actor = sessions.actor_for_user(
                        db, self._user_id or 0, reflex_client_address(self.router)
                    )
                    sessions.logout(db, actor, self._family)
                except DomainError:
                    sessions.revoke_family(db, self._family)
                db.commit()
        self._clear()
        return rx.redirect(LOGIN_ROUTE)

    @rx.event
    def guard(self, route: str):  # type: ignore[no-untyped-def]
        """on_load check: a valid session with the page's permission, else redirect."""
        self.ready = False
        permission, superadmin = PAGE_RULES.get(route, (Perm.PLATFORM_MANAGE, True))
        if self._user_id is None:
            return rx.redirect(LOGIN_ROUTE)
        try:
            actor = self.actor()
        except DomainError as exc:
            self._clear()
            return [rx.toast.error(exc.message), rx.redirect(LOGIN_ROUTE)]
        if superadmin and not actor.is_superadmin:
            return rx.redirect(home_route(actor.role))
        if not superadmin and actor.schema is None:
            return rx.redirect(home_route(actor.role))
        if permission is not None and not actor.can(permission):
            return [rx.toast.error("Você não tem acesso a esta página."), rx.redirect(home_route(actor.role))]
        self.ready = True
        return None


class BellState(SessionState):
    """The header bell: my unread count (refreshed on every page load) and, when opened, my latest
    notifications. There is no push: a reminder that fires while the user stays on one page shows on
    the next navigation or when the bell is opened."""

    unread: int = 0
    items: list[dict[str, str]] = []
    is_open: bool = False

    def _load(self, with_items: bool) -> None:
        with self.db() as (db, actor):
            self.unread = notifications.unread_count(db, actor)
            if with_items:
                tz = ZoneInfo(appointments.user_zone(db, actor))
                self.items = [
                    {
                        "id": str(n.id),
                        "title": n.title,
                        "body": n.body,
                        "when": n.created_at.astimezone(tz).strftime("%d/%m %H:%M"),
                        "unread": "" if n.read else "1",
                    }
                    for n in notifications.list_notifications(db, actor, limit=20)
                ]

    @rx.event
    def refresh(self) -> None:
        # Runs after the guard on every page: a stale or platform session just shows no bell count.
        self.is_open = False
        if self._user_id is None or not self.tenant_slug:
            return
        try:
            self._load(with_items=False)
        except DomainError:
            self.unread, self.items = 0, []

    @rx.event
    def set_open(self, open_: bool):  # type: ignore[no-untyped-def]
        self.is_open = open_
        return self.attempt(lambda: self._load(with_items=True)) if open_ else None

    @rx.event
    def open_item(self, notification_id: str):  # type: ignore[no-untyped-def]
        """Mark it read and go where it points."""
        self.is_open = False
        link: list[str | None] = [None]

        def mark() -> None:
            with self.db() as (db, actor):
                link[0] = notifications.open_link(db, actor, int(notification_id))
            self._load(with_items=True)

        if not notification_id.isdigit():
            return None
        if (error := self.attempt(mark)) is not None:
            return error
        return rx.redirect(link[0]) if link[0] else None

    @rx.event
    def mark_all(self):  # type: ignore[no-untyped-def]
        def mark() -> None:
            with self.db() as (db, actor):
                notifications.mark_all_read(db, actor)
            self._load(with_items=True)

        return self.attempt(mark)

    @rx.var
    def unread_label(self) -> str:
        if self.unread <= 0:
            return ""
        return f"{notifications.COUNT_CAP}+" if self.unread > notifications.COUNT_CAP else str(self.unread)


def bell() -> rx.Component:
    """The bell for tenant users (platform superadmins have no notifications)."""
    return rx.cond(
        SessionState.tenant_slug != "",
        notification_bell(
            BellState.unread_label,
            BellState.items,
            BellState.is_open,
            BellState.set_open,
            BellState.open_item,
            BellState.mark_all,
        ),
    )


def checked(form: dict[str, Any], name: str) -> bool:
    """Whether a form's checkbox was ticked.

    A Radix checkbox with an id is read through its ref (a bool); without one the browser submits
    "on" when ticked and nothing otherwise, so absence means unticked.
    """
    return form.get(name) in (True, "on", "true")


def home_route(role: str) -> str:
    return "/plataforma" if role == Role.SUPERADMIN else "/inicio"


def page(
    route: str,
    title: str,
    *,
    permission: Perm | None = None,
    nav: tuple[str, str, int] | None = None,
    superadmin: bool = False,
    on_load: object = None,
) -> Callable[[Callable[[], rx.Component]], Callable[[], rx.Component]]:
    """Register a logged-in screen: shell around it, session/permission guard on load, sidebar entry.

    nav = (label, lucide icon, order) puts it in the sidebar for users holding `permission`.
    """

    def decorate(render: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        PAGE_RULES[route] = (permission, superadmin)

        def wrapped() -> rx.Component:
            return app_shell(
                render(),
                title=title,
                nav=SessionState.nav,
                current=route,
                org_name=SessionState.org_name,
                user_label=SessionState.user_name,
                on_logout=SessionState.logout,
                ready=SessionState.ready,
                bell=bell(),
            )

        wrapped.__name__ = render.__name__
        loads: list[object] = [SessionState.guard(route), BellState.refresh]
        if on_load is not None:
            loads += list(on_load) if isinstance(on_load, list | tuple) else [on_load]
        PAGES.append((wrapped, route, f"{title} · CRM Telecom", loads))
        if nav is not None:
            NAV.append(NavEntry(route, nav[0], nav[1], permission, nav[2]))
        return wrapped

    return decorate
