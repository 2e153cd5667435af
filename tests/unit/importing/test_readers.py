"""Readers: encodings, delimiters, BOM, CRLF, quoted newlines, header detection, bad input, fuzz."""

import io
import zipfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import Invalid
from app.importing import readers


def read_all(path: Path, name: str = "f.csv", **kw: object) -> tuple[readers.FileInfo, pl.DataFrame, list]:
    info = readers.inspect_file(path, name, **kw)
    frames, errors = [], []
    for b in readers.iter_batches(path, info):
        frames.append(b.frame)
        errors.extend(b.errors)
    frame = pl.concat(frames) if frames else pl.DataFrame()
    return info, frame, errors


def write(tmp_path: Path, data: bytes, name: str = "f.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimiters(tmp_path: Path, delim: str) -> None:
    text = (
        delim.join(["Nome", "Telefone", "E-mail"])
        + "\n"
        + delim.join(["Ana", "11 98765-4321", "a@x.com"])
        + "\n"
    )
    info, frame, _ = read_all(write(tmp_path, text.encode()))
    assert info.delimiter == delim
    assert info.headers == ["Nome", "Telefone", "E-mail"]
    assert frame.row(0)[:3] == ("Ana", "11 98765-4321", "a@x.com")


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("Nome;Situação\nJoão;Ativo\n".encode(), "utf-8"),
        (b"\xef\xbb\xbf" + "Nome;Situação\nJoão;Ativo\n".encode(), "utf-8"),
        ("Nome;Situação\nJoão;Ativo\n".encode("cp1252"), "cp1252"),
        ("Nome;Situação\r\nJoão;Ativo\r\n".encode("latin-1"), "cp1252"),
    ],
)
def test_encodings_bom_crlf(tmp_path: Path, data: bytes, encoding: str) -> None:
    info, frame, _ = read_all(write(tmp_path, data))
    assert info.encoding == encoding
    assert info.headers == ["Nome", "Situação"]
    assert frame.select("c0", "c1").row(0) == ("João", "Ativo")


def test_mixed_encodings_are_read_line_by_line(tmp_path: Path) -> None:
    data = b"Nome;Fone\n" + ("Ação;1\n" * 2000).encode() + "Conceição;2\n".encode("cp1252")
    _, frame, _ = read_all(write(tmp_path, data))
    assert frame.get_column("c0").to_list()[-1] == "Conceição"


def test_quoted_newlines_and_quotes(tmp_path: Path) -> None:
    data = b'Nome,Obs,Fone\r\n"Silva, Ana","linha 1\r\nlinha 2",11987654321\r\n"Dito ""Ze""",x,1\r\n'
    _, frame, _ = read_all(write(tmp_path, data))
    assert frame.height == 2
    assert frame.row(0)[:3] == ("Silva, Ana", "linha 1\r\nlinha 2", "11987654321")
    assert frame.row(1)[0] == 'Dito "Ze"'


def test_header_below_title_rows_and_override(tmp_path: Path) -> None:
    data = "Relatório de clientes;;\n;;\nNome;Telefone;E-mail\nAna;11987654321;a@x.com\n".encode()
    path = write(tmp_path, data)
    info, frame, _ = read_all(path)
    assert info.header_row == 3 and info.headers == ["Nome", "Telefone", "E-mail"]
    assert frame.get_column("_line").to_list() == [4]
    info2 = readers.inspect_file(path, "f.csv", header_row=1)
    assert info2.headers[0] == "Relatório de clientes"


def test_nul_bytes_blank_lines_and_ragged_rows(tmp_path: Path) -> None:
    data = b"Nome;Fone\nA\x00na;1\n\nBia\nCaio;2;extra;cols\n"
    _, frame, _ = read_all(write(tmp_path, data))
    assert frame.get_column("c0").to_list() == ["Ana", "Bia", "Caio"]
    assert frame.get_column("c1").to_list() == ["1", None, "2"]


def test_bad_files_raise_pt_br(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="vazio"):
        readers.inspect_file(write(tmp_path, b""), "f.csv")
    with pytest.raises(Invalid, match="vazio"):
        readers.inspect_file(write(tmp_path, b"\n\n  \n"), "f.csv")
    with pytest.raises(Invalid, match="binário"):
        readers.inspect_file(write(tmp_path, bytes(range(256)) * 50), "f.csv")
    with pytest.raises(Invalid, match="Formato"):
        readers.inspect_file(write(tmp_path, b"%PDF-1.4 ..."), "f.csv")
    with pytest.raises(Invalid, match="XLSX"):
        readers.inspect_file(write(tmp_path, b"Nome;Fone\nAna;1\n", "f.xlsx"), "f.xlsx")
    with pytest.raises(Invalid, match="XLSX"):
        readers.inspect_file(write(tmp_path, b"PK\x03\x04garbage"), "f.xlsx")


def test_header_only_gives_no_rows(tmp_path: Path) -> None:
    info, frame, errors = read_all(write(tmp_path, b"Nome;Fone\n"))
    assert info.headers == ["Nome", "Fone"] and frame.height == 0 and not errors


def test_unbalanced_quote_costs_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(readers, "MAX_RECORD_BYTES", 64 * 1024)
    good = "".join(f"Nome {i};119876{i:05d}\n" for i in range(5000))
    data = ("Nome;Fone\n" + good[:40000] + 'Quebrado "aspas;1\n' + good[40000:]).encode()
    _, frame, errors = read_all(write(tmp_path, data))
    assert [e.reason for e in errors] == ["linha_malformada"]
    assert frame.height >= 4990


def test_batches_resume_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1000)
    data = ("Nome;Obs\n" + "".join(f'n{i};"a\nb{i}"\n' for i in range(500))).encode()
    path = write(tmp_path, data)
    info = readers.inspect_file(path, "f.csv")
    batches = list(readers.iter_batches(path, info))
    assert len(batches) > 5
    whole = pl.concat([b.frame for b in batches])
    mid = batches[2]
    rest = pl.concat([b.frame for b in readers.iter_batches(path, info, mid.resume, mid.next_line)])
    assert whole.height == 500
    assert rest.to_dicts() == whole.tail(rest.height).to_dicts()


def _xlsx(path: Path, rows: list[list[object]], sheet: str = "Clientes") -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet
    for r in rows:
        ws.append(r)
    wb.create_sheet("Outra").append(["x"])
    wb.save(path)
    return path


def test_xlsx_title_rows_numeric_cells_and_sheets(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "f.xlsx",
        [["Clientes ativos — março"], [], ["Nome", "CPF", "Celular"], ["Ana", 4374417802, 11987654321.0]],
    )
    info, frame, _ = read_all(path, "f.xlsx")
    assert info.format == "xlsx" and info.sheets == ["Clientes", "Outra"] and info.header_row == 3
    assert frame.select("c0", "c1", "c2").row(0) == ("Ana", "4374417802", "11987654321")
    assert frame.get_column("_line").to_list() == [4]
    with pytest.raises(Invalid, match="não existe"):
        readers.inspect_file(path, "f.xlsx", sheet="Nope")


def test_xlsx_zip_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "XLSX_MAX_UNCOMPRESSED", 1024 * 1024)
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"0" * (4 * 1024 * 1024))
    with pytest.raises(Invalid, match="zip bomb"):
        readers.inspect_file(path, "bomb.xlsx")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000))
def test_fuzz_csv_reader_never_crashes(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, data, "fuzz.csv")
    try:
        info = readers.inspect_file(path, "fuzz.csv")
    except Invalid:
        return
    for batch in readers.iter_batches(path, info):
        assert set(batch.frame.columns) >= {"_line"}


_CELL = st.text(alphabet="abcçãéíõúAZ09 ,;|\t\"'-.@\n()+", max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(_CELL, min_size=2, max_size=2), max_size=30),
    delim=st.sampled_from([",", ";", "|"]),
)
def test_fuzz_csv_round_trip(tmp_path: Path, rows: list[list[str]], delim: str) -> None:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    w.writerow(["Nome", "Fone"])
    w.writerows(rows)
    path = write(tmp_path, buf.getvalue().encode(), "rt.csv")
    info = readers.inspect_file(path, "rt.csv", header_row=1)
    frames = [b.frame for b in readers.iter_batches(path, info)]
    got = [tuple(c or "" for c in r) for r in (pl.concat(frames).select("c0", "c1").rows() if frames else [])]
    want = [tuple(r) for r in rows]
    assert [r for r in got if any(r)] == [r for r in want if any(r)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=4, max_size=2000))
def test_fuzz_xlsx_reader_never_crashes(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, b"PK\x03\x04" + data, "fuzz.xlsx")
    with pytest.raises(Invalid):
        info = readers.inspect_file(path, "fuzz.xlsx")
        list(readers.iter_batches(path, info))
        raise Invalid("file", "ok")


def test_a_run_of_one_high_byte_is_binary_not_a_one_column_csv(tmp_path) -> None:
    import pytest

    from app.errors import Invalid
    from app.importing.readers import inspect_csv

    path = tmp_path / "exportacao.csv"
    path.write_bytes(b"\xa5" * 4096)
    with pytest.raises(Invalid) as err:
        inspect_csv(path)
    assert "binário" in err.value.message


def test_xlsx_cell_types_come_out_as_the_csv_path_sees_them(tmp_path: Path) -> None:
    """Shared strings (openpyxl), numbers, floats, booleans, dates, XML-escaped text, blank cells, a
    leading empty column and columns past Z: the streaming reader's text for each cell."""
    from datetime import date, datetime

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Base"
    ws["B2"] = "Relatório"  # a title row
    header = ["Nome", "CPF", "Fone", "Valor", "Ativo", "Desde", "Visto", "Obs"]
    for i, h in enumerate(header):
        ws.cell(row=4, column=2 + i, value=h)
    ws.cell(row=4, column=28, value="Extra")  # column AB
    values = [
        'M&M <Ltda> "SA"',
        4374417802,
        11987654321.0,
        3.5,
        True,
        date(2024, 3, 1),
        datetime(2024, 3, 1, 10, 30),
        "  ",
    ]
    for i, v in enumerate(values):
        ws.cell(row=5, column=2 + i, value=v)
    ws.cell(row=5, column=28, value="ab")
    for r in (7, 8, 9):
        for i, v in enumerate(["Zé\nda Silva", 1, 2, 3, False, "x", "y", "z"]):
            ws.cell(row=r, column=2 + i, value=v)
    path = tmp_path / "tipos.xlsx"
    wb.save(path)
    info, frame, _ = read_all(path, "tipos.xlsx")
    assert info.header_row == 4 and info.headers[:8] == header and info.headers[-1] == "Extra"
    assert len(info.headers) == 27  # B..AB, blanks named "Coluna N"
    first = frame.row(0, named=True)
    assert [first[f"c{i}"] for i in range(8)] == [
        'M&M <Ltda> "SA"',
        "4374417802",
        "11987654321",
        "3.5",
        "true",
        "2024-03-01",
        "2024-03-01T10:30:00",
        None,
    ]
    assert first["c26"] == "ab"
    assert frame.get_column("_line").to_list() == [5, 7, 8, 9]  # the blank row 6 is skipped
    assert frame.row(1, named=True)["c0"] == "Zé\nda Silva"


def test_xlsx_inline_rich_text_escapes_and_missing_row_numbers(tmp_path: Path) -> None:
    """What other writers produce: inline strings, rich-text runs, _xHHHH_ escapes, character
    references, rows and cells without r="", self-closed empty rows and cells, a row's extLst."""
    sheet = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>Nome</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>Fone</t></is></c></row>'
        '<row r="2"/>'
        '<row r="3"><c r="A3" t="inlineStr"><is><r><t>Jo</t></r>'
        '<r><rPr><b/></rPr><t xml:space="preserve">ão </t></r>'
        '<r><t>Silva</t></r></is></c><c r="B3" t="n"><v>1.1987654321E10</v></c><extLst/></row>'
        '<row><c t="inlineStr"><is><t>Ana_x000D_Lima &#233;</t></is></c>'
        '<c t="str"><v>11 3333-4444</v></c></row>'
        # An empty self-closed cell still takes its column: the next one is column C, outside the table.
        '<row><c t="inlineStr"><is><t>Bia</t></is></c><c t="inlineStr"/><c t="str"><v>C5</v></c></row>'
        "</sheetData></worksheet>"
    )
    path = tmp_path / "outro.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "xl/workbook.xml",
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="Dados" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        zf.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="worksheets/dados.xml" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/></Relationships>',
        )
        zf.writestr("xl/worksheets/dados.xml", sheet)
    info, frame, _ = read_all(path, "outro.xlsx")
    assert info.sheets == ["Dados"] and info.headers == ["Nome", "Fone"] and info.header_row == 1
    assert frame.select("c0", "c1", "_line").rows() == [
        ("João Silva", "11987654321", 3),
        ("Ana\rLima é", "11 3333-4444", 4),
        ("Bia", None, 5),
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.lists(st.text(alphabet="abcçãé &<>\"'AZ09;,.@-_x", max_size=10), min_size=3, max_size=3),
        max_size=25,
    )
)
def test_fuzz_xlsx_round_trip(tmp_path: Path, rows: list[list[str]]) -> None:
    path = _xlsx(tmp_path / "rt.xlsx", [["Nome", "Fone", "Obs"], *rows])
    info = readers.inspect_file(path, "rt.xlsx", header_row=1)
    frames = [b.frame for b in readers.iter_batches(path, info)]
    got = [
        tuple(c or "" for c in r)
        for r in (pl.concat(frames).select("c0", "c1", "c2").rows() if frames else [])
    ]
    want = [tuple(c if c.strip() else "" for c in r) for r in rows]
    assert got == [r for r in want if any(r)]


def test_xlsx_batches_resume_after_the_last_committed_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.importing import xlsx

    monkeypatch.setattr(xlsx, "BLOCK_BYTES", 2000)
    path = _xlsx(tmp_path / "r.xlsx", [["Nome", "Fone"], *[[f"n{i}", f"1198765{i:04d}"] for i in range(300)]])
    info = readers.inspect_file(path, "r.xlsx")
    batches = list(readers.iter_batches(path, info))
    assert len(batches) > 5
    whole = pl.concat([b.frame for b in batches])
    rest = pl.concat([b.frame for b in readers.iter_batches(path, info, batches[2].resume)])
    assert whole.height == 300
    assert rest.to_dicts() == whole.tail(rest.height).to_dicts()
    assert rest.get_column("_line").min() == batches[2].resume + 1


def test_quoted_semicolon_file_with_commas_in_cells_keeps_its_delimiter(tmp_path: Path) -> None:
    """Found by the round-trip fuzz: split on ",", this file also gives a steady two columns, but its
    header line does not; the delimiter whose every row agrees wins."""
    path = write(tmp_path, b'"Nome";"Fone"\r\n"";",\n"\r\n",\n";","\r\n', "q.csv")
    info, frame, _ = read_all(path, "q.csv")
    assert (info.delimiter, info.headers) == (";", ["Nome", "Fone"])
    assert frame.select("c0", "c1").rows() == [("", ",\n"), (",\n", ",")]
