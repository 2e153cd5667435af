"""`GET /u/{token}` (pt-BR confirmation page) and `POST /u/{token}` (RFC 8058 one-click opt-out).

Served by the REST app, which Reflex's backend and frontend are mounted inside (app/app.py), so the
address in every e-mail is the app's own origin and needs no login. Plain HTML: the page must work in
any mail client's browser, without the app's JavaScript bundle.
"""

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import client_ip
from app.errors import NotFound
from app.messaging import unsubscribe as service

router = APIRouter(include_in_schema=False)

# The token is the only credential: keep it out of caches, and (meta referrer below, since the security
# middleware sets the header for every response) out of Referer headers.
_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}

_PAGE = """<!doctype html>
<html lang="pt-BR">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<meta name="referrer" content="no-referrer">
<title>{title} · CRM Telecom</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<style>
  body {{ margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         background: #f7f5f9; color: #211f26; }}
  main {{ max-width: 30rem; margin: 12vh auto; padding: 2rem; background: #fff; border-radius: 12px;
         box-shadow: 0 1px 3px rgba(0,0,0,.08); }}
  h1 {{ font-size: 1.4rem; margin: 0 0 1rem; }}
  p {{ line-height: 1.5; }}
  button {{ font: inherit; font-weight: 600; color: #fff; background: #660098; border: 0;
           border-radius: 8px; padding: .75rem 1.25rem; cursor: pointer; }}
  button:focus-visible {{ outline: 3px solid #c9a3e6; outline-offset: 2px; }}
  .muted {{ color: #65636d; font-size: .9rem; }}
</style>
</head>
<body><main>{body}</main></body>
</html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status, headers=_HEADERS)


def _invalid() -> HTMLResponse:
    return _page(
        "Link inválido",
        "<h1>Link inválido</h1><p>Este link de descadastro não é válido ou expirou. "
        "Se continuar recebendo mensagens, responda ao e-mail pedindo a remoção.</p>",
        status=404,
    )


def _done(sub: service.Subscription) -> HTMLResponse:
    return _page(
        "Descadastro confirmado",
        f'<h1 role="status">Descadastro confirmado</h1><p>O endereço <strong>{escape(sub.masked)}</strong> '
        f"não receberá mais e-mails de <strong>{escape(sub.organisation)}</strong>.</p>"
        '<p class="muted">Foi engano? Fale com o atendimento para voltar a receber.</p>',
    )


@router.get("/u/{token}", response_class=HTMLResponse)
async def unsubscribe_page(token: str) -> HTMLResponse:
    try:
        sub = await run_in_threadpool(service.resolve, token)
    except NotFound:
        return _invalid()
    if await run_in_threadpool(service.is_unsubscribed, sub):
        return _done(sub)
    # The form posts the RFC 8058 body itself: the button and the mailbox's one-click take the same path.
    return _page(
        "Cancelar inscrição",
        f"<h1>Cancelar inscrição</h1><p>Deseja parar de receber e-mails de "
        f"<strong>{escape(sub.organisation)}</strong> no endereço <strong>{escape(sub.masked)}</strong>?</p>"
        f'<form method="post" action="/u/{escape(token, quote=True)}">'
        f'<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        f'<button type="submit">Confirmar descadastro</button></form>'
        '<p class="muted">Você pode voltar a receber nossos e-mails pedindo ao atendimento.</p>',
    )


@router.post("/u/{token}", response_class=HTMLResponse)
async def unsubscribe_now(token: str, request: Request) -> HTMLResponse:
    try:
        sub = await run_in_threadpool(service.resolve, token)
    except NotFound:
        return _invalid()
    one_click = False
    try:
        form = await request.form(max_files=0, max_fields=10)
        one_click = form.get("List-Unsubscribe") == "One-Click"
    except Exception:
        # A body we cannot read (malformed multipart, wrong charset) never blocks an opt-out.
        one_click = False
    evidence = {
        "ip": client_ip(request),
        "user_agent": request.headers.get("user-agent", "")[:200],
        "one_click": one_click,
    }
    await run_in_threadpool(service.unsubscribe, sub, evidence)
    return _done(sub)
