"""Importações: upload a CSV/XLSX, map columns, choose the duplicate policy, follow progress, read the report.

The page calls the same services as the REST API and the CLI (app.importing.jobs) and queues the same
task (tasks.imports.run_import). Files reach the server the way the REST API takes them: in 8 MB
slices, resumable after a dropped connection (assets/js/resumable_upload.js, with a grant for that one
upload session: app/importing/upload_grants.py); the browser never holds a session token.
"""

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from app.after_commit import enqueue_after_commit
from app.auth.permissions import Perm
from app.errors import Invalid
from app.formatting import number_br
from app.importing import jobs, upload_grants
from app.importing.mapping import FIELD_LABELS
from app.importing.progress import eta_label, rate_label
from app.importing.report import message_for
from app.importing.status import ImportStatus
from app.pages.base import Events, SessionState, event, page
from app.text import fold_words
from components.badges import severity_badge
from components.forms import field_label
from components.progress import progress_bar
from components.types import array_var, object_var
from tasks.imports import run_import

FILE_INPUT_ID = "imports-file"
UPLOAD_DONE_ID = "imports-upload-done"
# The chosen file's name and size, read inline: the button can be pressed before the upload script
# (loaded after hydration) has arrived.
_DESCRIBE_FILE = (
    f"(() => {{ const input = document.getElementById({json.dumps(FILE_INPUT_ID)}); "
    "const file = input && input.files && input.files[0]; "
    "return file ? { name: file.name, size: file.size } : null; })()"
)
UPLOAD_SCRIPT = "/js/resumable_upload.js"


def _with_uploader(call: str) -> str:
    """Runs `call` once the upload script is there. The page's own <script> tag arrives after hydration,
    which on a busy machine can be after the user (or a test) pressed "Enviar": then the script is loaded
    right here, instead of the press failing silently and leaving "Enviando…" forever."""
    return (
        "(() => { const go = () => " + call + "; if (window.crmUploads) return go(); "
        "const s = document.createElement('script'); s.src = " + json.dumps(UPLOAD_SCRIPT) + "; "
        "s.onload = go; document.head.appendChild(s); return true; })()"
    )


UPLOAD_RETRIES = 8  # attempts per slice after a dropped connection (backing off up to 15 s each)
_ACCEPT = ".csv,.txt,.tsv,.xlsx,.xls"
_FORM_OPTIONS = frozenset({"header_row", "source", "dedupe", "default_ddd", "preset_name"})
FIELD_OPTIONS = [
    "ignore",
    "name",
    "document",
    "phone",
    "whatsapp",
    "email",
    "plan",
    "status",
    "wallet",
    "owner",
    "tags",
    "custom",
]
OPTION_LABELS = {**FIELD_LABELS, "custom": "Campo personalizado"}
STATE_LABELS = {
    "uploading": "Enviando",
    "queued": "Na fila",
    "running": "Importando",
    "done": "Concluída",
    "failed": "Falhou",
    "cancelled": "Cancelada",
}
DEDUPE_OPTIONS = {
    "keep-first": "Manter o primeiro",
    "keep-last": "Manter o último",
    "merge": "Mesclar (preencher vazios, somar contatos)",
}
_REPORT_LABELS = {
    "read": "Lidas",
    "valid": "Válidas",
    "invalid": "Inválidas",
    "created": "Criados",
    "updated": "Atualizados",
    "unchanged": "Sem mudança",
    "duplicates": "Duplicadas no arquivo",
    "missing": "Ausentes nesta versão",
    "conflicts": "Conflitos",
}


def _custom_key(header: str) -> str:
    key = fold_words(header).replace(" ", "_")[:50] or "campo"
    return key if re.match(r"^[a-z]", key) else f"c_{key}"


# The bar's and the state badge's colour: an ended import reads as ended at a glance.
STATE_COLORS = {"done": "green", "failed": "red", "cancelled": "gray"}


@dataclass
class ImportRow:
    """One import as the page lists it (labels in pt-BR; `percent` 0..100 feeds the progress bar)."""

    id: str = ""
    source: str = ""
    filename: str = ""
    state: str = ""
    raw_state: str = ""
    color: str = "purple"
    percent: int = 0
    read: str = "0"
    created: str = "0"
    updated: str = "0"
    invalid: str = "0"
    rate: str = ""  # "1.234 linhas/s"
    eta: str = ""  # "cerca de 4 min restantes"


def _final_rate(status: ImportStatus) -> float | None:
    return (status.read / status.duration_s) if status.state == "done" and status.duration_s else None


def _row(status: ImportStatus) -> ImportRow:
    return ImportRow(
        id=str(status.id),
        source=status.source or "",
        filename=status.filename,
        # A dead import taken over by the recovery says so until it ends (app/importing/recovery.py).
        state=status.state_label or STATE_LABELS.get(status.state, status.state),
        raw_state=status.state,
        color=STATE_COLORS.get(status.state, "purple"),
        # Floor, so 100 % means finished, never "almost".
        percent=100 if status.state == "done" else min(int(100 * (status.progress or 0)), 99),
        read=number_br(status.read or status.rows_read or 0),
        created=number_br(status.created),
        updated=number_br(status.updated),
        invalid=number_br(status.invalid),
        # The rate over the whole run stays once it ended (the final report keeps only the duration);
        # time left only while it runs.
        rate=rate_label(status.rate or _final_rate(status)),
        eta=eta_label(status.eta_s) if status.state == "running" else "",
    )


class ImportsState(SessionState):
    imports: list[ImportRow] = []
    # Mapping step
    filename: str = ""
    file_format: str = ""
    headers: list[str] = []
    preview_rows: list[list[str]] = []
    mapping: dict[str, str] = {}
    sheets: list[str] = []
    sheet: str = ""
    header_row: str = ""
    source: str = ""
    dedupe: str = "keep-first"
    default_ddd: str = ""
    preset_name: str = ""
    upload_error: str = ""
    error: str = ""
    uploading: bool = False
    # Report of the selected import
    selected_id: str = ""
    # The selected import as listed: its bar, rate and time left head the report.
    current: ImportRow = ImportRow()
    report: list[dict[str, str]] = []
    issues: list[dict[str, str]] = []
    samples: list[dict[str, str]] = []
    report_error: str = ""
    polling: bool = False
    _upload_id: str = ""
    _sending: str = ""  # upload session the browser is sending
    _sending_name: str = ""

    def _reload(self) -> None:
        with self.db() as (db, actor):
            self.imports = [_row(jobs.import_status(j)) for j in jobs.list_imports(db, actor, limit=20)]
            if self.selected_id:
                status = jobs.get_import_status(db, actor, int(self.selected_id))
                self.current = _row(status)
                self._fill_report(status)

    def _fill_report(self, status: ImportStatus) -> None:
        self.report = [
            {"key": k, "label": label, "value": number_br(getattr(status, k))}
            for k, label in _REPORT_LABELS.items()
        ]
        if status.duration_s is not None:
            self.report.append(
                {"key": "duration", "label": "Duração", "value": f"{number_br(status.duration_s, 1)} s"}
            )
        self.issues = [
            {"kind": "Erro", "message": message_for(k), "count": str(v)} for k, v in status.errors.items()
        ] + [
            {"kind": "Aviso", "message": message_for(k), "count": str(v)} for k, v in status.warnings.items()
        ]
        self.samples = [
            {"line": str(sample.line), "value": sample.value or "", "message": sample.message}
            for items in status.samples.values()
            for sample in items
        ]
        self.report_error = status.error or ""

    @event
    def load(self) -> Events:
        if (failed := self.attempt(self._reload)) is not None:
            return failed
        if any(r.raw_state in ("queued", "running") for r in self.imports):
            return ImportsState.poll
        return None

    @event(background=True)
    async def poll(self) -> None:
        """Refreshes progress every second while an import of this tenant is queued or running."""
        async with self:
            if self.polling:
                return
            self.polling = True
        try:
            while True:
                await asyncio.sleep(1.0)
                async with self:
                    with self._calling(quiet=True) as call:
                        self._reload()
                    if call.failed:
                        return
                    if not any(r.raw_state in ("queued", "running") for r in self.imports):
                        return
        finally:
            async with self:
                self.polling = False

    @event
    def begin_upload(self, info: dict[str, Any] | None) -> Events:
        """Opens an upload session for the file the browser chose and lets the browser send it."""
        # A new file replaces whatever was being mapped, also when it turns out to be unreadable.
        self._clear_mapping()
        self.upload_error = self.error = ""
        if not info or not info.get("name"):
            self.upload_error = "Escolha um arquivo CSV ou XLSX."
            return None
        name = str(info["name"])[:500]
        try:
            size = int(info.get("size") or 0)
        except ValueError:
            self.upload_error = "Arquivo inválido."
            return None
        with self._calling(message="upload_error") as call:
            with self.db() as (db, actor):
                session = jobs.start_upload(db, actor, name, size)
            token = upload_grants.issue(actor, self._family, session.upload_id)
        if call.failed:
            return call.events
        self._sending, self._sending_name = session.upload_id, name
        self.uploading = True
        cfg = {
            "url": f"/api/imports/uploads/{session.upload_id}",
            "api": rx.config.get_config().api_url,
            "token": token,
            "doneId": UPLOAD_DONE_ID,
            "progressId": "upload-progress",
            "barId": "upload-bar",
            "retries": UPLOAD_RETRIES,
        }
        send = f"window.crmUploads.send({json.dumps(FILE_INPUT_ID)}, {json.dumps(cfg)})"
        return rx.call_script(_with_uploader(send))

    @event
    def collect_upload(self) -> Events:
        """The browser finished (or gave up): read its outcome."""
        return rx.call_script("window.crmUploads.result()", callback=ImportsState.upload_sent)

    @event
    def upload_sent(self, result: dict[str, Any] | None) -> None:
        """Checks with the server that every byte arrived, then shows the preview."""
        self.uploading = False
        upload_id, name = self._sending, self._sending_name
        self._sending = self._sending_name = ""
        if not upload_id:
            return
        if not result or not result.get("ok"):
            self.upload_error = str((result or {}).get("error") or "O envio falhou.")[:300]
            return
        with self._calling(message="upload_error") as call:
            actor = self.actor()
            # No session is opened: upload_status and preview_upload read the storage only (their db
            # parameter is unused, but typed Session).
            status = jobs.upload_status(None, actor, upload_id)
            if status.size is not None and status.offset != status.size:
                raise Invalid("file", f"Envio incompleto: {status.offset} de {status.size} bytes.")
            self._upload_id = upload_id
            self.filename = name
            self.source = re.sub(r"\.[A-Za-z0-9]+$", "", name)[:200]
            self._preview(actor, suggest=True)
        if call.failed:
            self._clear_mapping()

    @event
    def cancel_upload(self) -> Events:
        return rx.call_script("window.crmUploads && window.crmUploads.abort()")

    def _clear_mapping(self) -> None:
        self._upload_id = ""
        self.filename = self.file_format = self.sheet = self.header_row = ""
        self.headers, self.preview_rows, self.sheets, self.mapping = [], [], [], {}

    def _preview(self, actor: Any, suggest: bool) -> None:
        p = jobs.preview_upload(
            None,  # preview_upload reads the storage only
            actor,
            self._upload_id,
            self.sheet or None,
            int(self.header_row) if self.header_row.isdigit() else None,
        )
        self.file_format = p.format
        self.headers = p.headers
        self.preview_rows = [[c or "" for c in r] for r in p.rows]
        self.sheets = p.sheets
        self.sheet = p.sheet or ""
        self.header_row = str(p.header_row)
        if suggest or set(self.mapping) != set(p.headers):
            self.mapping = dict(p.suggested)

    @event
    def reload_preview(self) -> None:
        self.error = ""
        with self._calling(message="error"):
            self._preview(self.actor(), suggest=True)

    @event
    def set_mapping(self, header: str, field: str) -> None:
        self.mapping = {**self.mapping, header: field}

    @event
    def set_sheet(self, value: str) -> Events:
        self.sheet = value
        self.header_row = ""
        return ImportsState.reload_preview

    @event
    def set_option(self, name: str, value: str) -> None:
        """One setter for the form's plain text options (the browser may call it with any name: only
        these are accepted; everything is validated again when the import is created)."""
        if name in _FORM_OPTIONS:
            setattr(self, name, str(value)[:500])

    def _final_mapping(self) -> dict[str, str]:
        return {h: (f"custom:{_custom_key(h)}" if f == "custom" else f) for h, f in self.mapping.items()}

    @event
    def save_preset(self) -> Events:
        with self._calling(message="error") as call, self.db() as (db, actor):
            jobs.save_preset(db, actor, self.preset_name or self.source, self._final_mapping(), self.source)
        if call.failed:
            return call.events
        return rx.toast.success("Modelo de mapeamento salvo.")

    @event
    async def start_import(self) -> Events:
        self.error = ""
        if not self._upload_id:
            self.error = "Envie um arquivo primeiro."
            return None
        opts = jobs.ImportOptions(
            source=self.source,
            mapping=self._final_mapping(),
            dedupe=self.dedupe,
            default_ddd=self.default_ddd or None,
            sheet=self.sheet or None,
            header_row=int(self.header_row) if self.header_row.isdigit() else None,
        )
        with self._calling(message="error") as call, self.db() as (db, actor):
            job = jobs.create_import(db, actor, opts, upload_id=self._upload_id)
            assert actor.schema is not None and job.id is not None
            enqueue_after_commit(db, run_import, actor.schema, job.id)
        if call.failed:
            return call.events
        self._clear_mapping()
        self.selected_id = str(job.id)
        if (failed := self.attempt(self._reload)) is not None:
            return failed if self._user_id is None else [*failed, ImportsState.poll]
        return [rx.toast.success("Importação iniciada."), ImportsState.poll]

    @event
    def select(self, import_id: str) -> Events:
        self.selected_id = import_id
        return self.attempt(self._reload)

    @event
    def cancel(self, import_id: str) -> Events:
        with self._calling() as call:
            with self.db() as (db, actor):
                jobs.cancel(db, actor, int(import_id))
            self._reload()
        if call.failed:
            return call.events
        return rx.toast.info("Cancelamento solicitado: o lote atual termina e a importação para.")

    @event
    def download_errors(self, import_id: str) -> Events:
        with self._calling() as call, self.db() as (db, actor):
            body = "".join(jobs.error_rows_csv(db, actor, int(import_id)))
        if call.failed:
            return call.events
        return rx.download(data=body, filename=f"importacao-{import_id}-erros.csv")

    @event
    def download_duplicates(self, import_id: str) -> Events:
        with self._calling() as call, self.db() as (db, actor):
            body = "".join(jobs.dedupe_rows_csv(db, actor, int(import_id)))
        if call.failed:
            return call.events
        return rx.download(data=body, filename=f"importacao-{import_id}-duplicadas.csv")


def _error(message: Any, id: str) -> rx.Component:
    # Each step has its own callout (and id): one shared message showed up twice under two ids.
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert", width="100%", id=id),
    )


def _labelled(label: str, control: rx.Component, html_for: str | None = None) -> rx.Component:
    # A placeholder alone disappears once the field has a value ("1" said nothing about the header).
    return rx.vstack(
        field_label(label, html_for, size="1") if html_for else rx.text(label, size="1", weight="medium"),
        control,
        spacing="1",
    )


def _mapping_cell(header: rx.Var, index: rx.Var) -> rx.Component:
    return rx.table.column_header_cell(
        rx.vstack(
            rx.text(header, weight="bold", size="2"),
            rx.select.root(
                rx.select.trigger(
                    width="100%",
                    id="map-" + index.to_string(),
                    aria_label="Campo da coluna " + header.to(str),
                ),
                rx.select.content(*[rx.select.item(OPTION_LABELS[f], value=f) for f in FIELD_OPTIONS]),
                value=object_var(ImportsState.mapping)[header].to(str),
                on_change=lambda v: ImportsState.set_mapping(header, v),
                size="1",
            ),
            spacing="1",
        )
    )


def upload_step() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("1. Arquivo", size="4", as_="h2"),
            rx.box(
                rx.vstack(
                    rx.icon("file-up", size=28),
                    rx.text("Escolha (ou arraste até aqui) um CSV ou XLSX, de qualquer tamanho."),
                    rx.el.input(
                        type="file",
                        id=FILE_INPUT_ID,
                        accept=_ACCEPT,
                        disabled=ImportsState.uploading,
                        aria_label="Arquivo para importar",
                    ),
                    align="center",
                ),
                border="1px dashed var(--gray-7)",
                padding="1.5em",
                width="100%",
            ),
            rx.hstack(
                rx.button(
                    rx.icon("upload"),
                    "Enviar e visualizar",
                    on_click=rx.call_script(_DESCRIBE_FILE, callback=ImportsState.begin_upload),
                    loading=ImportsState.uploading,
                    id="send-file",
                ),
                rx.cond(
                    ImportsState.uploading,
                    rx.button(
                        "Cancelar envio",
                        on_click=ImportsState.cancel_upload,
                        variant="soft",
                        color_scheme="gray",
                        id="cancel-upload",
                    ),
                ),
                # Clicked by the upload script when it is done (hidden: nothing for the user to press).
                rx.button(on_click=ImportsState.collect_upload, id=UPLOAD_DONE_ID, display="none"),
            ),
            rx.cond(
                ImportsState.uploading,
                rx.vstack(
                    rx.box(
                        rx.box(id="upload-bar", height="100%", width="0%", background="var(--accent-9)"),
                        height="6px",
                        width="100%",
                        background="var(--gray-4)",
                        border_radius="3px",
                        overflow="hidden",
                    ),
                    rx.text("Enviando…", id="upload-progress", size="1", color_scheme="gray"),
                    width="100%",
                ),
            ),
            _error(ImportsState.upload_error, "upload-error"),
            rx.script(src=UPLOAD_SCRIPT),
            width="100%",
        ),
        width="100%",
    )


def _sheet_and_header() -> rx.Component:
    """Which sheet and which row hold the headers (the preview reloads with them)."""
    return rx.hstack(
        rx.cond(
            array_var(ImportsState.sheets).length() > 0,
            _labelled(
                "Aba",
                rx.select(
                    ImportsState.sheets,
                    value=ImportsState.sheet,
                    on_change=ImportsState.set_sheet,
                    aria_label="Aba",
                ),
            ),
        ),
        _labelled(
            "Linha do cabeçalho",
            rx.input(
                value=ImportsState.header_row,
                on_change=lambda value: ImportsState.set_option("header_row", value),
                id="import-header-row",
                width="10em",
            ),
            "import-header-row",
        ),
        rx.button("Recarregar", variant="soft", on_click=ImportsState.reload_preview),
        align="end",
    )


def _preview_table() -> rx.Component:
    """The first rows as read, with a field chooser above each column."""
    return rx.scroll_area(
        rx.table.root(
            rx.table.header(rx.table.row(rx.foreach(ImportsState.headers, _mapping_cell))),
            rx.table.body(
                rx.foreach(
                    ImportsState.preview_rows,
                    lambda r: rx.table.row(rx.foreach(r, lambda c: rx.table.cell(c))),
                )
            ),
            size="1",
            id="preview-table",
        ),
        type="auto",
        scrollbars="horizontal",
        width="100%",
    )


def _import_options() -> rx.Component:
    """Source label, duplicate policy and default area code."""
    return rx.hstack(
        _labelled(
            "Origem",
            rx.input(
                value=ImportsState.source,
                on_change=lambda value: ImportsState.set_option("source", value),
                id="import-source",
                width="16em",
            ),
            "import-source",
        ),
        _labelled(
            "Duplicados no arquivo",
            rx.select.root(
                rx.select.trigger(id="import-dedupe"),
                rx.select.content(*[rx.select.item(v, value=k) for k, v in DEDUPE_OPTIONS.items()]),
                value=ImportsState.dedupe,
                on_change=lambda value: ImportsState.set_option("dedupe", value),
            ),
            "import-dedupe",
        ),
        _labelled(
            "DDD padrão (opcional)",
            rx.input(
                value=ImportsState.default_ddd,
                on_change=lambda value: ImportsState.set_option("default_ddd", value),
                placeholder="ex.: 11",
                id="import-ddd",
                max_length=2,
                width="8em",
            ),
            "import-ddd",
        ),
        wrap="wrap",
        align="end",
    )


def _preset_and_start() -> rx.Component:
    """Save the mapping as a preset, or start the import."""
    return rx.hstack(
        _labelled(
            "Modelo de mapeamento",
            rx.input(
                value=ImportsState.preset_name,
                on_change=lambda value: ImportsState.set_option("preset_name", value),
                placeholder="Nome (padrão: a origem)",
                id="import-preset",
                width="16em",
            ),
            "import-preset",
        ),
        rx.button("Salvar modelo", variant="soft", on_click=ImportsState.save_preset),
        rx.spacer(),
        rx.button(rx.icon("play"), "Importar", on_click=ImportsState.start_import, id="start-import"),
        width="100%",
        align="end",
    )


def mapping_step() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("2. Colunas → campos", size="4", as_="h2"),
            rx.text(ImportsState.filename, size="2", color_scheme="gray", id="preview-filename"),
            _sheet_and_header(),
            _preview_table(),
            rx.heading("3. Opções", size="4", as_="h2"),
            _import_options(),
            _preset_and_start(),
            _error(ImportsState.error, "import-error"),
            width="100%",
        ),
        width="100%",
        id="mapping-step",
    )


def _pace(r: ObjectVar[ImportRow], prefix: str) -> rx.Component:
    """Rows/s and the time left, as two short lines (empty until the first batch is measured)."""
    return rx.vstack(
        rx.text(r.rate, size="1", white_space="nowrap", id=prefix + "rate-" + r.id.to(str)),
        rx.text(r.eta, size="1", color_scheme="gray", id=prefix + "eta-" + r.id.to(str)),
        spacing="0",
    )


def import_row(r: ObjectVar[ImportRow]) -> rx.Component:
    active = (r.raw_state == "queued") | (r.raw_state == "running")
    return rx.table.row(
        rx.table.cell(r.id),
        rx.table.cell(r.source),
        rx.table.cell(r.filename),
        rx.table.cell(rx.badge(r.state, color_scheme=r.color)),
        rx.table.cell(
            progress_bar(
                r.percent,
                label="Progresso da importação " + r.id.to(str),
                color_scheme=r.color,
                id="import-progress-" + r.id.to(str),
                size="1",
                min_width="140px",
            )
        ),
        rx.table.cell(r.read),
        rx.table.cell(r.created),
        rx.table.cell(r.updated),
        rx.table.cell(r.invalid),
        rx.table.cell(_pace(r, "")),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    "Relatório",
                    size="1",
                    variant="soft",
                    on_click=ImportsState.select(r.id),
                    id="open-report-" + r.id.to(str),
                ),
                rx.button(
                    "Erros (CSV)",
                    size="1",
                    variant="soft",
                    on_click=ImportsState.download_errors(r.id),
                    id="errors-csv-" + r.id.to(str),
                ),
                rx.button(
                    "Duplicadas e conflitos (CSV)",
                    size="1",
                    variant="soft",
                    on_click=ImportsState.download_duplicates(r.id),
                    id="duplicates-csv-" + r.id.to(str),
                ),
                rx.cond(
                    active,
                    rx.button(
                        "Cancelar",
                        size="1",
                        color_scheme="red",
                        variant="soft",
                        on_click=ImportsState.cancel(r.id),
                    ),
                ),
                wrap="wrap",
                spacing="1",
            )
        ),
    )


def _current_progress() -> rx.Component:
    """The selected import's bar with its state, rows read, rows/s and time left, refreshed by `poll`."""
    c = ImportsState.current
    return rx.vstack(
        rx.hstack(
            rx.badge(c.state, color_scheme=c.color, size="2", id="current-state"),
            rx.text(c.read, " linhas lidas", size="2", id="current-read"),
            rx.cond(c.rate != "", rx.text("· ", c.rate, size="2", id="current-rate")),
            rx.cond(c.eta != "", rx.text("· ", c.eta, size="2", color_scheme="gray", id="current-eta")),
            align="center",
            wrap="wrap",
            spacing="2",
        ),
        progress_bar(
            c.percent,
            label="Progresso da importação " + ImportsState.selected_id,
            color_scheme=c.color,
            id="current-progress",
            size="3",
        ),
        width="100%",
        spacing="2",
        id="current-import",
    )


def report_panel() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Relatório da importação #", ImportsState.selected_id, size="4", as_="h2"),
            _current_progress(),
            rx.flex(
                rx.foreach(
                    ImportsState.report,
                    lambda m: rx.box(
                        rx.text(m["label"], size="1", color_scheme="gray"),
                        rx.text(m["value"], size="5", weight="bold", id="report-" + m["key"]),
                        padding="0.5em 1em",
                    ),
                ),
                wrap="wrap",
            ),
            _error(ImportsState.report_error, "report-error"),
            rx.table.root(
                rx.table.body(
                    rx.foreach(
                        ImportsState.issues,
                        lambda i: rx.table.row(
                            rx.table.cell(severity_badge(i["kind"])),
                            rx.table.cell(i["message"]),
                            rx.table.cell(i["count"]),
                        ),
                    )
                ),
                size="1",
                id="import-issues",
            ),
            rx.heading("Exemplos", size="3", as_="h3"),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Linha"),
                        rx.table.column_header_cell("Valor"),
                        rx.table.column_header_cell("Motivo"),
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        ImportsState.samples,
                        lambda s: rx.table.row(
                            rx.table.cell(s["line"]), rx.table.cell(s["value"]), rx.table.cell(s["message"])
                        ),
                    )
                ),
                size="1",
                id="import-samples",
            ),
            width="100%",
        ),
        width="100%",
        id="import-report",
    )


@page(
    "/importacoes",
    "Importações",
    permission=Perm.IMPORTS_RUN,
    nav=("Importações", "file-up", 40),
    on_load=ImportsState.load,
)
def imports_page() -> rx.Component:
    return rx.vstack(
        upload_step(),
        rx.cond(array_var(ImportsState.headers).length() > 0, mapping_step()),
        rx.heading("Importações recentes", size="4", as_="h2"),
        # The table scrolls in its own box: the page never scrolls sideways (narrow screens, long ETAs).
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in (
                                "#",
                                "Origem",
                                "Arquivo",
                                "Situação",
                                "Progresso",
                                "Lidas",
                                "Criados",
                                "Atualizados",
                                "Inválidas",
                                "Ritmo / tempo restante",
                                "",
                            )
                        ]
                    )
                ),
                rx.table.body(rx.foreach(ImportsState.imports, import_row)),
                width="100%",
                id="imports-table",
            ),
            overflow_x="auto",
            width="100%",
        ),
        rx.cond(
            array_var(ImportsState.imports).length() == 0,
            rx.text("Nenhuma importação ainda.", size="2", color_scheme="gray", id="imports-empty"),
        ),
        rx.cond(ImportsState.selected_id != "", report_panel()),
        spacing="4",
        width="100%",
    )
