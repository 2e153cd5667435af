"""WhatsApp (WPPConnect) session screen: `/canais/<id>/sessao`. Start the session, show the QR code
until the phone reads it, then the connection status; reconnect or disconnect.

The QR code arrives by webhook (`app.api.webhooks_whatsapp` stores it on the channel), so while the
screen is open a background poll re-reads the channel from the database every couple of seconds: no
call to the WPPConnect server per tick. The buttons call `app.messaging.wpp_sessions`, the same
services as REST `/api/canais/{id}/sessao`.
The "Canais" page (/admin/canais) links here through `session_links` (one button per WPPConnect channel).
"""

import asyncio
from typing import Any

import reflex as rx

from app.auth.actor import Actor
from app.errors import NotFound
from app.messaging import wpp_sessions
from app.pages.base import Events, SessionState, event, page
from models.tenant import Channel
from tenants.database import session as tenant_session
from tenants.database import unit_of_work

POLL_EVERY_S = 2.0
POLL_FOR_S = 600.0  # a forgotten tab stops polling after ten minutes
STATUS_COLORS = {"active": "green", "qrcode": "amber", "connecting": "blue", "disconnected": "gray"}


class ChannelSessionState(SessionState):
    channel_id: int = 0
    channel_name: str = ""
    status: str = ""
    status_label: str = ""
    detail: str = ""
    qrcode: str = ""
    polling: bool = False

    def _show(self, view: wpp_sessions.SessionView) -> None:
        self.status, self.status_label = view.status, view.status_label
        self.qrcode, self.detail = view.qrcode or "", view.detail or ""

    def _read(self) -> None:
        """The channel as the webhooks left it (database only)."""
        with self.db() as (db, actor):
            channel = db.get(Channel, self.channel_id)
            if channel is None or channel.kind != "wppconnect" or channel.deleted_at is not None:
                raise NotFound("Canal WPPConnect não encontrado.")
            wpp_sessions.check_access(actor, channel)
            self.channel_name = channel.name
            self._show(wpp_sessions.view(channel))

    @event
    def load(self) -> Events:
        raw = self.router.url.path.rstrip("/").rsplit("/", 2)[-2]
        self.channel_id = int(raw) if raw.isdigit() else 0
        with self._calling() as call:
            self._read()
        if call.failed:
            return call.events
        return ChannelSessionState.poll

    @event(background=True)
    async def poll(self) -> None:
        """Re-reads the channel while a QR code is shown or the session is starting."""
        async with self:
            if self.polling:
                return
            self.polling = True
        try:
            waited = 0.0
            while waited < POLL_FOR_S:
                await asyncio.sleep(POLL_EVERY_S)
                waited += POLL_EVERY_S
                async with self:
                    with self._calling(quiet=True) as call:
                        self._read()
                    if call.failed or self.status not in ("qrcode", "connecting"):
                        return
        finally:
            async with self:
                self.polling = False

    async def _act(self, action: str) -> Events:
        # The WPPConnect call (up to 10 s when the server is slow) runs on a worker thread: the event
        # loop keeps serving every other tab meanwhile.
        with self._calling() as call:
            actor = self.actor()
            self._show(await asyncio.to_thread(_session_call, action, actor, self.channel_id))
        if call.failed:
            return call.events
        if self.status in ("qrcode", "connecting"):
            return ChannelSessionState.poll
        return None

    @event
    async def begin_session(self) -> Events:
        return await self._act("start")

    @event
    async def refresh_status(self) -> Events:
        return await self._act("status")

    @event
    async def end_session(self) -> Events:
        return await self._act("logout")


def _session_call(action: str, actor: Actor, channel_id: int) -> wpp_sessions.SessionView:
    service = {"start": wpp_sessions.start, "status": wpp_sessions.status, "logout": wpp_sessions.logout}[
        action
    ]
    assert actor.schema is not None
    with tenant_session(actor.schema) as db, unit_of_work(db):
        return service(db, actor, channel_id)


def session_links(rows: Any) -> rx.Component:
    """For the Canais page: one "Conectar / QR code" link per WPPConnect channel of its rows
    (dicts with "id", "kind" and "name")."""
    return rx.hstack(
        rx.foreach(
            rows,
            lambda row: rx.cond(
                row["kind"] == "wppconnect",
                rx.link(
                    rx.button(
                        rx.icon("qr-code", size=16), "Sessão: " + row["name"], variant="soft", size="2"
                    ),
                    href="/canais/" + row["id"] + "/sessao",
                ),
            ),
        ),
        wrap="wrap",
        spacing="2",
    )


def _status_badge() -> rx.Component:
    return rx.badge(
        ChannelSessionState.status_label,
        color_scheme=rx.match(
            ChannelSessionState.status,
            *[(key, color) for key, color in STATUS_COLORS.items()],
            "gray",
        ),
        size="2",
    )


def _qr_block() -> rx.Component:
    return rx.cond(
        ChannelSessionState.qrcode != "",
        rx.vstack(
            rx.image(
                src=ChannelSessionState.qrcode,
                alt="QR code para conectar o WhatsApp",
                width="264px",
                height="264px",
                style={"image_rendering": "pixelated"},
                id="wpp-qrcode",
            ),
            rx.text(
                "No celular, abra o WhatsApp › Aparelhos conectados › Conectar um aparelho e aponte para "
                "este código. Ele se renova sozinho.",
                size="2",
                color_scheme="gray",
                max_width="320px",
            ),
            align="center",
            spacing="3",
        ),
        rx.cond(
            ChannelSessionState.status == "connecting",
            rx.hstack(rx.spinner(), rx.text("Iniciando a sessão…")),
        ),
    )


@page(
    "/canais/[channel_id]/sessao",
    "Sessão do WhatsApp",
    on_load=ChannelSessionState.load,
)
def channel_session_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.link("‹ Canais", href="/admin/canais"),
            rx.heading(ChannelSessionState.channel_name, size="5"),
            _status_badge(),
            align="center",
            spacing="3",
        ),
        rx.cond(
            ChannelSessionState.detail != "",
            rx.text(ChannelSessionState.detail, size="1", color_scheme="gray"),
        ),
        _qr_block(),
        rx.hstack(
            rx.cond(
                ChannelSessionState.status == "active",
                rx.button(
                    "Desconectar",
                    color_scheme="red",
                    variant="soft",
                    on_click=ChannelSessionState.end_session,
                ),
                rx.button(
                    rx.cond(ChannelSessionState.status == "disconnected", "Conectar", "Gerar novo QR code"),
                    on_click=ChannelSessionState.begin_session,
                    id="wpp-start",
                ),
            ),
            rx.button(
                "Atualizar status",
                variant="outline",
                on_click=ChannelSessionState.refresh_status,
            ),
            spacing="3",
        ),
        spacing="4",
        padding="4",
        align="start",
    )
