"""The UI session and the page decorator every screen uses.

SessionState keeps who is logged in only in backend vars (names starting with `_`), so the
browser never receives a token or another tenant's data. Every event re-resolves the Actor
through the same auth service the REST API uses: a logged-out, deactivated or suspended
user's open tab stops working on its next click.
"""

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVarTuple, overload

import reflex as rx
from pydantic import ValidationError
from reflex.event import EventCallback, EventSpec
from sqlmodel import Session

from app.auth import sessions, ui_sessions
from app.auth.actor import Actor
from app.auth.network import reflex_client_address
from app.auth.permissions import Perm, Role
from app.crm import notifications
from app.errors import DomainError, Forbidden, Invalid, Unauthorized, invalid_from
from app.formatting import datetime_br
from components.shell import NavItem, NotificationItem, app_shell, notification_bell
from tenants.database import platform_session, unit_of_work
from tenants.database import session as tenant_session

log = logging.getLogger(__name__)

# What an event handler returns: nothing, one event, or several (a handler of this or another state,
# or a spec such as a toast or a redirect).
Event = EventSpec | EventCallback[()]
Events = Event | Sequence[Event] | None

Ts = TypeVarTuple("Ts")
if TYPE_CHECKING:
    # mypy types `rx.event` as the EventNamespace class it is (its __new__ returns the handler), so a
    # decorated handler could be neither called with its arguments nor returned as an event. These are
    # the signatures rx.event declares for its two forms; at run time `event` is rx.event itself.

    @overload
    def event(fn: Callable[[Any, *Ts], object], /) -> EventCallback[*Ts]: ...

    @overload
    def event(*, background: bool) -> Callable[[Callable[[Any, *Ts], object]], EventCallback[*Ts]]: ...

    def event(*args: Any, **kwargs: Any) -> Any: ...

else:
    event = rx.event

LOGIN_ROUTE = "/"
UNEXPECTED_ERROR = (
    "Não foi possível concluir a ação. Tente de novo; se o problema continuar, fale com o suporte."
)


@dataclass
class Outcome:
    """How a `SessionState._calling` block ended: `failed` when the service refused, and the events
    the handler returns then (empty when the error is shown in the form instead)."""

    failed: bool = False
    events: list[EventSpec] = field(default_factory=list)


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
# route -> the page's own load events: the guard returns them only once it has let the user in.
PAGE_LOADS: dict[str, list[Any]] = {}


class SessionState(rx.State):
    _user_id: int | None = None
    _family: str | None = None
    # The UI session (app.auth.ui_sessions): names the HttpOnly cookie every event must carry.
    _ui_key: str | None = None
    user_name: str = ""
    user_email: str = ""
    role: str = ""
    tenant_slug: str = ""
    org_name: str = ""
    nav: list[NavItem] = []
    ready: bool = False
    # Why the last session ended (idle, expired, another browser...), shown on the login page: a toast
    # sent together with the redirect can be lost in the navigation.
    ended_notice: str = ""

    # ---- used by every page state -------------------------------------------------
    def actor(self) -> Actor:
        """The live Actor (raises Unauthorized/Forbidden when the session is no longer valid).

        Checks the browser binding (the websocket handshake's cookie), the idle and absolute
        lifetimes and the role, besides the user, tenant and family (app.auth.ui_sessions.resolve).
        """
        if self._user_id is None or self._ui_key is None:
            raise Unauthorized(ui_sessions.ENDED)
        cookies = ui_sessions.parse_cookies(self.router.headers.cookie)
        with platform_session() as db:
            try:
                actor = ui_sessions.resolve(
                    db, self._ui_key, self._user_id, cookies, reflex_client_address(self.router)
                )
            except DomainError:
                db.commit()  # an ended session stays ended
                raise
            db.commit()
        return actor

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

    @contextmanager
    def _calling(
        self,
        *,
        fields: str | None = None,
        rename: Mapping[str, str] | None = None,
        field_conflicts: bool = False,
        invalid: str | None = None,
        message: str | None = None,
        quiet: bool = False,
    ) -> Iterator[Outcome]:
        """Run an event's service calls; a DomainError ends the block and is shown to the user.

        Private on purpose: Reflex turns a state's public methods into event handlers bound to the
        state that declares them (SessionState), and this one must set the calling page's vars.

        By default it becomes a toast (or back to the login when the session ended: see fail), whose
        events the handler returns as `outcome.events`. A form shows it in place instead:
        `fields` names the dict var an Invalid's {field: message} goes to (keys through `rename`;
        with `field_conflicts`, also an error naming its `field`, e.g. a duplicate name), `invalid`
        the str var an Invalid's message goes to, `message` the str var any other error's message
        goes to. With `fields`, a pydantic ValidationError counts as an Invalid. `quiet` only records
        the failure (a background poll that just stops).

            with self._calling(fields="errors", message="error") as call, self.db() as (db, actor):
                users.create_user(db, actor, data)
            if call.failed:
                return call.events
        """
        outcome = Outcome()
        try:
            try:
                yield outcome
            except ValidationError as exc:
                # A form's model limits (lengths, ranges) fail before the service runs: the same field
                # errors as the service's. Outside a form it stays an unexpected error.
                if fields is None:
                    raise
                raise invalid_from(exc.errors()) from exc
        except DomainError as exc:
            outcome.failed = True
            if quiet:
                return
            where = exc.details.get("field")
            if fields is not None and isinstance(exc, Invalid):
                setattr(self, fields, {(rename or {}).get(k, k): v for k, v in exc.fields.items()})
            elif fields is not None and field_conflicts and isinstance(where, str):
                setattr(self, fields, {where: exc.message})
            elif invalid is not None and isinstance(exc, Invalid):
                setattr(self, invalid, exc.message)
            elif message is not None:
                setattr(self, message, exc.message)
            else:
                outcome.events = self.fail(exc)

    def attempt(self, action: Callable[[], object]) -> list[EventSpec] | None:
        """Run a service call for an event; a DomainError becomes what the user sees (see _calling)."""
        with self._calling() as outcome:
            action()
        return outcome.events if outcome.failed else None

    def fail(self, exc: DomainError) -> list[EventSpec]:
        """Turn a domain error into what the user sees: a toast, or back to login.

        Always a list, so callers may add their own events after it.
        """
        if self._user_id is None:
            # Not logged in (a handler called before a login, or after the session ended).
            return [rx.redirect(LOGIN_ROUTE)]
        if isinstance(exc, Unauthorized | Forbidden):
            try:
                self.actor()
            except DomainError:
                self._end(exc.message)
                return [rx.toast.error(exc.message), rx.redirect(LOGIN_ROUTE)]
        return [rx.toast.error(exc.message)]

    # ---- session lifecycle -----------------------------------------------------------
    def _sign_in(self, db: Session, pair: sessions.TokenPair, ip: str) -> str:
        """Start this tab's UI session for a freshly issued login (password, or a proof such as the
        sign-up link): returns the one-shot secret the page's bind_script trades for the cookie.
        The caller commits `db` first."""
        actor = sessions.actor_for_user(db, sessions.decode_user_id(pair), ip)
        # A new UI session (new key and secret) on every login, bound to this browser by the script.
        row, secret = ui_sessions.open_session(db, actor, pair.family, self.router.session.client_token)
        self.start(pair, actor, row.key)
        return secret

    def start(self, pair: sessions.TokenPair, actor: Actor, ui_key: str) -> None:
        self.ended_notice = ""
        self._user_id = actor.user_id
        self._family = pair.family
        self._ui_key = ui_key
        self.user_name = actor.name or actor.email
        self.user_email = actor.email
        self.role = actor.role
        self.tenant_slug = actor.tenant_slug or ""
        self.org_name = self._org_name(actor)
        self.nav = [
            NavItem(n.route, n.label, n.icon)
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
        self._ui_key = None
        self.user_name = self.user_email = self.role = self.tenant_slug = self.org_name = ""
        self.nav = []
        self.ready = False

    def _end(self, notice: str) -> None:
        """The session is over: forget it, and tell the login page why."""
        self._clear()
        self.ended_notice = notice

    @event
    def logout(self) -> Events:
        if self._family is not None:
            with platform_session() as db:
                try:
                    actor = sessions.actor_for_user(
                        db, self._user_id or 0, reflex_client_address(self.router)
                    )
                    sessions.logout(db, actor, self._family)
                except DomainError:
                    sessions.revoke_family(db, self._family)
                if self._ui_key is not None:
                    ui_sessions.end_by_key(db, self._ui_key)
                db.commit()
        self._clear()
        return rx.redirect(LOGIN_ROUTE)

    @event
    def guard(self, route: str) -> Events:
        """on_load check: a valid session with the page's permission, else redirect.

        The page's own load events are returned from here on success only: a user who may not open
        the page never runs its loader (which would send its data to the browser before the redirect).
        """
        self.ready = False
        permission, superadmin = PAGE_RULES.get(route, (Perm.PLATFORM_MANAGE, True))
        if self._user_id is None:
            return rx.redirect(LOGIN_ROUTE)
        try:
            actor = self.actor()
        except DomainError as exc:
            self._end(exc.message)
            return [rx.toast.error(exc.message), rx.redirect(LOGIN_ROUTE)]
        if superadmin and not actor.is_superadmin:
            return rx.redirect(home_route(actor.role))
        if not superadmin and actor.schema is None:
            return rx.redirect(home_route(actor.role))
        if permission is not None and not actor.can(permission):
            return [rx.toast.error("Você não tem acesso a esta página."), rx.redirect(home_route(actor.role))]
        # The content appears once the page's loads ran (they are processed in order), so nothing on
        # it can be clicked before its loader has reset it.
        return [*PAGE_LOADS.get(route, []), SessionState.show]

    @event
    def show(self) -> None:
        """The last of a page's load events: reveal its content."""
        self.ready = self._user_id is not None


class BellState(SessionState):
    """The header bell: my unread count (refreshed on every page load) and, when opened, my latest
    notifications. There is no push: a reminder that fires while the user stays on one page shows on
    the next navigation or when the bell is opened."""

    unread: int = 0
    items: list[NotificationItem] = []
    is_open: bool = False

    def _load(self, with_items: bool) -> None:
        with self.db() as (db, actor):
            self.unread = notifications.unread_count(db, actor)
            if with_items:
                self.items = [
                    NotificationItem(
                        id=str(n.id),
                        title=n.title,
                        body=n.body,
                        when=datetime_br(n.created_at, actor.time_zone),
                        unread=not n.read,
                    )
                    for n in notifications.list_notifications(db, actor, limit=20)
                ]

    @event
    def refresh(self) -> None:
        # Runs after the guard on every page: a stale or platform session just shows no bell count.
        self.is_open = False
        if self._user_id is None or not self.tenant_slug:
            return
        with self._calling(quiet=True) as outcome:
            self._load(with_items=False)
        if outcome.failed:
            self.unread, self.items = 0, []

    @event
    def set_open(self, open_: bool) -> Events:
        self.is_open = open_
        return self.attempt(lambda: self._load(with_items=True)) if open_ else None

    @event
    def open_item(self, notification_id: str) -> Events:
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

    @event
    def mark_all(self) -> Events:
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


def handle_exception(exception: Exception) -> list[EventSpec]:
    """rx.App's backend_exception_handler: any exception an event handler lets through.

    Fails closed with a pt-BR message (never the exception's text): a domain error shows its own
    message, an ended session goes back to the login, anything else is logged with its traceback.
    """
    if isinstance(exception, Unauthorized):
        return [rx.toast.error(exception.message), rx.redirect(LOGIN_ROUTE)]
    if isinstance(exception, DomainError):
        return [rx.toast.error(exception.message)]
    log.error("unhandled exception in a UI event", exc_info=exception)
    return [rx.toast.error(UNEXPECTED_ERROR)]


def bind_script(secret: str, go_to: str | None = None) -> str:
    """JavaScript a login returns: trade the one-shot secret for the HttpOnly cookie, then reload (or
    open `go_to`).

    The reload reconnects the websocket, whose handshake now carries the cookie; the login page's
    on_load then sends the user home (a client-side redirect, so the URL stays /inicio). Other pages
    (sign-up, confirmation) send the browser to that login page (`go_to`) to take the same way home.
    """
    body = json.dumps({"secret": secret})
    then = "window.location.reload()" if go_to is None else f"window.location.assign({json.dumps(go_to)})"
    return (
        'fetch("/api/auth/sessao-web", {method: "POST", credentials: "same-origin", '
        f'headers: {{"Content-Type": "application/json"}}, body: {json.dumps(body)}}})'
        f".finally(() => {then})"
    )


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
        page_loads: list[Any] = [BellState.refresh]
        if on_load is not None:
            page_loads += list(on_load) if isinstance(on_load, list | tuple) else [on_load]
        PAGE_LOADS[route] = page_loads
        PAGES.append((wrapped, route, f"{title} · CRM Telecom", [SessionState.guard(route)]))
        if nav is not None:
            NAV.append(NavEntry(route, nav[0], nav[1], permission, nav[2]))
        return wrapped

    return decorate
