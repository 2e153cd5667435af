"""Importações in Chromium: a tenant admin uploads a messy spreadsheet export (semicolons, cp1252,
masked phones, a duplicate, a row without contacts), checks the preview and the suggested mapping,
runs it (in-process tasks: no REDIS_URL) and reads the report; the imported customer is then found
on /clientes by the phone typed with its mask. A binary file named .csv is refused in pt-BR."""

import random
import re
from pathlib import Path

from playwright.sync_api import Page, Route, expect

from tests.e2e.conftest import login
from tests.e2e.test_a11y import _blocking_violations

HEADERS = ["Nome/Razão Social", "CNPJ/CPF", "Telefone 1", "Celular", "E-mail", "Situação"]
FIRST = "Maria Aparecida Souza"
PHONE_TYPED = "(11) 98765-4321"
SOURCE = "Planilha Vendas Externas"


def _cpf(seed: int) -> str:
    """A valid CPF (check digits computed), masked the way exports show it."""
    base = [int(d) for d in f"{100000000 + seed * 7919:09d}"[-9:]]
    for n in (9, 10):
        total = sum(d * w for d, w in zip(base, range(n + 1, 1, -1), strict=True))
        base.append(0 if total % 11 < 2 else 11 - total % 11)
    s = "".join(map(str, base))
    return f"{s[:3]}.{s[3:6]}.{s[6:9]}-{s[9:]}"


def _messy_csv(path: Path) -> None:
    """30 data rows: 28 new customers, one duplicate phone (row 29) and one row without contacts."""
    rows = [
        [FIRST, _cpf(1), PHONE_TYPED, "", "maria.souza@example.com.br", "Ativo"],
        ["Padaria Pão Quente Ltda", "", "0xx11 3333-4444", "", "contato@paoquente.com.br", "Ativo"],
    ]
    for i in range(3, 29):
        rows.append(
            [
                f"Cliente Número {i:02d} Ação",
                _cpf(i) if i % 3 == 0 else "",
                f"(21) 9{8100 + i:04d}-{1000 + i:04d}" if i % 2 else "",
                f"21 9 {8200 + i:04d} {2000 + i:04d}" if i % 2 == 0 else "",
                f"cliente{i}@example.com" if i % 4 == 0 else "",
                "Inadimplente" if i % 5 == 0 else "Ativo",
            ]
        )
    # Same phone as row 3, typed differently: folded into it (keep-first).
    rows.append(["José Duplicado", "", "+55 (21) 98103-1003", "", "", "Ativo"])
    rows.append(["Sem Contato Nenhum", "", "", "", "", "Cancelado"])
    assert len(rows) == 30
    text = "\r\n".join(";".join(r) for r in [HEADERS, *rows]) + "\r\n"
    path.write_bytes(text.encode("cp1252"))


def test_import_messy_csv_report_and_search(page: Page, make_tenant, tmp_path: Path) -> None:
    t = make_tenant()
    csv_path = tmp_path / "clientes_vendas.csv"
    _messy_csv(csv_path)
    garbage = tmp_path / "exportacao.csv"
    rng = random.Random(7)
    garbage.write_bytes(bytes(rng.randrange(256) for _ in range(4096)))

    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/importacoes")
    expect(page.locator("#send-file")).to_be_visible()
    expect(page.locator("#imports-empty")).to_have_text("Nenhuma importação ainda.")

    # Nothing chosen yet: a pt-BR message, not a crash.
    page.click("#send-file")
    expect(page.locator("#upload-error")).to_contain_text("Escolha um arquivo CSV ou XLSX.")

    # Binary garbage with a .csv name: refused in pt-BR; the page stays usable.
    page.set_input_files("#imports-file", str(garbage))
    page.click("#send-file")
    expect(page.locator("#upload-error")).to_contain_text("binário ou corrompido")
    expect(page.locator("#mapping-step")).to_have_count(0)

    # The real file: preview (accents decoded from cp1252) and the suggested mapping.
    # The real file, over a connection that drops once: the first slice reaches the server but its answer
    # is lost. The page asks the server where the upload stopped and goes on from there (no byte twice).
    dropped: list[str] = []

    def drop_first_answer(route: Route) -> None:
        if route.request.method == "PATCH" and not dropped:
            route.fetch()  # the server stores the slice...
            dropped.append(route.request.headers.get("upload-offset", ""))
            route.abort("connectionreset")  # ...and the browser never hears back
        else:
            route.continue_()

    page.route("**/api/imports/uploads/*", drop_first_answer)
    page.set_input_files("#imports-file", str(csv_path))
    page.click("#send-file")
    step = page.locator("#mapping-step")
    expect(step).to_be_visible(timeout=20_000)
    page.unroute("**/api/imports/uploads/*")
    assert dropped == ["0"]
    expect(page.locator("#upload-error")).to_have_count(0)
    expect(page.locator("#preview-filename")).to_contain_text("clientes_vendas.csv")
    preview = page.locator("#preview-table")
    expect(preview.locator("thead")).to_contain_text("Nome/Razão Social")
    expect(preview.locator("tbody tr")).to_have_count(10)
    expect(preview.locator("tbody tr").first).to_contain_text(FIRST)
    expect(preview).to_contain_text("Padaria Pão Quente Ltda")
    expected = ["Nome / Razão social", "CPF/CNPJ", "Telefone", "Telefone", "E-mail", "Situação"]
    for i, label in enumerate(expected):
        expect(page.locator(f"#map-{i}")).to_have_text(label)

    expect(page.locator("#import-source")).to_have_value("clientes_vendas")
    # The mapping can be changed per column: this file's "Situação" is not the CRM's status.
    page.click("#map-5")
    page.get_by_role("option", name="Ignorar", exact=True).click()
    expect(page.locator("#map-5")).to_have_text("Ignorar")
    page.fill("#import-preset", "Vendas externas")
    page.get_by_role("button", name="Salvar modelo").click()
    expect(page.get_by_text("Modelo de mapeamento salvo.")).to_be_visible()
    page.screenshot(path=str(tmp_path / "import-mapping.png"), full_page=True)

    # A mistyped default DDD is refused before anything is queued; the mapping step stays.
    page.fill("#import-source", SOURCE)
    page.fill("#import-ddd", "00")
    page.click("#start-import")
    expect(page.locator("#import-error")).to_contain_text("DDD padrão inválido")
    expect(page.locator("#imports-empty")).to_be_visible()
    page.fill("#import-ddd", "11")
    page.click("#start-import")
    expect(step).to_have_count(0)

    # Progress: the new import is listed and reaches "Concluída"; the report follows it live.
    row = page.locator("#imports-table tbody tr").first
    expect(row).to_contain_text(SOURCE)
    expect(row).to_contain_text("Concluída", timeout=45_000)
    expect(row).to_contain_text("100%")
    report = page.locator("#import-report")
    expect(report).to_be_visible()
    numbers = {
        "read": "30",
        "valid": "29",
        "invalid": "1",
        "duplicates": "1",
        "created": "28",
        "updated": "0",
    }
    for key, value in numbers.items():
        expect(page.locator(f"#report-{key}")).to_have_text(value)
    expect(page.locator("#import-issues")).to_contain_text("Linha sem telefone nem e-mail.")
    # Line numbers as the spreadsheet shows them: header is line 1, the last row is line 31.
    sample = page.locator("#import-samples tbody tr", has_text="Linha sem telefone nem e-mail.")
    expect(sample).to_have_count(1)
    expect(sample.locator("td").first).to_have_text("31")
    page.screenshot(path=str(tmp_path / "import-report.png"), full_page=True)

    # The rejected rows as CSV: pt-BR reason, spreadsheet line and the original cells.
    import_id = row.locator("td").first.inner_text().strip()
    with page.expect_download() as download:
        page.click(f"#errors-csv-{import_id}")
    assert download.value.suggested_filename == f"importacao-{import_id}-erros.csv"
    body = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert body[0].startswith("linha;motivo;campo;valor;Nome/Razão Social;CNPJ/CPF;")
    assert len(body) == 2
    assert body[1].startswith("31;Linha sem telefone nem e-mail.;")
    assert "Sem Contato Nenhum" in body[1]

    # The duplicate as CSV: what happened, the line it was folded into, why, the original cells.
    with page.expect_download() as download:
        page.click(f"#duplicates-csv-{import_id}")
    assert download.value.suggested_filename == f"importacao-{import_id}-duplicadas.csv"
    body = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert body[0].startswith("linha;situação;linha de referência;cliente;por;Nome/Razão Social;")
    assert len(body) == 2 and ";Linha duplicada: juntada a uma linha anterior do arquivo" in body[1]

    # The imported customer is found by the phone typed with its mask.
    page.goto("/clientes")
    box = page.locator("#customer-search")
    expect(box).to_be_visible()
    box.fill(PHONE_TYPED)
    rows = page.locator("#data-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(FIRST)
    expect(page.locator("#list-total")).to_contain_text(re.compile(r"^1 cliente\b"))


def test_large_upload_resumes_where_the_server_stopped(page: Page, make_tenant, tmp_path: Path) -> None:
    """A file of two 8 MB slices over a connection that drops after the first slice reached the server:
    the page asks the server for its offset and sends only the rest; the stored file is byte-identical."""
    from app.importing import jobs
    from tests.e2e.conftest import login as _login

    t = make_tenant()
    big = tmp_path / "base_grande.csv"
    line = "Cliente {i};119{i:08d};cliente{i}@example.com\n"
    with big.open("w") as fh:
        fh.write("Nome;Telefone;E-mail\n")
        i = 0
        while fh.tell() < 9 * 1024 * 1024:
            i += 1
            fh.write(line.format(i=i))
    _login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/importacoes")
    sent: list[tuple[str, int]] = []

    def lose_first_answer(route: Route) -> None:
        if route.request.method != "PATCH":
            route.continue_()
            return
        sent.append((route.request.headers["upload-offset"], len(route.request.post_data_buffer or b"")))
        if len(sent) == 1:
            route.fetch()  # the slice is stored...
            route.abort("connectionreset")  # ...the answer never arrives
        else:
            route.continue_()

    page.route("**/api/imports/uploads/*", lose_first_answer)
    page.set_input_files("#imports-file", str(big))
    page.click("#send-file")
    expect(page.locator("#mapping-step")).to_be_visible(timeout=60_000)
    expect(page.locator("#preview-filename")).to_contain_text("base_grande.csv")
    slice_bytes = 8 * 1024 * 1024
    size = big.stat().st_size
    # Slice 1 once (its answer was lost, the server's offset said it had arrived), then only slice 2.
    assert sent == [("0", slice_bytes), (str(slice_bytes), size - slice_bytes)]
    uploads = [
        p for p in (jobs._storage(None).uploads.root).rglob("*") if p.is_file() and p.stat().st_size == size
    ]
    assert any(p.read_bytes() == big.read_bytes() for p in uploads)


def test_progress_bar_rate_and_time_left_update_live(page: Page, make_tenant, tmp_path: Path) -> None:
    """A ~10 MB file (five 2 MB batches, each one progress update on the job row): the selected import's
    bar (role=progressbar) is watched by the browser itself while it runs; its aria-valuenow grows, the
    rows/s and time-left labels appear, and the end state is 100 % in green with "Concluída"."""
    t = make_tenant()
    big = tmp_path / "base_media.csv"
    with big.open("w") as fh:
        fh.write("Nome;Telefone;E-mail\n")
        i = 0
        while fh.tell() < 10 * 1024 * 1024:
            i += 1
            fh.write(f"Cliente {i};119{i:08d};cliente{i}@example.com\n")
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/importacoes")
    page.set_input_files("#imports-file", str(big))
    page.click("#send-file")
    expect(page.locator("#mapping-step")).to_be_visible(timeout=60_000)
    # The page samples itself every 100 ms: what a person would have seen, without racing the test.
    page.evaluate(
        """() => { window.__seen = []; window.__watch = setInterval(() => {
            const bar = document.querySelector('#current-progress');
            if (!bar) return;
            window.__seen.push({
                now: bar.getAttribute('aria-valuenow'),
                role: bar.getAttribute('role'),
                name: bar.getAttribute('aria-label'),
                rate: document.querySelector('#current-rate')?.textContent || '',
                eta: document.querySelector('#current-eta')?.textContent || '',
            });
        }, 100); }"""
    )
    page.click("#start-import")
    expect(page.locator("#current-eta")).to_be_visible(timeout=60_000)
    page.screenshot(path=str(tmp_path / "import-running.png"), full_page=True)
    state = page.locator("#current-state")
    expect(state).to_have_text("Concluída", timeout=120_000)
    seen = page.evaluate("() => { clearInterval(window.__watch); return window.__seen; }")

    bar = page.locator("#current-progress")
    expect(bar).to_have_attribute("role", "progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(bar).to_have_attribute("aria-label", re.compile(r"^Progresso da importação \d+$"))
    expect(page.locator("#current-import")).to_contain_text("100%")
    expect(page.locator("#current-rate")).to_contain_text(re.compile(r"[\d.]+ linhas/s"))
    expect(page.locator("#current-eta")).to_have_count(0)  # nothing left once done
    row = page.locator("#imports-table tbody tr").first
    expect(row).to_contain_text("Concluída")
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    assert not _blocking_violations(page)
    assert page.locator("h1").count() == 1

    values = [int(s["now"]) for s in seen if s["now"] is not None]
    assert all(s["role"] == "progressbar" for s in seen)
    assert values == sorted(values), values  # it only grows
    middle = [v for v in values if 0 < v < 100]
    assert middle, f"no value between 0 and 100 was seen: {sorted(set(values))}"
    assert any(re.fullmatch(r"· [\d.]+ linhas?/s", s["rate"]) for s in seen), seen[-5:]
    assert any(s["eta"].endswith(("restante", "restantes")) for s in seen), seen[-5:]


def test_send_pressed_before_the_upload_script_arrived(page: Page, make_tenant, tmp_path: Path) -> None:
    """The page's own <script> for the resumable upload comes after hydration; on a busy machine the
    user can press "Enviar" first (a CI run once sat on "Enviando…" for a minute). Here that copy never
    arrives at all: the press loads the script itself and the file is sent and previewed."""
    t = make_tenant()
    csv_path = tmp_path / "clientes_vendas.csv"
    _messy_csv(csv_path)
    requests: list[str] = []

    def lose_the_pages_copy(route: Route) -> None:
        requests.append(route.request.url)
        if len(requests) == 1:
            route.abort()
        else:
            route.continue_()

    page.route("**/js/resumable_upload.js*", lose_the_pages_copy)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/importacoes")
    expect(page.locator("#send-file")).to_be_enabled()
    assert page.evaluate("() => typeof window.crmUploads") == "undefined"
    page.set_input_files("#imports-file", str(csv_path))
    page.click("#send-file")
    expect(page.locator("#mapping-step")).to_be_visible(timeout=30_000)
    expect(page.locator("#upload-error")).to_have_count(0)
    assert len(requests) == 2, requests
