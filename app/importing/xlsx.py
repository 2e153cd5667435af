"""A streaming XLSX sheet reader: the sheet XML is inflated in blocks and parsed with polars regexes.

calamine (python-calamine) materialises the whole sheet before the first row comes out: 4.8 s and
~420 MB for a 500k-row export before any work starts, and 670 MB peak once the rows are converted to
Python values cell by cell. This reader never holds more than one block of the sheet: it inflates
BLOCK_BYTES of XML, cuts at the last complete `</row>`, and turns the block into cells with vectorised
regex extraction (rows -> cells -> reference, type, style, value), so memory stays flat and the work is
done in Rust, not per cell in Python.

Cells come out as text with the same conventions the CSV path sees: whole numbers without ".0" (a
phone typed in a numeric cell is its digits), date-formatted numbers as ISO dates, booleans as
"true"/"false", shared and inline strings unescaped. Legacy .xls files still go through calamine
(readers.py); this module covers the OOXML format only.
"""

import html
import re
import zipfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from xml.etree import ElementTree

import polars as pl

# Of inflated XML: ~15k rows of a 10-column export. Larger blocks are no faster (the work is per cell)
# and peak memory grows with them (docs/benchmarks.md).
BLOCK_BYTES = 8 * 1024 * 1024

_NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
}
_TEXT = r"<t\b[^>]*>([^<]*)</t>"
# Built-in number formats that are dates/times (ECMA-376 18.8.30) ...
_DATE_FORMAT_IDS = frozenset({*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)})
# ... and custom format codes with date/time tokens outside quoted text, [colours] and escapes.
_FORMAT_NOISE = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.|_.|\*.')
_DATE_TOKENS = re.compile(r"[dmyhs]", re.IGNORECASE)
# Written so that at every point the next byte decides the branch (a "one-pass" pattern: the shared "<"
# of <v>, <is> and </c> and the shared " " of s="" and t="" are factored out). The regex engine then
# extracts the groups with its one-pass DFA instead of the PikeVM: cheaper per cell, where a third of
# the reader's work was. The type is in `type` after s="", in `type2` without it.
_FAST_CELL = (
    r'^r="(?<letters>[A-Z]{1,3})(?<number>\d+)"'
    r'(?: (?:s="(?<style>\d+)"(?: t="(?<type>[a-zA-Z]+)")?|t="(?<type2>[a-zA-Z]+)"))?'
    r"(?:/>|>(?:<(?:v>(?<v>[^<]*)</v></c>|is><t(?: [^>]*)?>(?<inline>[^<]*)</t></is></c>|/c>)))"
)
_EXCEL_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)
_EXCEL_EPOCH_1904 = datetime(1904, 1, 1, tzinfo=UTC)
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _letters(i: int) -> str:
    out = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        out = chr(65 + rem) + out
    return out


# "A" -> 0 ... "ZZ" -> 701, "AAA".. beyond: a lookup table is far cheaper than base-26 arithmetic per cell.
_COLUMNS = {_letters(i): i for i in range(26 + 26 * 26 + 26 * 26 * 4)}


class XlsxError(ValueError):
    """The package is not a readable XLSX workbook (the caller turns it into a pt-BR message)."""


@dataclass(frozen=True)
class Block:
    """Cells of the rows of one block: one row per non-empty cell."""

    cells: pl.DataFrame  # row (Int64, 1-based sheet row), col (Int32, 0-based), value (String)
    last_row: int  # sheet row number of the last row in the block (0 when it had none)
    inflated: int  # bytes of sheet XML read so far


def _unescape_xml(col: pl.Expr) -> pl.Expr:
    """XML entities of text nodes; `&amp;` last so "&amp;lt;" stays "&lt;"."""
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&")):
        col = col.str.replace_all(entity, char, literal=True)
    return col


def _rare_escapes(text: str | None) -> str | None:
    # Numeric character references and OOXML's _xHHHH_ (control characters): rare, done in Python.
    if text is None:
        return None
    text = html.unescape(text) if "&#" in text else text
    return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _finish_text(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    # Only cells with an entity or an _xHHHH_ escape need work (XML escapes every "&" in text).
    if "_i" not in frame.columns:
        frame = frame.with_row_index("_i")
    entity = pl.col(column).str.contains("&", literal=True).fill_null(False)
    frame = _patch(frame, entity, column, _unescape_xml(pl.col(column)))
    rare = pl.col(column).str.contains(r"&#|_x[0-9A-Fa-f]{4}_").fill_null(False)
    # Literal scans first: the pattern runs only when a block has a candidate at all.
    maybe = pl.col(column).str.contains("&#|_x")  # one literal-alternation scan, not two
    if frame.select(maybe.any()).item() and frame.select(rare.any()).item():
        frame = frame.with_columns(
            pl.when(rare)
            .then(pl.col(column).map_elements(_rare_escapes, return_dtype=pl.String))
            .otherwise(pl.col(column))
            .alias(column)
        )
    return frame


def _rich_text(col: pl.Expr) -> pl.Expr:
    """The text of an <si>/<is> body: its <t> runs joined, phonetic guides (<rPh>) left out."""
    return (
        col.str.replace_all(r"(?s)<rPh\b.*?</rPh>", "")
        .str.extract_all(_TEXT)
        .list.eval(pl.element().str.replace(_TEXT, "${1}"))
        .list.join("")
    )


class XlsxReader:
    """One workbook: its sheet names, shared strings and date styles; sheets are read with iter_blocks."""

    def __init__(self, path: str) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
            self.names = set(self.zip.namelist())
            self.sheets, self.date1904 = self._workbook()
            self.date_styles = self._date_styles()
        except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as exc:
            raise XlsxError(str(exc)) from exc
        self._shared: pl.DataFrame | None = None

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> "XlsxReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------------- package parts

    def _xml(self, name: str) -> ElementTree.Element:
        # Small parts only (workbook, rels, styles): the sheet and shared strings are streamed.
        return ElementTree.fromstring(self.zip.read(name))

    def _workbook(self) -> tuple[dict[str, str], bool]:
        book = self._xml("xl/workbook.xml")
        rels_name = "xl/_rels/workbook.xml.rels"
        targets: dict[str, str] = {}
        if rels_name in self.names:
            for rel in self._xml(rels_name).findall("rel:Relationship", _NS):
                target = rel.get("Target", "")
                path = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
                targets[rel.get("Id", "")] = path
        sheets: dict[str, str] = {}
        for i, sheet in enumerate(book.findall("m:sheets/m:sheet", _NS), start=1):
            rid = sheet.get(f"{{{_NS['r']}}}id", "")
            sheets[sheet.get("name", f"Planilha{i}")] = targets.get(rid, f"xl/worksheets/sheet{i}.xml")
        pr = book.find("m:workbookPr", _NS)
        date1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
        return sheets, date1904

    def _date_styles(self) -> list[int]:
        if "xl/styles.xml" not in self.names:
            return []
        styles = self._xml("xl/styles.xml")
        custom = {
            int(f.get("numFmtId", "0")): f.get("formatCode", "")
            for f in styles.findall("m:numFmts/m:numFmt", _NS)
        }
        out = []
        for i, xf in enumerate(styles.findall("m:cellXfs/m:xf", _NS)):
            fmt = int(xf.get("numFmtId", "0"))
            code = _FORMAT_NOISE.sub("", custom.get(fmt, ""))
            if fmt in _DATE_FORMAT_IDS or (fmt in custom and _DATE_TOKENS.search(code)):
                out.append(i)
        return out

    def _stream(self, name: str, tag: bytes, block_bytes: int = 0) -> Iterator[tuple[bytes, int]]:
        """Inflated bytes of part `name` in blocks ending after a closing `tag`, with bytes read so far.
        Bytes, not text: decoding 8 MB to a Python str and handing it back to polars (which re-encodes
        it) cost more than cutting the block into rows (_pieces)."""
        inflated = 0
        with self.zip.open(name) as fh:
            rest = b""
            while True:
                chunk = fh.read(block_bytes or BLOCK_BYTES)
                inflated += len(chunk)
                data = rest + chunk
                if not chunk:
                    if data.strip():
                        yield data, inflated
                    return
                cut = data.rfind(tag)
                if cut < 0:
                    rest = data
                    continue
                cut += len(tag)
                rest = data[cut:]
                yield data[:cut], inflated

    def shared_strings(self) -> pl.DataFrame:
        """idx (UInt32) -> text of xl/sharedStrings.xml, read once, kept as one Arrow column."""
        if self._shared is None:
            parts = []
            name = next((n for n in self.names if n.lower() == "xl/sharedstrings.xml"), None)
            if name is not None:
                for data, _ in self._stream(name, b"</si>"):
                    items = _pieces(data, b"</si>", "si")
                    items = items.filter(items.str.contains("<si", literal=True))
                    parts.append(items.to_frame().select(text=_rich_text(pl.col("si"))))
            frame = pl.concat(parts) if parts else pl.DataFrame(schema={"text": pl.String})
            frame = _finish_text(frame, "text").drop("_i")
            self._shared = frame.with_row_index("idx")
        return self._shared

    # -------------------------------------------------------------------------------- sheet cells

    def iter_blocks(
        self, sheet: str, skip_to_row: int = 0, block_bytes: int | None = None
    ) -> Iterator[Block]:
        """Cells of `sheet`, block by block, for rows after `skip_to_row`."""
        for block in self._cut_blocks(sheet, skip_to_row, block_bytes):
            yield Block(
                self._decode(block.cells) if block.cells.height else _empty_cells(),
                block.last_row,
                block.inflated,
            )

    def iter_blocks_parallel(self, sheet: str, skip_to_row: int = 0, workers: int = 2) -> Iterator[Block]:
        """iter_blocks with the cell decoding of consecutive blocks on `workers` threads (polars releases
        the GIL), in order. The sequential part (inflating, cutting rows, numbering them) is a tenth of
        the work; at most `workers` blocks are decoded or waiting at once (memory)."""
        self.shared_strings()  # read once, before the threads share it
        pending: deque[tuple[Future[pl.DataFrame] | None, Block]] = deque()
        with ThreadPoolExecutor(workers, thread_name_prefix="xlsx-decode") as pool:
            for block in self._cut_blocks(sheet, skip_to_row, None):
                job = pool.submit(self._decode, block.cells) if block.cells.height else None
                pending.append((job, block))
                while len(pending) >= workers:
                    yield _finished(*pending.popleft())
            while pending:
                yield _finished(*pending.popleft())

    def _cut_blocks(self, sheet: str, skip_to_row: int, block_bytes: int | None) -> Iterator[Block]:
        """Blocks whose `cells` are still raw: row (Int64), c (the text after "<c "), pos (Int32).

        Splitting on literal tags ("</row>", "<c ") is what keeps this fast: lazy `.*?` regexes over a
        24 MB block cost 25x more in the regex engine than a literal split.
        """
        part = self.sheets.get(sheet)
        if part is None or part not in self.names:
            raise XlsxError(f"sheet {sheet!r} not found")
        next_row = 1
        for data, inflated in self._stream(part, b"</row>", block_bytes or BLOCK_BYTES):
            pieces = _pieces(data, b"</row>", "x")
            frame = pieces.to_frame().filter(pl.col("x").str.contains("<row", literal=True))
            if frame.height == 0:
                continue
            # A cell without attributes (<c>) is rare; polars' SIMD search finds out faster than
            # `b"<c>" in data` did, and only then are its rows rewritten.
            if frame.select(pl.col("x").str.contains("<c>", literal=True).any()).item():
                frame = frame.with_columns(pl.col("x").str.replace_all("<c>", "<c >", literal=True))
            # A piece may start with self-closed empty rows (<row r="2"/>): the last <row> is this one's.
            given = (
                pl.col("x").str.extract_all(r'<row\b[^>]*\br="(\d+)"').list.last().str.extract(r"(\d+)\D*$")
            )
            frame = frame.with_columns(given=given.cast(pl.Int64, strict=False))
            frame = frame.with_columns(row=_row_numbers(frame.get_column("given"), next_row))
            next_row = int(frame.select(pl.col("row").max()).item() or next_row) + 1
            rows = (
                frame.filter(pl.col("row") > skip_to_row)
                .select("row", c=pl.col("x").str.split("<c ").list.slice(1))
                .filter(pl.col("c").list.len() > 0)
            )
            # A cell's position in its row (for cells without r=""): its index in the exploded column
            # minus where its row starts; a window over the rows cost far more.
            lengths = pl.col("c").list.len()
            cells = (
                rows.with_columns(start=lengths.cum_sum() - lengths)
                .explode("c")
                .with_columns(pos=(pl.int_range(pl.len()) - pl.col("start")).cast(pl.Int32))
                # Self-closed empty cells (<c r="D4" t="inlineStr"/>, a third of a typical export) hold
                # no value: dropped before the regex work. Booleans keep theirs (an empty one reads false).
                .filter(
                    ~(
                        pl.col("c").str.ends_with("/>")
                        & ~pl.col("c").str.contains("</c>", literal=True)  # not a cell followed by <extLst/>
                        & ~pl.col("c").str.contains('t="b"', literal=True)
                    )
                )
                .drop("start")
            )
            yield Block(cells, next_row - 1, inflated)

    def _decode(self, cells: pl.DataFrame) -> pl.DataFrame:
        # One anchored pattern with capture groups recognises what every common writer emits (Excel,
        # LibreOffice, openpyxl, the usual export libraries: r="" first, then s="" and t="", and the short
        # <v>/<is><t> forms); the cells it does not recognise go through the general path. One pass of
        # the regex engine per cell is cheaper than the dozen literal operations of the general path.
        parts = cells.with_columns(g=pl.col("c").str.extract_groups(_FAST_CELL)).unnest("g")
        known = pl.col("letters").is_not_null()
        fast = parts.filter(known).select(
            row=pl.col("number").cast(pl.Int64, strict=False).fill_null(pl.col("row")),
            col=pl.col("letters").replace_strict(_COLUMNS, default=None, return_dtype=pl.Int32),
            t=pl.coalesce("type", "type2", pl.lit("n")),
            v=pl.col("v"),
            inline=pl.col("inline"),
            s=pl.col("style").cast(pl.Int64, strict=False),
        )
        rest = parts.filter(~known).select(cells.columns)
        parsed = pl.concat([fast, self._parse_generic(rest)]) if rest.height else fast
        return self._values(parsed)

    def _parse_generic(self, cells: pl.DataFrame) -> pl.DataFrame:
        """Any attribute order and element form, by literal splits plus patterns on the rare cells that
        need them (polars evaluates every branch of a when/then over the whole column)."""
        c = pl.col("c")
        cells = cells.with_row_index("_i").with_columns(
            head=pl.lit(" ") + c.str.split_exact(">", 1).struct.field("field_0")
        )
        head = pl.col("head")
        closed = head.str.ends_with("/")
        cell_type = pl.lit("n")
        for kind in ("str", "s", "inlineStr", "b", "e", "d"):  # "str" before "s": ' t="s' prefixes it
            cell_type = (
                pl.when(head.str.contains(f' t="{kind}"', literal=True))
                .then(pl.lit(kind))
                .otherwise(cell_type)
            )
        cells = cells.with_columns(
            ref=pl.when(head.str.starts_with(' r="')).then(
                head.str.split_exact('"', 2).struct.field("field_1")
            ),
            t=cell_type,
            v=pl.when(~closed).then(
                c.str.split_exact("<v>", 1)
                .struct.field("field_1")
                .str.split_exact("</v>", 1)
                .struct.field("field_0")
            ),
        )
        cells = _patch(cells, pl.col("ref").is_null(), "ref", head.str.extract(r'\br="([A-Za-z]{1,3}\d*)"'))
        cells = _patch(
            cells,
            pl.col("v").is_null() & ~closed & c.str.contains("<v ", literal=True),
            "v",
            c.str.extract(r"<v\b[^>]*>([^<]*)</v>"),
        )
        if self.date_styles:
            cells = cells.with_columns(s=head.str.extract(r' s="(\d+)"').cast(pl.Int64, strict=False))
        ref = pl.col("ref")
        cells = cells.with_columns(
            col=pl.coalesce(
                ref.str.strip_chars_end("0123456789")
                .str.to_uppercase()
                .replace_strict(_COLUMNS, default=None, return_dtype=pl.Int32),
                pl.col("pos"),
            ),
            row=pl.coalesce(
                ref.str.strip_chars_start("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz").cast(
                    pl.Int64, strict=False
                ),
                pl.col("row"),
            ),
        )
        inline = pl.col("t") == "inlineStr"
        cells = cells.with_columns(
            inline=pl.when(inline & ~closed).then(
                c.str.split_exact("<is><t>", 1)
                .struct.field("field_1")
                .str.split_exact("</t>", 1)
                .struct.field("field_0")
            )
        )
        rich = inline & ~closed & (pl.col("inline").is_null() | c.str.contains("<r>", literal=True))
        cells = _patch(cells, rich, "inline", _rich_text(c))
        cols = ["row", "col", "t", "v", "inline"]
        return cells.select(*cols, s=pl.col("s") if "s" in cells.columns else pl.lit(None, pl.Int64))

    def _values(self, cells: pl.DataFrame) -> pl.DataFrame:
        """(row, col, t, s, v, inline) -> (row, col, value): shared strings, unescaping, numbers, dates."""
        inline = pl.col("t") == "inlineStr"
        shared = pl.col("t") == "s"
        if cells.select(shared.any()).item():
            cells = cells.with_columns(sidx=pl.when(shared).then(pl.col("v").cast(pl.UInt32, strict=False)))
            cells = cells.join(
                self.shared_strings(), left_on="sidx", right_on="idx", how="left", maintain_order="left"
            )
        else:
            cells = cells.with_columns(text=pl.lit(None, pl.String))
        # Text first (one column), then the numbers, each computed on its own rows only: polars evaluates
        # every branch of a when/then over the whole column, and strftime/casts are not free.
        text = (
            pl.when(shared)
            .then(pl.col("text"))
            .when(inline)
            .then(pl.col("inline"))
            .when(pl.col("t") == "b")
            .then(pl.when(pl.col("v") == "1").then(pl.lit("true")).otherwise(pl.lit("false")))
            .when(pl.col("t") == "e")
            .then(pl.lit(None, pl.String))
            .otherwise(pl.col("v"))
        )
        cells = cells.with_row_index("_i").select(
            "_i", "row", pl.col("col").cast(pl.Int32), "t", "s", value=text
        )
        cells = _finish_text(cells, "value")
        numeric = pl.col("t") == "n"
        number = pl.col("value").cast(pl.Float64, strict=False)
        whole = number.is_finite() & (number == number.floor()) & (number.abs() < 2.0**53)
        # Evaluated on the numeric cells only (_patch): casting every text cell to a float cost more.
        cells = _patch(
            cells,
            numeric,
            "value",
            pl.when(whole.fill_null(False)).then(number.cast(pl.Int64).cast(pl.String)).otherwise("value"),
        )
        if self.date_styles:
            dated = numeric & pl.col("s").is_in(self.date_styles)
            cells = _patch(
                cells,
                dated,
                "value",
                pl.when(number.is_not_null()).then(_excel_date(number, self.date1904)).otherwise("value"),
            )
        # Blank cells are dropped (a search for one non-space character, not a stripped copy of every
        # value); NUL bytes (PostgreSQL refuses them in text) removed where a block has any.
        cells = cells.select("row", "col", "value").filter(pl.col("value").str.contains(r"\S"))
        if cells.select(pl.col("value").str.contains("\x00", literal=True).any()).item():
            cells = cells.with_columns(pl.col("value").str.replace_all("\x00", "", literal=True))
        return cells


def _pieces(data: bytes, tag: bytes, name: str) -> pl.Series:
    """`data` cut after every `tag` (the tag dropped), as text; invalid UTF-8 is replaced, not fatal."""
    parts = data.split(tag)
    try:
        return pl.Series(name, parts, dtype=pl.Binary).cast(pl.String)
    except pl.exceptions.ComputeError:  # invalid UTF-8 somewhere in the block: rare, done in Python
        return pl.Series(name, [p.decode("utf-8", errors="replace") for p in parts], dtype=pl.String)


def _patch(frame: pl.DataFrame, mask: pl.Expr, column: str, expr: pl.Expr) -> pl.DataFrame:
    """Sets `column` to `expr` on the rows of `mask` only, evaluating `expr` on those rows alone."""
    rows = frame.filter(mask)
    if rows.height == 0:
        return frame
    fixed = rows.select("_i", expr.alias(column))
    return frame.update(fixed, on="_i")


def _finished(job: "Future[pl.DataFrame] | None", block: Block) -> Block:
    cells = job.result() if job is not None else _empty_cells()
    return Block(cells, block.last_row, block.inflated)


def _row_numbers(given: pl.Series, start: int) -> pl.Series:
    """The r="" row numbers, or one more than the previous row's where the attribute is missing."""
    if not given.null_count():
        return given
    out, prev = [], start - 1
    for number in given.to_list():  # rare (writers that omit r=""), so plain Python is fine
        prev = number if number is not None else prev + 1
        out.append(prev)
    return pl.Series("row", out, dtype=pl.Int64)


def _excel_date(serial: pl.Expr, date1904: bool) -> pl.Expr:
    epoch = _EXCEL_EPOCH_1904 if date1904 else _EXCEL_EPOCH
    micros = (serial * 86_400_000_000).round(0).cast(pl.Int64)
    stamp = pl.lit(epoch.replace(tzinfo=None)) + pl.duration(microseconds=micros)
    whole_day = serial == serial.floor()
    return (
        pl.when(whole_day)
        .then(stamp.dt.strftime("%Y-%m-%d"))
        .otherwise(stamp.dt.strftime("%Y-%m-%dT%H:%M:%S"))
    )


def _empty_cells() -> pl.DataFrame:
    return pl.DataFrame(schema={"row": pl.Int64, "col": pl.Int32, "value": pl.String})


def wide(cells: pl.DataFrame, first_col: int, n: int) -> pl.DataFrame:
    """Cells -> one row per sheet row with columns c0..c{n-1} (column first_col is c0) and _line."""
    cells = cells.filter((pl.col("col") >= first_col) & (pl.col("col") < first_col + n))
    columns = [f"c{i}" for i in range(n)]
    if cells.height == 0:
        return pl.DataFrame(schema={**dict.fromkeys(columns, pl.String), "_line": pl.Int64})
    row = cells.get_column("row")
    if not row.is_sorted():  # rows out of order: not what writers emit, but valid to read
        return _wide_pivot(cells, first_col, columns)
    # Rows come in sheet order: each cell goes to slot row_index * n + column of one flat column, and
    # column k is every n-th slot from k. Half the cost of a pivot (a tenth of the reader's work).
    starts = row.ne_missing(row.shift(1)).fill_null(True)
    lines = row.filter(starts)
    slot = (starts.cum_sum().cast(pl.Int64) - 1) * n + (cells.get_column("col") - first_col)
    first = slot.is_first_distinct()  # a duplicated reference keeps its first cell, as spreadsheets do
    flat = pl.repeat(None, lines.len() * n, dtype=pl.String, eager=True).scatter(
        slot.filter(first), cells.get_column("value").filter(first)
    )
    stride = pl.int_range(0, lines.len(), eager=True) * n
    return pl.DataFrame({c: flat.gather(stride + k) for k, c in enumerate(columns)}).with_columns(_line=lines)


def _wide_pivot(cells: pl.DataFrame, first_col: int, columns: list[str]) -> pl.DataFrame:
    pivot = cells.with_columns(name=pl.lit("c") + (pl.col("col") - first_col).cast(pl.String)).pivot(
        on="name", index="row", values="value", aggregate_function="first"
    )
    missing = [c for c in columns if c not in pivot.columns]
    if missing:
        pivot = pivot.with_columns([pl.lit(None, pl.String).alias(c) for c in missing])
    return pivot.sort("row").select(*columns, _line=pl.col("row"))
