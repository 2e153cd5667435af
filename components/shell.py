"""The application shell: sidebar with the sections the user may open, top bar, content."""

from dataclasses import dataclass

import reflex as rx
from reflex.event import EventCallback
from reflex.vars import ObjectVar

from components.theme import PRIMARY
from components.types import StateVar, array_var


def brand(size: str = "5") -> rx.Component:
    return rx.hstack(
        rx.image(src="/logo.svg", width="28px", height="28px", alt="CRM"),
        # Text, not a heading: every page has exactly one h1, its own title.
        # #660098 on the dark background is 1.8:1: the dark theme takes the accent's light step.
        rx.text(
            "CRM Telecom",
            size=size,
            weight="bold",
            color=rx.color_mode_cond(light=PRIMARY, dark="var(--accent-11)"),
        ),
        align="center",
        spacing="2",
    )


def color_mode_toggle() -> rx.Component:
    # next-themes keeps the choice in localStorage, so it persists across visits.
    return rx.icon_button(
        rx.color_mode_cond(light=rx.icon("moon"), dark=rx.icon("sun")),
        on_click=rx.toggle_color_mode,
        variant="ghost",
        aria_label="Alternar modo escuro",
        id="color-mode-toggle",
    )


# The sidebar: brand purple in light mode; in dark mode the dark palette, with #660098 only as the
# accent of the current entry (a bright purple slab glares next to dark content).
SIDEBAR_BG = rx.color_mode_cond(light=PRIMARY, dark="var(--gray-2)")
SIDEBAR_TEXT = rx.color_mode_cond(light="white", dark="var(--gray-12)")
SIDEBAR_MUTED = rx.color_mode_cond(light="rgba(255,255,255,0.75)", dark="var(--gray-11)")
NAV_ACTIVE = rx.color_mode_cond(light="rgba(255,255,255,0.18)", dark=PRIMARY)
NAV_HOVER = rx.color_mode_cond(light="rgba(255,255,255,0.12)", dark="var(--gray-a4)")


@dataclass
class NavItem:
    """A sidebar entry the user may open."""

    route: str
    label: str
    icon: str


@dataclass
class NotificationItem:
    """One of the latest notifications in the bell."""

    id: str
    title: str
    body: str
    when: str
    unread: bool


def nav_link(item: ObjectVar[NavItem], current: str) -> rx.Component:
    active = item.route == current
    return rx.link(
        rx.hstack(
            rx.icon(item.icon, size=18),
            rx.text(item.label, size="3"),
            spacing="3",
            align="center",
            padding_x="12px",
            padding_y="8px",
            border_radius="8px",
            width="100%",
            background=rx.cond(active, NAV_ACTIVE, "transparent"),
            color=rx.cond(active, "white", SIDEBAR_TEXT),
            _hover={"background": rx.cond(active, NAV_ACTIVE, NAV_HOVER)},
        ),
        href=item.route,
        aria_current=rx.cond(active, "page", None),
        color=SIDEBAR_TEXT,
        underline="none",
        width="100%",
    )


def nav_links(nav: StateVar[list[NavItem]], current: str, label: str = "Menu principal") -> rx.Component:
    """The sections as a `nav` landmark; current one marked with aria-current for screen readers."""
    return rx.el.nav(
        rx.vstack(rx.foreach(nav, lambda item: nav_link(item, current)), spacing="1", width="100%"),
        aria_label=label,
        width="100%",
    )


def _sidebar_panel(
    nav: StateVar[list[NavItem]], current: str, org_name: StateVar[str], **props: object
) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            # The logo as drawn (purple tile, white mark): a whitening filter turned it into a blank square.
            rx.image(src="/logo.svg", width="28px", height="28px", alt="", id=props.pop("logo_id", None)),
            rx.text("CRM Telecom", size="4", weight="bold", color=SIDEBAR_TEXT),
            align="center",
            spacing="2",
            padding_bottom="8px",
        ),
        rx.text(org_name, size="2", color=SIDEBAR_MUTED, padding_bottom="12px"),
        nav_links(nav, current),
        background=SIDEBAR_BG,
        overflow_y="auto",
        padding="20px 12px",
        spacing="1",
        **props,
    )


def sidebar(nav: StateVar[list[NavItem]], current: str, org_name: StateVar[str]) -> rx.Component:
    return _sidebar_panel(
        nav,
        current,
        org_name,
        logo_id="sidebar-logo",
        border_right=rx.color_mode_cond(light="none", dark="1px solid var(--gray-a5)"),
        width="240px",
        min_width="240px",
        height="100vh",
        position="sticky",
        top="0",
        id="sidebar",
        # Below 768 px the sidebar gives way to the menu button's drawer (assets/a11y.css).
        class_name="app-sidebar",
    )


def mobile_menu(nav: StateVar[list[NavItem]], current: str, org_name: StateVar[str]) -> rx.Component:
    """The menu button shown below 768 px: opens the same sections in a drawer from the left."""
    return rx.drawer.root(
        rx.drawer.trigger(
            rx.icon_button(
                rx.icon("menu"),
                variant="ghost",
                aria_label="Abrir menu",
                id="mobile-menu",
                class_name="mobile-only",
            )
        ),
        rx.drawer.overlay(z_index="50"),
        rx.drawer.portal(
            rx.drawer.content(
                rx.drawer.title("Menu", class_name="sr-only"),
                rx.drawer.description("Seções do CRM", class_name="sr-only"),
                _sidebar_panel(nav, current, org_name, height="100%", width="100%"),
                rx.drawer.close(
                    rx.icon_button(
                        rx.icon("x"),
                        variant="ghost",
                        aria_label="Fechar menu",
                        position="absolute",
                        top="16px",
                        right="12px",
                        color=SIDEBAR_TEXT,
                        id="mobile-menu-close",
                    )
                ),
                position="fixed",
                top="0",
                left="0",
                height="100%",
                width="min(280px, 85vw)",
                z_index="60",
                id="mobile-drawer",
            )
        ),
        direction="left",
    )


def notification_item(item: ObjectVar[NotificationItem], on_select: EventCallback[str]) -> rx.Component:
    unread = item.unread
    return rx.box(
        rx.hstack(
            rx.box(
                width="8px",
                height="8px",
                min_width="8px",
                border_radius="999px",
                margin_top="6px",
                background=rx.cond(unread, PRIMARY, "transparent"),
            ),
            rx.vstack(
                rx.text(item.title, size="2", weight=rx.cond(unread, "bold", "regular")),
                rx.text(item.body, size="1", color_scheme="gray"),
                rx.text(item.when, size="1", color_scheme="gray"),
                spacing="0",
                align="start",
            ),
            spacing="2",
            align="start",
        ),
        on_click=on_select(item.id),
        cursor="pointer",
        padding="8px",
        border_radius="6px",
        width="100%",
        _hover={"background": "var(--gray-a3)"},
        class_name="notification-item",
    )


def notification_bell(
    unread_label: StateVar[str],
    items: StateVar[list[NotificationItem]],
    open_: StateVar[bool],
    on_open_change: EventCallback[bool],
    on_select: EventCallback[str],
    on_mark_all: EventCallback[()],
) -> rx.Component:
    """The bell with the unread count; opens the latest notifications (click one to open its link)."""
    # The trigger is the button itself (a wrapping box would get aria-expanded, which a div may not
    # carry); the unread badge sits beside it in the same positioned box.
    return rx.box(
        rx.popover.root(
            rx.popover.trigger(
                rx.icon_button(
                    rx.icon("bell"), variant="ghost", aria_label="Notificações", id="notification-bell"
                ),
            ),
            rx.popover.content(
                rx.vstack(
                    rx.hstack(
                        rx.text("Notificações", weight="bold"),
                        rx.spacer(),
                        rx.button(
                            "Marcar todas como lidas",
                            size="1",
                            variant="ghost",
                            on_click=on_mark_all,
                            disabled=unread_label == "",
                            id="notifications-mark-all",
                        ),
                        width="100%",
                        align="center",
                    ),
                    rx.cond(
                        array_var(items).length() > 0,
                        rx.vstack(
                            rx.foreach(items, lambda item: notification_item(item, on_select)),
                            spacing="1",
                            width="100%",
                            max_height="420px",
                            overflow_y="auto",
                        ),
                        rx.text("Nenhuma notificação.", size="2", color_scheme="gray"),
                    ),
                    spacing="2",
                    width="100%",
                    id="notification-list",
                ),
                width="360px",
                max_width="calc(100vw - 16px)",
            ),
            open=open_,
            on_open_change=on_open_change,
        ),
        rx.cond(
            unread_label != "",
            rx.badge(
                unread_label,
                color_scheme="red",
                variant="solid",
                radius="full",
                size="1",
                position="absolute",
                top="-6px",
                right="-8px",
                pointer_events="none",
                id="notification-count",
            ),
        ),
        position="relative",
    )


def top_bar(
    title: str,
    user_label: StateVar[str],
    on_logout: EventCallback[()],
    bell: rx.Component | None = None,
    menu: rx.Component | None = None,
) -> rx.Component:
    return rx.hstack(
        *([menu] if menu is not None else []),
        # The page's only h1; headings inside the page start at h2.
        rx.heading(title, size="6", as_="h1", id="page-title"),
        rx.spacer(),
        *([bell] if bell is not None else []),
        color_mode_toggle(),
        rx.menu.root(
            rx.menu.trigger(
                rx.button(rx.icon("circle-user"), rx.text(user_label), variant="ghost", id="user-menu"),
            ),
            rx.menu.content(
                rx.menu.item("Sair", on_select=on_logout, id="logout"),
            ),
        ),
        align="center",
        width="100%",
        padding_bottom="16px",
        border_bottom="1px solid var(--gray-a5)",
        class_name="app-top-bar",
        margin_bottom="16px",
    )


def app_shell(
    content: rx.Component,
    *,
    title: str,
    nav: StateVar[list[NavItem]],
    current: str,
    org_name: StateVar[str],
    user_label: StateVar[str],
    on_logout: EventCallback[()],
    ready: StateVar[bool],
    bell: rx.Component | None = None,
) -> rx.Component:
    """Sidebar + top bar around `content`; renders a spinner until the session is confirmed."""
    return rx.hstack(
        sidebar(nav, current, org_name),
        rx.el.main(
            top_bar(title, user_label, on_logout, bell, mobile_menu(nav, current, org_name)),
            rx.cond(ready, content, rx.center(rx.spinner(size="3"), padding="64px")),
            flex="1",
            padding="24px 32px",
            min_width="0",
            class_name="app-main",
        ),
        spacing="0",
        align="start",
        width="100%",
    )


def centered_card(*children: rx.Component, max_width: str = "420px") -> rx.Component:
    """A card centred on the page (landing, login, sign-up)."""
    return rx.center(
        rx.el.main(
            rx.vstack(
                rx.hstack(brand(), rx.spacer(), color_mode_toggle(), width="100%", align="center"),
                rx.card(rx.vstack(*children, spacing="4", width="100%"), width="100%", size="3"),
                width="100%",
                spacing="4",
            ),
            width="100%",
            max_width=max_width,
        ),
        min_height="100vh",
        padding="24px",
        background=rx.color_mode_cond(
            light="linear-gradient(160deg,#f6effa 0%,#ffffff 60%)", dark="var(--gray-1)"
        ),
    )
