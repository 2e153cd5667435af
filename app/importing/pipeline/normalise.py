"""Normalisation of a raw batch in polars: cleaned fields (n_*), valid/reason, per-line issues, and
the dedupe keys (one row per normalised phone/e-mail) with the resolution of each row's owner."""

import polars as pl

from app.importing import readers
from app.importing.documents import normalise_documents
from app.importing.emails import normalise_emails
from app.importing.phones import normalise_phones
from app.importing.pipeline.plan import POLICIES, Plan

_TEXT_LIMITS = {"name": 300, "plan": 120, "status": 40, "wallet": 120, "owner": 320}


def _text(col: str, limit: int) -> pl.Expr:
    # Whitespace runs become one space. The pattern leaves single plain spaces alone (same result as
    # \s+ -> " "), so most values are not rewritten at all: much cheaper on a column of names.
    s = pl.col(col).str.replace_all(r"\s\s+|[^\S ]", " ").str.strip_chars().str.slice(0, limit)
    return pl.when(s.str.len_bytes() > 0).then(s).otherwise(None)


def normalise(frame: pl.DataFrame, plan: Plan, owners: dict[str, int] | None = None) -> pl.DataFrame:
    """Adds the normalised columns (n_*) and `valid`/`reason` to a raw batch."""
    data_cols = [c for c in frame.columns if c.startswith("c")]
    frame = _normalise_contacts(frame.with_columns(_field_exprs(plan)), plan)
    phone_cols = plan.columns("phone") + plan.columns("whatsapp")
    frame = frame.with_columns(reason=_reason(plan, data_cols)).with_columns(valid=pl.col("reason").is_null())
    frame = _with_owner_ids(frame, owners)
    # A customer needs a name: fall back to its e-mail or first phone (new customers only).
    fallback = [pl.col("n_email")] + [pl.col(f"p_{c}") for c in phone_cols]
    return frame.with_columns(
        n_fallback=pl.coalesce(fallback) if fallback else pl.lit(None, pl.String),
        row_hash=_row_hash(plan, phone_cols),
    )


def _field_exprs(plan: Plan) -> list[pl.Expr]:
    """The plain fields (n_name, n_plan, n_status, n_wallet, n_owner), n_tags and n_custom."""
    exprs: list[pl.Expr] = []
    for fld in ("name", "plan", "status", "wallet", "owner"):
        cols = plan.columns(fld)
        exprs.append(
            _text(cols[0], _TEXT_LIMITS[fld]).alias(f"n_{fld}")
            if cols
            else pl.lit(None, pl.String).alias(f"n_{fld}")
        )
    # Situação is a small vocabulary ("Ativo", "ATIVO", "ativo"): stored lower-case like the default.
    exprs[2] = exprs[2].str.to_lowercase()
    tag_cols = plan.columns("tags")
    if tag_cols:
        joined = pl.concat_str([pl.col(c) for c in tag_cols], separator=",", ignore_nulls=True)
        exprs.append(joined.str.replace_all(r"[;|]", ",").alias("n_tags"))
    else:
        exprs.append(pl.lit(None, pl.String).alias("n_tags"))
    custom = plan.custom_columns()
    if custom:
        # A JSON object of the non-empty cells only (what jsonb_strip_nulls would leave), so new customers
        # can be COPYed as they are: each '"key":"value"' pair is a one-field struct's JSON, braces cut.
        cells = {k: _text(c, 2000) for k, c in custom.items()}
        pairs = [
            pl.when(v.is_not_null()).then(
                pl.struct(v.alias(k)).struct.json_encode().str.slice(1).str.strip_suffix("}")
            )
            for k, v in cells.items()
        ]
        exprs.append(
            (pl.lit("{") + pl.concat_str(pairs, separator=",", ignore_nulls=True) + pl.lit("}")).alias(
                "n_custom"
            )
        )
    else:
        exprs.append(pl.lit(None, pl.String).alias("n_custom"))
    return exprs


def _normalise_contacts(frame: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """n_document, one p_<column> per phone column, n_email."""
    doc_cols = plan.columns("document")
    if doc_cols:
        frame = frame.with_columns(n_document=normalise_documents(frame.get_column(doc_cols[0])))
    else:
        frame = frame.with_columns(n_document=pl.lit(None, pl.String))
    phone_cols = plan.columns("phone") + plan.columns("whatsapp")
    if phone_cols:
        # All phone columns in one call: the normaliser's per-call cost is paid once per batch.
        n = frame.height
        stacked = normalise_phones(pl.concat([frame.get_column(c) for c in phone_cols]), plan.default_ddd)
        frame = frame.with_columns(
            [stacked.slice(i * n, n).alias(f"p_{c}") for i, c in enumerate(phone_cols)]
        )
    email_cols = plan.columns("email")
    if email_cols:
        return frame.with_columns(n_email=normalise_emails(frame.get_column(email_cols[0])))
    return frame.with_columns(n_email=pl.lit(None, pl.String))


def _reason(plan: Plan, data_cols: list[str]) -> pl.Expr:
    """Why a row is not imported (None: valid): too long, only invalid contacts, or no contact."""
    phone_cols = plan.columns("phone") + plan.columns("whatsapp")
    has_contact = pl.col("n_email").is_not_null()
    any_raw = pl.lit(False)
    for c in phone_cols:
        has_contact = has_contact | pl.col(f"p_{c}").is_not_null()
        any_raw = any_raw | pl.col(c).is_not_null()
    for c in plan.columns("email"):
        any_raw = any_raw | pl.col(c).is_not_null()
    row_bytes = pl.sum_horizontal([pl.col(c).str.len_bytes().fill_null(0) for c in data_cols])
    return (
        pl.when(row_bytes > readers.MAX_LINE_BYTES)
        .then(pl.lit("linha_longa"))
        .when(has_contact)
        .then(pl.lit(None, pl.String))
        .when(any_raw)
        .then(pl.lit("contato_invalido"))
        .otherwise(pl.lit("sem_contato"))
    )


def _with_owner_ids(frame: pl.DataFrame, owners: dict[str, int] | None) -> pl.DataFrame:
    """owner_id: the user the row's owner cell names (e-mail, name or folded name), if any."""
    if not owners:  # no owner column mapped (or no users to match): no join per batch
        return frame.with_columns(owner_id=pl.lit(None, pl.Int64))
    owner_map = pl.DataFrame(
        {"owner_key": list(owners.keys()), "owner_id": list(owners.values())},
        schema={"owner_key": pl.String, "owner_id": pl.Int64},
    )
    return frame.with_columns(owner_key=pl.col("n_owner").str.to_lowercase()).join(
        owner_map, on="owner_key", how="left", maintain_order="left"
    )


def _row_hash(plan: Plan, phone_cols: list[str]) -> pl.Expr:
    """64-bit fingerprint of everything a row writes (fields, tags, custom values, phones, e-mail) under
    the import's duplicate policy, kept in customers.import_hash: a re-import skips a row whose customer
    was last written by an identical row. Polars' hash is fixed within a polars version; a new version
    only makes the next re-import take the full path once (unequal hashes are never trusted)."""
    parts = [pl.col(f) for f in APPLY_FIELDS if f != "n_fallback"]
    parts += [pl.col(f"p_{c}") for c in phone_cols] + [pl.col("n_email")]
    return pl.struct(parts).hash(seed=POLICIES.index(plan.policy)).reinterpret(signed=True)


def issues_of(frame: pl.DataFrame, plan: Plan, import_id: int) -> pl.DataFrame:
    """Error rows (with their raw cells) and per-field warnings of valid rows."""
    data_cols = [c for c in frame.columns if c.startswith("c") and c[1:].isdigit()]
    parts: list[pl.DataFrame] = []
    invalid = frame.filter(~pl.col("valid"))
    if invalid.height:
        # Cells are cut before encoding so the stored JSON stays valid for any line length.
        raw = pl.concat_list([pl.col(c).fill_null("").str.slice(0, 10_000) for c in data_cols])
        parts.append(
            invalid.select(
                line=pl.col("_line"),
                severity=pl.lit("error"),
                reason=pl.col("reason"),
                field=pl.lit(None, pl.String),
                value=pl.lit(None, pl.String),
                raw=pl.struct(cells=raw).struct.json_encode(),
            )
        )
    valid = frame.filter(pl.col("valid"))
    checks: list[tuple[str, str, str, str]] = []
    for c in plan.columns("phone") + plan.columns("whatsapp"):
        checks.append((c, f"p_{c}", "telefone_invalido", "phone"))
    for c in plan.columns("email")[:1]:
        checks.append((c, "n_email", "email_invalido", "email"))
    for c in plan.columns("document")[:1]:
        checks.append((c, "n_document", "documento_invalido", "document"))
    for raw_col, norm_col, reason, fld in checks:
        bad = valid.filter(pl.col(raw_col).is_not_null() & pl.col(norm_col).is_null())
        if bad.height:
            parts.append(
                bad.select(
                    line=pl.col("_line"),
                    severity=pl.lit("warning"),
                    reason=pl.lit(reason),
                    field=pl.lit(fld),
                    value=pl.col(raw_col).str.slice(0, 500),
                    raw=pl.lit(None, pl.String),
                )
            )
    if plan.columns("owner"):
        bad = valid.filter(pl.col("n_owner").is_not_null() & pl.col("owner_id").is_null())
        if bad.height:
            parts.append(
                bad.select(
                    line=pl.col("_line"),
                    severity=pl.lit("warning"),
                    reason=pl.lit("responsavel_desconhecido"),
                    field=pl.lit("owner"),
                    value=pl.col("n_owner").str.slice(0, 500),
                    raw=pl.lit(None, pl.String),
                )
            )
    if not parts:
        return empty_issues()
    return pl.concat(parts, how="vertical_relaxed")


ISSUE_SCHEMA = {
    "line": pl.Int64,
    "severity": pl.String,
    "reason": pl.String,
    "field": pl.String,
    "value": pl.String,
    "raw": pl.String,
}


def empty_issues() -> pl.DataFrame:
    return pl.DataFrame(schema=ISSUE_SCHEMA)


_EMAIL_POS = 1000  # the e-mail key's position: after every phone column


def keys_of(valid: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """One row per (row, normalised phone/e-mail): the dedupe keys, in (row, column) order."""
    parts = []
    phone_cols = plan.columns("phone") + plan.columns("whatsapp")
    for pos, c in enumerate(phone_cols):
        label = "WhatsApp" if plan.mapping[c] == "whatsapp" else plan.headers[int(c[1:])][:60]
        keep = pl.col(f"p_{c}").is_not_null()
        for earlier in phone_cols[:pos]:  # a number an earlier column of the row has is the same key
            keep = keep & pl.col(f"p_{c}").ne_missing(pl.col(f"p_{earlier}"))
        parts.append(
            valid.filter(keep).select(
                row=pl.col("_line"),
                pos=pl.lit(pos, pl.Int32),
                kind=pl.lit("phone"),
                value=pl.col(f"p_{c}"),
                label=pl.lit(label),
            )
        )
    parts.append(  # one e-mail column: no key repeats within a row
        valid.filter(pl.col("n_email").is_not_null()).select(
            row=pl.col("_line"),
            pos=pl.lit(_EMAIL_POS, pl.Int32),
            kind=pl.lit("email"),
            value=pl.col("n_email"),
            label=pl.lit(None, pl.String),
        )
    )
    # One integer sort key instead of a (row, pos) sort and a (row, key) unique: cheaper.
    keys = pl.concat(parts).sort(pl.col("row").cast(pl.Int64) * (_EMAIL_POS + 1) + pl.col("pos"))
    return keys.with_columns(key=pl.col("kind").str.slice(0, 1) + pl.col("value"))


def document_keys(valid: pl.DataFrame) -> pl.DataFrame:
    """One row per row with a valid CPF/CNPJ: its document key ("d" + digits) at position -1, before
    every contact (the document decides who a row is)."""
    return valid.filter(pl.col("n_document").is_not_null()).select(
        row=pl.col("_line"), pos=pl.lit(-1, pl.Int32), key=pl.lit("d") + pl.col("n_document")
    )


def resolve_owners(rows: pl.DataFrame, cands: pl.DataFrame) -> pl.DataFrame:
    """row -> owner: a known customer's id (> 0), or -row for a new customer that row starts (< 0).

    Each row takes its first candidate (by column position); a candidate that is an earlier row of the
    batch resolves to that row's owner, transitively (a dup of a dup points at the first row): pointer
    jumping, each round follows the unresolved rows' `ref` one step (refs always point backwards).
    Integers throughout: the string-tagged owners ("c12", "r7") this replaced were much slower.
    """
    chosen = cands.group_by("row", maintain_order=True).first()
    out = rows.join(chosen.select("row", "ref", "cid"), on="row", how="left").select(
        "row",
        owner=pl.when(pl.col("cid").is_not_null())
        .then(pl.col("cid"))
        .when(pl.col("ref").is_null())
        .then(-pl.col("row")),
        ref=pl.when(pl.col("cid").is_null()).then(pl.col("ref")),
    )
    while True:
        pending = out.filter(pl.col("owner").is_null())
        if pending.height == 0:
            return out.select("row", "owner")
        step = pending.select("row", "ref").join(
            out.select(ref="row", t_owner="owner", t_ref="ref"), on="ref", how="left"
        )
        out = (
            out.join(step.select("row", "t_owner", "t_ref"), on="row", how="left")
            .with_columns(
                owner=pl.coalesce("owner", "t_owner"),
                ref=pl.when(pl.col("owner").is_null() & pl.col("t_owner").is_null())
                .then(pl.col("t_ref"))
                .otherwise(None),
            )
            .drop("t_owner", "t_ref")
            # A chain that led nowhere (cannot happen: refs are rows of this batch) starts a customer
            # rather than looping forever.
            .with_columns(
                owner=pl.when(pl.col("owner").is_null() & pl.col("ref").is_null())
                .then(-pl.col("row"))
                .otherwise(pl.col("owner"))
            )
        )


APPLY_FIELDS = (
    "n_name",
    "n_document",
    "n_plan",
    "n_status",
    "n_wallet",
    "owner_id",
    "n_tags",
    "n_custom",
    "n_fallback",
)
