"""File readers: CSV (any delimiter/encoding) and XLSX, streamed in batches of string columns.

Every reader yields `Batch`es whose frame has one String column per source column (c0, c1, ...)
plus `_line` (the spreadsheet line number users see, header = its own line). A batch ends on a
record boundary so `Batch.resume` is an exact restart point for a crashed worker.
"""

import codecs
import csv
import io
import math
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import polars as pl

from app.errors import Invalid
from app.importing import xlsx

# One batch per block; ~5 batches are in flight (look-ahead, grouping, two writers): 2 MB keeps a
# 2M-row import under the 512 MB budget at the same speed as larger blocks (docs/benchmarks.md).
BLOCK_BYTES = 2 * 1024 * 1024
MAX_RECORD_BYTES = 64 * 1024 * 1024  # an open quote this long is a broken line, not a real field
MAX_LINE_BYTES = 1024 * 1024  # rows longer than this are rejected as errors, line by line
XLSX_BATCH_ROWS = 40_000
XLSX_MAX_UNCOMPRESSED = 4 * 1024**3
XLSX_MAX_RATIO = 200  # zip bombs compress at ~1000:1; real sheets at 5-30:1
SNIFF_BYTES = 256 * 1024
DELIMITERS = (",", ";", "\t", "|")
_HEADER_SCAN_ROWS = 30


def _mixed_decode(err: UnicodeError) -> tuple[str, int]:
    # Files exported by old systems mix UTF-8 with cp1252 lines: read the bad bytes as cp1252.
    assert isinstance(err, UnicodeDecodeError)
    bad = err.object[err.start : err.end]
    return bytes(bad).decode("cp1252", errors="replace"), err.end


codecs.register_error("crm_mixed", _mixed_decode)


@dataclass
class LineError:
    line: int
    reason: str
    raw: str


@dataclass
class Batch:
    frame: pl.DataFrame
    resume: (
        int  # CSV: byte offset of the next record; XLSX: sheet row of the last row read; XLS: data rows read
    )
    next_line: int
    bytes_read: int
    errors: list[LineError] = field(default_factory=list)


@dataclass
class FileInfo:
    format: str  # csv | xlsx
    headers: list[str]
    header_row: int  # 1-based line / spreadsheet row of the header
    preview: list[list[str | None]]
    encoding: str | None = None
    delimiter: str | None = None
    sheets: list[str] = field(default_factory=list)
    sheet: str | None = None
    data_offset: int = 0  # CSV: byte offset of the first data record
    size: int = 0
    first_col: int = 0  # XLSX: 0-based sheet column of c0 (leading empty columns are skipped)

    def to_options(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "sheet": self.sheet,
            "header_row": self.header_row,
            "headers": self.headers,
            "data_offset": self.data_offset,
            "first_col": self.first_col,
        }


def _cell(value: Any) -> str | None:
    """A spreadsheet cell as text: whole floats as integers (calamine returns 11987654321.0)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    text = str(value).replace("\x00", "")
    return text if text.strip() else None


def _dedupe_headers(raw: list[str | None]) -> list[str]:
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, h in enumerate(raw):
        name = (h or "").strip() or f"Coluna {i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        out.append(name)
    return out


def _guess_header(rows: list[list[str | None]]) -> int:
    """Index of the header among the first rows: the first row that is mostly filled with text."""
    widths = [sum(1 for c in r if c not in (None, "")) for r in rows]
    filled = [w for w in widths if w]
    if not filled:
        return 0
    # The typical (most common) row width, not the widest: one ragged row must not win.
    typical = max(set(filled), key=lambda w: (filled.count(w), w))
    need = max(2, math.ceil(typical * 0.6)) if typical > 1 else 1
    for i, r in enumerate(rows):
        texty = sum(1 for c in r if c not in (None, "") and not _numeric(c))
        if widths[i] >= need and texty >= max(1, widths[i] // 2):
            return i
    return 0


def _numeric(value: str | None) -> bool:
    try:
        float(str(value).replace(",", "."))
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------------------------------- detection


def detect_format(path: Path, filename: str) -> str:
    """csv or xlsx by content (the extension is only a hint); raises Invalid for anything else."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if not head:
        raise Invalid("file", "O arquivo está vazio.")
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Invalid("file", "Arquivo em UTF-16 não é aceito: salve como CSV UTF-8 ou XLSX.")
    if head.startswith((b"%PDF", b"\x89PNG", b"\x1f\x8b", b"GIF8", b"\xff\xd8\xff", b"Rar!", b"7z")):
        raise Invalid("file", "Formato não suportado: envie um arquivo CSV ou XLSX.")
    if filename.lower().endswith((".xlsx", ".xlsm", ".xls")):
        raise Invalid("file", "O arquivo não é uma planilha XLSX válida.")
    return "csv"


def detect_encoding(sample: bytes) -> str:
    """utf-8-sig, utf-8 or cp1252 (latin-1 files are read as cp1252, its superset for text)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sample's end is still UTF-8.
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
        # A few bad bytes in a mostly-UTF-8 file: mixed encodings, decoded line by line.
        text = sample.decode("utf-8", errors="replace")
        if text.count("\ufffd") * 50 < sum(1 for c in text if ord(c) > 127):
            return "utf-8"
        return "cp1252"


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    sample = text[:65536]
    control = sum(1 for c in sample if ord(c) < 32 and c not in "\t\r\n")
    if control > max(8, len(sample) // 50):
        return True
    # Bytes with no control characters can still be garbage (e.g. a run of one high byte decodes as
    # "¥¥¥…" in cp1252); a real export, even a Portuguese one, is mostly ASCII text. Punctuation counts
    # as text: a sheet of empty cells is mostly delimiters and quotes.
    text_like = sum(1 for c in sample if c.isascii() and (c.isprintable() or c in "\t\r\n"))
    return len(sample) >= 64 and text_like * 10 < len(sample)


def detect_delimiter(lines: list[str]) -> str:
    best, best_score = ",", (-1, -1)
    for d in DELIMITERS:
        rows = [r for r in csv.reader(lines, delimiter=d) if r]
        if not rows:
            continue
        counts = [len(r) for r in rows]
        common = max(set(counts), key=counts.count)
        # Rows that disagree count against the candidate: a quoted ";" file whose cells hold commas also
        # splits on "," into a steady 2 columns, but its header line then does not.
        consistent = counts.count(common)
        score = (2 * consistent - len(counts) if common > 1 else 0, common)
        if score > best_score:
            best, best_score = d, score
    return best


def _decode_block(block: bytes, encoding: str) -> str:
    if encoding == "cp1252":
        return block.decode("cp1252", errors="replace")
    return block.decode("utf-8", errors="crm_mixed")


# ----------------------------------------------------------------------------------------- CSV


def _sample_lines(path: Path, encoding: str, offset: int) -> tuple[list[str], bytes]:
    with path.open("rb") as fh:
        fh.seek(offset)
        raw = fh.read(SNIFF_BYTES)
    cut = raw.rfind(b"\n") if len(raw) == SNIFF_BYTES else len(raw)
    raw = raw[: cut if cut > 0 else len(raw)]
    text = _decode_block(raw, encoding).replace("\x00", "")
    return text.splitlines(keepends=True), raw


def inspect_csv(path: Path, header_row: int | None = None) -> FileInfo:
    with path.open("rb") as fh:
        sample = fh.read(SNIFF_BYTES)
    encoding = detect_encoding(sample)
    bom = 3 if encoding == "utf-8-sig" else 0
    encoding = "utf-8" if encoding == "utf-8-sig" else encoding
    lines, _ = _sample_lines(path, encoding, bom)
    if _looks_binary("".join(lines)):
        raise Invalid("file", "O arquivo parece binário ou corrompido: envie um CSV ou XLSX.")
    if not any(line.strip() for line in lines):
        raise Invalid("file", "O arquivo está vazio.")
    delimiter = detect_delimiter(lines[:200])
    rows = list(csv.reader(lines[:_HEADER_SCAN_ROWS], delimiter=delimiter))
    rows_clean: list[list[str | None]] = [[c.strip() or None for c in r] for r in rows]
    if header_row is not None:
        if header_row < 1 or header_row > len(rows_clean):
            raise Invalid("header_row", "Linha de cabeçalho fora do arquivo.")
        header_idx = header_row - 1
    else:
        header_idx = _guess_header(rows_clean)
    # Byte offset of the first data record: re-read the header record(s) from the raw bytes.
    offset = bom
    with path.open("rb") as fh:
        fh.seek(bom)
        reader_bytes = fh.read(SNIFF_BYTES)
    pos = 0
    for _ in range(header_idx + 1):
        pos = _next_record_end(reader_bytes, pos)
        if pos < 0:
            pos = len(reader_bytes)
            break
    offset = bom + pos
    headers = _dedupe_headers(list(rows_clean[header_idx]) if rows_clean else [])
    preview = [r + [None] * (len(headers) - len(r)) for r in rows_clean[header_idx + 1 : header_idx + 11]]
    return FileInfo(
        format="csv",
        headers=headers,
        header_row=header_idx + 1,
        preview=[r[: len(headers)] for r in preview],
        encoding=encoding,
        delimiter=delimiter,
        data_offset=offset,
        size=path.stat().st_size,
    )


def _next_record_end(buf: bytes, start: int) -> int:
    """Offset just past the newline that ends the record starting at `start` (quotes balanced), or -1."""
    quotes = 0
    pos = start
    while True:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            return -1
        quotes += buf.count(b'"', pos, nl)
        if quotes % 2 == 0:
            return nl + 1
        pos = nl + 1


def _last_record_end(buf: bytes) -> int:
    """Offset just past the last newline of `buf` that is outside quotes (buf starts on a record)."""
    total = buf.count(b'"')
    pos = len(buf)
    while True:
        nl = buf.rfind(b"\n", 0, pos)
        if nl < 0:
            return -1
        # quotes after this newline are counted from the end: cheap when cuts are near the end.
        after = buf.count(b'"', nl, len(buf))
        if (total - after) % 2 == 0:
            return nl + 1
        pos = nl


def _parse_block(text: str, columns: list[str], delimiter: str) -> pl.DataFrame:
    schema = dict.fromkeys(columns, pl.String)
    return pl.read_csv(
        io.BytesIO(text.encode("utf-8")),
        has_header=False,
        new_columns=columns,
        schema=schema,
        separator=delimiter,
        quote_char='"',
        truncate_ragged_lines=True,
        raise_if_empty=False,
    )


def _parse_block_slow(
    text: str, columns: list[str], delimiter: str, first_line: int
) -> tuple[list[list[str | None]], list[int], list[LineError]]:
    """Python's csv module, record by record: used only when polars rejects a block."""
    rows: list[list[str | None]] = []
    lines: list[int] = []
    errors: list[LineError] = []
    line = first_line
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(LineError(line, "linha_malformada", str(exc)[:200]))
            line += 1
            continue
        if rec:
            cells: list[str | None] = [c if c != "" else None for c in rec[: len(columns)]]
            rows.append(cells + [None] * (len(columns) - len(cells)))
            lines.append(line)
        line += 1
    return rows, lines, errors


def iter_csv(
    path: Path, info: FileInfo, resume: int | None = None, next_line: int | None = None
) -> Iterator[Batch]:
    """Stream the CSV from `resume` (a record boundary) in BLOCK_BYTES blocks."""
    columns = [f"c{i}" for i in range(len(info.headers))]
    delimiter = info.delimiter or ","
    encoding = info.encoding or "utf-8"
    offset = info.data_offset if resume is None else resume
    line = info.header_row + 1 if next_line is None else next_line
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(offset)
        carry = b""
        eof = False
        while not eof or carry:
            errors: list[LineError] = []
            chunk = b"" if eof else fh.read(BLOCK_BYTES)
            eof = eof or not chunk
            buf = carry + chunk
            if not buf:
                break
            if eof:
                cut = len(buf)
            else:
                cut = _last_record_end(buf)
                if cut <= 0:
                    if len(buf) < MAX_RECORD_BYTES:
                        carry = buf
                        continue
                    # An unbalanced quote swallowed the rest: drop the first physical line, go on.
                    nl = buf.find(b"\n")
                    cut = nl + 1 if nl >= 0 else len(buf)
                    errors.append(LineError(line, "linha_malformada", _decode_block(buf[:200], encoding)))
                    offset += cut
                    line += 1
                    carry = buf[cut:]
                    empty = pl.DataFrame(schema={**dict.fromkeys(columns, pl.String), "_line": pl.Int64})
                    yield Batch(empty, offset, line, offset, errors)
                    continue
            block, carry = buf[:cut], buf[cut:]
            text = _decode_block(block, encoding)
            if "\x00" in text:
                text = text.replace("\x00", "")
            try:
                frame = _parse_block(text, columns, delimiter)
                if frame.height and frame.width != len(columns):
                    raise pl.exceptions.ComputeError("column count")
                frame = frame.with_columns(_line=pl.int_range(line, line + frame.height, dtype=pl.Int64))
                consumed = frame.height
            except (pl.exceptions.PolarsError, UnicodeError, ValueError):
                rows, lines, errors2 = _parse_block_slow(text, columns, delimiter, line)
                errors.extend(errors2)
                frame = pl.DataFrame(
                    rows, schema=dict.fromkeys(columns, pl.String), orient="row"
                ).with_columns(_line=pl.Series(lines, dtype=pl.Int64))
                consumed = (lines[-1] - line + 1) if lines else 0
                consumed = max(consumed, len(errors2))
            # Blank lines come back as all-null rows: not records.
            if frame.height:
                frame = frame.filter(~pl.all_horizontal(pl.col(columns).is_null()))
            offset += cut
            line += consumed
            yield Batch(frame, offset, line, min(offset, size), errors)
            if eof and not carry:
                break


# ----------------------------------------------------------------------------------------- XLSX


def check_zip(path: Path) -> None:
    """Rejects zip bombs before any XML is inflated."""
    try:
        with zipfile.ZipFile(path) as zf:
            total = 0
            for entry in zf.infolist():
                total += entry.file_size
                ratio = entry.file_size / max(entry.compress_size, 1)
                if total > XLSX_MAX_UNCOMPRESSED or (
                    entry.file_size > 50 * 1024**2 and ratio > XLSX_MAX_RATIO
                ):
                    raise Invalid("file", "Planilha recusada: conteúdo compactado suspeito (zip bomb).")
            if "xl/workbook.xml" not in zf.namelist():
                raise Invalid("file", "O arquivo não é uma planilha XLSX válida.")
    except zipfile.BadZipFile as exc:
        raise Invalid("file", "O arquivo não é uma planilha XLSX válida.") from exc


def _open_workbook(path: Path, fmt: str) -> Any:
    from python_calamine import CalamineWorkbook

    if fmt == "xlsx":
        check_zip(path)
    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for every broken file
        raise Invalid("file", "Não foi possível ler a planilha: arquivo corrompido ou protegido.") from exc


def _open_xlsx(path: Path) -> xlsx.XlsxReader:
    check_zip(path)
    try:
        return xlsx.XlsxReader(str(path))
    except xlsx.XlsxError as exc:
        raise Invalid("file", "Não foi possível ler a planilha: arquivo corrompido ou protegido.") from exc


def _chosen_sheet(sheets: list[str], sheet: str | None) -> str:
    if not sheets:
        raise Invalid("file", "A planilha não tem abas.")
    name = sheet or sheets[0]
    if name not in sheets:
        raise Invalid("sheet", f"A aba “{name}” não existe na planilha.")
    return name


def _first_rows_xlsx(
    path: Path, sheet: str | None
) -> tuple[list[str], str, list[list[str | None]], int, int]:
    """(sheets, chosen sheet, the first rows as lists from the first used column, that column, the
    sheet row of rows[0]) read with the streaming reader: only the first block is inflated."""
    with _open_xlsx(path) as book:
        sheets = list(book.sheets)
        name = _chosen_sheet(sheets, sheet)
        try:
            cells = next(iter(book.iter_blocks(name, block_bytes=256 * 1024)), None)
        except xlsx.XlsxError as exc:
            raise Invalid(
                "file", "Não foi possível ler a planilha: arquivo corrompido ou protegido."
            ) from exc
    if cells is None or cells.cells.height == 0:
        raise Invalid("file", "A aba escolhida está vazia.")
    frame = cells.cells
    top = int(frame.select(pl.col("row").min()).item())
    frame = frame.filter(pl.col("row") < top + _HEADER_SCAN_ROWS + 11)
    first_col = int(frame.select(pl.col("col").min()).item())
    width = int(frame.select(pl.col("col").max()).item()) - first_col + 1
    by_row: dict[int, list[str | None]] = {}
    for row, col, value in frame.iter_rows():
        by_row.setdefault(row, [None] * width)[col - first_col] = value
    rows = [by_row.get(r, [None] * width) for r in range(top, top + _HEADER_SCAN_ROWS + 11)]
    while rows and not any(v is not None for v in rows[-1]):
        rows.pop()
    return sheets, name, rows, first_col, top


def inspect_xlsx(
    path: Path, fmt: str = "xlsx", sheet: str | None = None, header_row: int | None = None
) -> FileInfo:
    first_col, top = 0, 1
    if fmt == "xlsx":
        sheets, name, rows, first_col, top = _first_rows_xlsx(path, sheet)
    else:
        wb = _open_workbook(path, fmt)
        sheets = list(wb.sheet_names)
        name = _chosen_sheet(sheets, sheet)
        rows = []
        for i, r in enumerate(wb.get_sheet_by_name(name).iter_rows()):
            rows.append([_cell(c) for c in r])
            if i >= _HEADER_SCAN_ROWS + 10:
                break
    if not any(any(c is not None for c in r) for r in rows):
        raise Invalid("file", "A aba escolhida está vazia.")
    # Row numbers are the sheet's own (what the user sees in the spreadsheet program); `top` is the
    # sheet row of rows[0].
    if header_row is not None:
        if header_row < top or header_row >= top + len(rows):
            raise Invalid("header_row", "Linha de cabeçalho fora da planilha.")
        idx = header_row - top
    else:
        idx = _guess_header(rows[:_HEADER_SCAN_ROWS])
    head = rows[idx]
    while head and head[-1] is None:
        head = head[:-1]
    headers = _dedupe_headers(head)
    preview = [(r + [None] * len(headers))[: len(headers)] for r in rows[idx + 1 : idx + 11]]
    return FileInfo(
        format=fmt,
        headers=headers,
        header_row=top + idx,
        preview=preview,
        sheets=sheets,
        sheet=name,
        size=path.stat().st_size,
        first_col=first_col,
    )


def iter_xlsx(path: Path, info: FileInfo, resume: int | None = None) -> Iterator[Batch]:
    """Rows of the chosen sheet below the header, one inflated block at a time (memory stays flat);
    resume = the sheet row of the last row of the last committed batch."""
    if info.format != "xlsx":
        yield from _iter_calamine(path, info, resume)
        return
    n = len(info.headers)
    size = path.stat().st_size
    with _open_xlsx(path) as book:
        part = book.sheets.get(info.sheet or "")
        if part is None:
            raise Invalid("sheet", f"A aba “{info.sheet}” não existe na planilha.")
        total = max(book.zip.getinfo(part).file_size, 1)
        skip = max(info.header_row, resume or 0)
        try:
            for block in book.iter_blocks_parallel(info.sheet or "", skip_to_row=skip):
                frame = xlsx.wide(block.cells, info.first_col, n)
                done = min(size, size * block.inflated // total)
                yield Batch(frame, block.last_row, block.last_row + 1, done)
        except xlsx.XlsxError as exc:
            raise Invalid(
                "file", "Não foi possível ler a planilha: arquivo corrompido ou protegido."
            ) from exc


def _iter_calamine(path: Path, info: FileInfo, resume: int | None = None) -> Iterator[Batch]:
    """Legacy .xls through calamine, XLSX_BATCH_ROWS at a time; resume = data rows read."""

    wb = _open_workbook(path, info.format)
    sheet = wb.get_sheet_by_name(info.sheet)
    n = len(info.headers)
    columns = [f"c{i}" for i in range(n)]
    start = resume or 0
    size = path.stat().st_size
    total = max(sheet.total_height or 1, 1)
    cols: list[list[str | None]] = [[] for _ in range(n)]
    lines: list[int] = []
    data_index = 0
    for i, r in enumerate(sheet.iter_rows()):
        if i < info.header_row:
            continue
        if data_index < start:
            data_index += 1
            continue
        data_index += 1
        cells = [_cell(c) for c in r[:n]]
        if not any(c is not None for c in cells):
            continue
        for j in range(n):
            cols[j].append(cells[j] if j < len(cells) else None)
        lines.append(i + 1)
        if len(lines) >= XLSX_BATCH_ROWS:
            yield _xlsx_batch(columns, cols, lines, data_index, min(size, size * (i + 1) // total))
            cols = [[] for _ in range(n)]
            lines = []
    yield _xlsx_batch(columns, cols, lines, data_index, size)


def _xlsx_batch(
    columns: list[str], cols: list[list[str | None]], lines: list[int], resume: int, done: int
) -> Batch:
    data: dict[str, Any] = {c: pl.Series(c, v, dtype=pl.String) for c, v in zip(columns, cols, strict=True)}
    data["_line"] = pl.Series("_line", lines, dtype=pl.Int64)
    return Batch(pl.DataFrame(data), resume, (lines[-1] + 1) if lines else 0, done)


# ----------------------------------------------------------------------------------------- facade


def inspect_file(
    path: Path, filename: str, sheet: str | None = None, header_row: int | None = None
) -> FileInfo:
    """Format, encoding, delimiter, headers and a preview; raises Invalid (pt-BR) for unusable files."""
    if path.stat().st_size == 0:
        raise Invalid("file", "O arquivo está vazio.")
    fmt = detect_format(path, filename)
    if fmt in ("xlsx", "xls"):
        return inspect_xlsx(path, fmt, sheet, header_row)
    return inspect_csv(path, header_row)


def info_from_options(path: Path, options: dict[str, Any]) -> FileInfo:
    return FileInfo(
        format=options["format"],
        headers=list(options["headers"]),
        header_row=int(options["header_row"]),
        preview=[],
        encoding=options.get("encoding"),
        delimiter=options.get("delimiter"),
        sheet=options.get("sheet"),
        data_offset=int(options.get("data_offset") or 0),
        size=path.stat().st_size,
        first_col=int(options.get("first_col") or 0),
    )


def iter_batches(
    path: Path, info: FileInfo, resume: int | None = None, next_line: int | None = None
) -> Iterator[Batch]:
    if info.format == "csv":
        return iter_csv(path, info, resume, next_line)
    return iter_xlsx(path, info, resume)
