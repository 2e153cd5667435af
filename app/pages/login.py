"""Landing + login ("Entrar") and sign-up ("Criar organização")."""

import logging

import reflex as rx

from app.auth import sessions
from app.auth.network import reflex_client_address
from app.errors import DomainError, Invalid
from app.pages.base import LOGIN_ROUTE, Events, SessionState, bind_script, event, home_route
from app.platform.provisioning import SignupInput
from app.platform.signup import confirm_and_log_in, self_signup
from components.forms import field, form_error, primary_button
from components.shell import centered_card
from tenants.database import platform_session, unit_of_work
from tenants.naming import slugify

log = logging.getLogger(__name__)


class LoginState(SessionState):
    error: str = ""
    loading: bool = False

    @event
    def submit(self, form: dict[str, str]) -> Events:
        self.error = ""
        ip = reflex_client_address(self.router)
        with platform_session() as db:
            try:
                pair = sessions.login(
                    db, form.get("tenant") or None, form.get("email", ""), form.get("password", ""), ip
                )
                db.flush()
                secret = self._sign_in(db, pair, ip)
            except DomainError as exc:
                db.commit()  # keep the failed-attempt record (brute-force throttling)
                self.error = exc.message
                return None
            db.commit()
        return rx.call_script(bind_script(secret))

    @event
    def redirect_if_logged_in(self) -> Events:
        if self._user_id is not None:
            try:
                actor = self.actor()
            except DomainError as exc:
                self._end(exc.message)
                return None
            return rx.redirect(home_route(actor.role))
        return None


def login_page() -> rx.Component:
    return centered_card(
        rx.heading("Entrar", size="6", as_="h1"),
        rx.text(
            "CRM para operadoras e revendas: clientes, timeline, Kanban, WhatsApp e e-mail.",
            color_scheme="gray",
            size="2",
        ),
        rx.form(
            rx.vstack(
                field(
                    "Organização", "tenant", placeholder="ex.: minha-revenda", auto_complete="organization"
                ),
                field(
                    "E-mail", "email", input_mode="email", placeholder="voce@empresa.com.br", required=True
                ),
                field("Senha", "password", type="password", required=True),
                form_error(LoginState.error),
                rx.cond(
                    (LoginState.ended_notice != "") & (LoginState.error == ""),
                    rx.callout(
                        LoginState.ended_notice,
                        icon="info",
                        color_scheme="amber",
                        width="100%",
                        id="ended-notice",
                    ),
                ),
                primary_button("Entrar", type="submit", id="login-submit"),
                spacing="3",
                width="100%",
            ),
            on_submit=LoginState.submit,
            reset_on_submit=False,
            no_validate=True,  # pt-BR field errors come from the server, not the browser
            width="100%",
        ),
        rx.hstack(
            rx.text("Ainda não tem conta?", size="2"),
            rx.link("Criar organização", href="/cadastro", size="2", id="signup-link"),
            spacing="2",
        ),
        rx.text("Superadmin: deixe “Organização” em branco.", size="1", color_scheme="gray"),
    )


class SignupState(SessionState):
    errors: dict[str, str] = {}
    error: str = ""
    done_slug: str = ""
    confirmation_sent: bool = False
    slug: str = ""
    # Once the person types a slug of their own, a later name change no longer replaces it.
    slug_edited: bool = False

    @event
    def reset_form(self) -> None:
        self.errors, self.error, self.done_slug, self.confirmation_sent = {}, "", "", False
        self.slug, self.slug_edited = "", False

    @event
    def suggest_slug(self, name: str) -> None:
        if not self.slug_edited:
            self.slug = slugify(name)

    @event
    def edit_slug(self, value: str) -> None:
        self.slug = value
        self.slug_edited = value != ""

    @event
    def submit(self, form: dict[str, str]) -> Events:
        self.errors, self.error = {}, ""
        data = SignupInput(
            name=form.get("name", ""),
            slug=form.get("slug", ""),
            admin_name=form.get("admin_name", ""),
            admin_email=form.get("admin_email", ""),
            admin_password=form.get("admin_password", ""),
        )
        ip = reflex_client_address(self.router)
        try:
            result = self_signup(data, ip=ip)
        except Invalid as exc:
            self.errors = exc.fields
            self.error = "Corrija os campos destacados."
            return None
        except DomainError as exc:
            if field_name := exc.details.get("field"):
                self.errors = {field_name: exc.message}
            self.error = exc.message
            return None
        self.done_slug = result.tenant.slug
        self.confirmation_sent = result.confirmation_sent
        if result.confirmation_sent:
            return rx.toast.success(
                "Quase lá! Enviamos um link de confirmação para o e-mail do administrador."
            )
        # Usable at once: the new admin goes straight in, through the same login as the form's.
        with platform_session() as db:
            try:
                pair = sessions.login(db, result.tenant.slug, data.admin_email, data.admin_password, ip)
                db.flush()
                secret = self._sign_in(db, pair, ip)
            except DomainError as exc:
                db.commit()
                log.warning("sign-up of %s: direct login refused (%s)", result.tenant.slug, exc.code)
                return rx.toast.success("Organização criada! Entre com o e-mail e a senha do administrador.")
            db.commit()
        return [
            rx.toast.success("Organização criada! Bem-vindo ao CRM."),
            rx.call_script(bind_script(secret, LOGIN_ROUTE)),
        ]


def signup_page() -> rx.Component:
    e = SignupState.errors
    return centered_card(
        rx.heading("Criar organização", size="6", as_="h1"),
        rx.cond(
            SignupState.done_slug != "",
            rx.vstack(
                rx.callout(
                    rx.cond(
                        SignupState.confirmation_sent,
                        rx.text(
                            "Organização ",
                            rx.code(SignupState.done_slug),
                            " cadastrada. Abra o link que enviamos para o e-mail do administrador "
                            "para ativá-la; só depois será possível entrar.",
                        ),
                        rx.text("Organização ", rx.code(SignupState.done_slug), " criada com sucesso."),
                    ),
                    icon="circle-check",
                    color_scheme="green",
                    id="signup-done",
                ),
                rx.link(rx.button("Ir para o login", width="100%"), href="/", width="100%"),
                width="100%",
            ),
            rx.form(
                rx.vstack(
                    field(
                        "Nome da organização",
                        "name",
                        e.get("name", ""),
                        placeholder="Revenda Exemplo Ltda",
                        on_blur=SignupState.suggest_slug,
                    ),
                    field(
                        "Identificador (slug)",
                        "slug",
                        e.get("slug", ""),
                        placeholder="revenda-exemplo",
                        value=SignupState.slug,
                        on_change=SignupState.edit_slug,
                    ),
                    field("Seu nome", "admin_name", e.get("admin_name", "")),
                    field(
                        "E-mail do administrador", "admin_email", e.get("admin_email", ""), input_mode="email"
                    ),
                    field("Senha", "admin_password", e.get("admin_password", ""), type="password"),
                    form_error(SignupState.error),
                    primary_button("Criar organização", type="submit", id="signup-submit"),
                    spacing="3",
                    width="100%",
                ),
                on_submit=SignupState.submit,
                reset_on_submit=False,
                no_validate=True,  # pt-BR field errors come from the server, not the browser
                width="100%",
            ),
        ),
        rx.link("Já tenho conta: entrar", href="/", size="2"),
        max_width="480px",
    )


class ConfirmSignupState(SessionState):
    """/cadastro/confirmar?token=...: the page the e-mailed link opens; confirming needs the page's
    script to run, so link scanners that only fetch the URL confirm nothing."""

    state: str = "pending"  # pending | done | failed
    message: str = ""
    slug: str = ""

    @event
    def confirm(self) -> Events:
        token = self.router.url.query_parameters.get("token", "")
        ip = reflex_client_address(self.router)
        try:
            with platform_session() as db, unit_of_work(db):
                tenant, pair = confirm_and_log_in(db, token, ip)
                secret = self._sign_in(db, pair, ip)
        except DomainError as exc:
            self.state, self.message, self.slug = "failed", exc.message, ""
            return None
        self.state, self.message, self.slug = "done", "", tenant.slug
        return rx.call_script(bind_script(secret, LOGIN_ROUTE))


def confirm_signup_page() -> rx.Component:
    return centered_card(
        rx.heading("Confirmação de cadastro", size="6", as_="h1"),
        rx.match(
            ConfirmSignupState.state,
            (
                "done",
                rx.vstack(
                    rx.callout(
                        rx.text(
                            "E-mail confirmado: a organização ",
                            rx.code(ConfirmSignupState.slug),
                            " está ativa.",
                        ),
                        icon="circle-check",
                        color_scheme="green",
                        id="confirm-done",
                    ),
                    rx.link(rx.button("Entrar", width="100%"), href="/", width="100%"),
                    width="100%",
                ),
            ),
            (
                "failed",
                rx.vstack(
                    rx.callout(
                        ConfirmSignupState.message,
                        icon="triangle-alert",
                        color_scheme="red",
                        id="confirm-failed",
                    ),
                    rx.link("Fazer o cadastro de novo", href="/cadastro", size="2"),
                    width="100%",
                ),
            ),
            rx.text("Confirmando…", color_scheme="gray"),
        ),
        max_width="480px",
    )
