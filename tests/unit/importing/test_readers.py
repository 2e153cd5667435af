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
    info = readers.inspect_file(path, name, **kw)  # type: ignore[arg-type]
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


def test_a_run_of_one_high_byte_is_binary_not_a_one_column_csv(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from app.errors import Invalid
    from app.importing.readers import inspect_csv

    path = tmp_path / "exportacao.csv"
    path.write_bytes(b"\xa5" * 4096)
    with pytest.raises(Invalid) as err:
        inspect_csv(path)
    assert "binário" in err.value.message
