"""Landing + login ("Entrar") and sign-up ("Criar organização")."""

import reflex as rx

from app.auth import sessions, ui_sessions
from app.errors import DomainError, Invalid
from app.pages.base import SessionState, bind_script, home_route
from components.forms import field, form_error, primary_button
from components.shell import centered_card
from tenants.database import platform_session
from tenants.provisioning import SignupInput, provision_tenant


class LoginState(SessionState):
    error: str = ""
    loading: bool = False

    @rx.event
    def submit(self, form: dict[str, str]):  # type: ignore[no-untyped-def]
        self.error = ""
        ip = self.router.session.client_ip or "unknown"
        with platform_session() as db:
            try:
                pair = sessions.login(
                    db, form.get("tenant") or None, form.get("email", ""), form.get("password", ""), ip
                )
                db.flush()
                actor = sessions.actor_for_user(db, sessions.decode_user_id(pair), ip)
                # A new UI session (new key and secret) on every login, bound to this browser below.
                row, secret = ui_sessions.open_session(
                    db, actor, pair.family, self.router.session.client_token
                )
            except DomainError as exc:
                db.commit()  # keep the failed-attempt record (brute-force throttling)
                self.error = exc.message
                return None
            db.commit()
        self.start(pair, actor, row.key)
        return rx.call_script(bind_script(secret))

    @rx.event
    def redirect_if_logged_in(self):  # type: ignore[no-untyped-def]
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
        rx.heading("Entrar", size="6"),
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

    @rx.event
    def reset_form(self) -> None:
        self.errors, self.error, self.done_slug = {}, "", ""

    @rx.event
    def submit(self, form: dict[str, str]):  # type: ignore[no-untyped-def]
        self.errors, self.error = {}, ""
        data = SignupInput(
            name=form.get("name", ""),
            slug=form.get("slug", ""),
            admin_name=form.get("admin_name", ""),
            admin_email=form.get("admin_email", ""),
            admin_password=form.get("admin_password", ""),
        )
        try:
            tenant = provision_tenant(data, ip=self.router.session.client_ip or None)
        except Invalid as exc:
            self.errors = exc.fields
            self.error = "Corrija os campos destacados."
            return None
        except DomainError as exc:
            if field_name := exc.details.get("field"):
                self.errors = {field_name: exc.message}
            self.error = exc.message
            return None
        self.done_slug = tenant.slug
        return rx.toast.success("Organização criada! Entre com o e-mail e a senha do administrador.")


def signup_page() -> rx.Component:
    e = SignupState.errors
    return centered_card(
        rx.heading("Criar organização", size="6"),
        rx.cond(
            SignupState.done_slug != "",
            rx.vstack(
                rx.callout(
                    rx.text("Organização ", rx.code(SignupState.done_slug), " criada com sucesso."),
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
                        "Nome da organização", "name", e.get("name", ""), placeholder="Revenda Exemplo Ltda"
                    ),
                    field("Identificador (slug)", "slug", e.get("slug", ""), placeholder="revenda-exemplo"),
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
                width="100%",
            ),
        ),
        rx.link("Já tenho conta: entrar", href="/", size="2"),
        max_width="480px",
    )
