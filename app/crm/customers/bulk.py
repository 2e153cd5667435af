"""Bulk actions on customers: small selections run inline, large ones as a background job with progress.

The job is split so the task (tasks/crm.py) can run chunks in parallel sessions and commit between
them: begin (resolve the selection), apply a chunk (set-based writes), finish.
"""

from collections.abc import Callable
from typing import Any

from sqlalchemy import BigInteger, Text, cast, delete, func, insert, literal, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm.customers.queries import count_customers, filter_clauses
from app.crm.customers.schemas import BULK_ACTIONS, STATUSES, BulkRequest, CustomerFilter
from app.crm.customers.service import check_tags
from app.crm.tables import table_of
from app.crm.visibility import check_assignable
from app.errors import Invalid, NotFound
from app.search import sync as search_sync
from models.base import utcnow
from models.tenant import BulkJob, Customer, CustomerTag, Interaction, Tag, Wallet

INLINE_BULK_LIMIT = 2000
BULK_CHUNK = 10000


def _check_bulk(db: Session, actor: Actor, req: BulkRequest) -> str | int:
    """The validated value of the action (tag name, status, owner id or wallet id)."""
    actor.require(Perm.CUSTOMERS_BULK)
    if req.action not in BULK_ACTIONS:
        raise Invalid("action", "Ação em massa inválida.")
    if (req.ids is None) == (req.filter is None):
        raise Invalid("ids", "Informe a seleção ou o filtro.")
    if req.action in ("add_tag", "remove_tag"):
        if not str(req.value).strip():
            raise Invalid("value", "Informe o valor.")
        return check_tags(db, [str(req.value)])[0]
    if req.action == "set_status":
        if str(req.value) not in STATUSES:
            raise Invalid("value", "Status inválido.")
        return str(req.value)
    if req.action == "set_wallet":
        try:
            wallet = int(req.value)
        except (TypeError, ValueError):
            wallet = 0
        if db.get(Wallet, wallet) is None:
            raise Invalid("value", "Carteira não encontrada.")
        return wallet
    try:
        owner = int(req.value)
    except (TypeError, ValueError):
        raise Invalid("value", "Responsável inválido.") from None
    check_assignable(db, actor, owner, field="value")
    return owner


def _selected_ids(db: Session, actor: Actor, ids: list[int] | None, f: CustomerFilter | None) -> list[int]:
    where = filter_clauses(db, actor, f or CustomerFilter())
    stmt = select(Customer.id).where(*where)
    if ids is not None:
        stmt = stmt.where(col(Customer.id).in_(ids))
    return [i for i in db.exec(stmt.order_by(col(Customer.id))).all() if i is not None]


def _tag_chunk(db: Session, action: str, name: str, ids: list[int]) -> list[int]:
    """Add/remove one tag on live customers among `ids`, set-based; returns the customers that changed.

    Only customer_tags is written: the customers rows (and updated_at) stay as they are, which is what
    makes a 100k-row bulk tag cheap (no UPDATE through the 15 indexes of customers).
    """
    tag_id = db.exec(select(Tag.id).where(Tag.name == name)).first()
    if tag_id is None:  # deleted since the job was queued: nothing to add or remove
        return []
    ct, c = table_of(CustomerTag), table_of(Customer)
    live = sa_select(c.c.id).where(c.c.id.in_(ids), c.c.deleted_at.is_(None))
    if action == "add_tag":
        stmt: Any = (
            pg_insert(ct)
            .from_select(["customer_id", "tag_id"], live.add_columns(literal(tag_id, BigInteger)))
            .on_conflict_do_nothing()
            .returning(ct.c.customer_id)
        )
    else:
        stmt = (
            delete(ct)
            .where(ct.c.tag_id == tag_id, ct.c.customer_id.in_(live.scalar_subquery()))
            .returning(ct.c.customer_id)
        )
    return [r[0] for r in db.exec(stmt)]


def _field_chunk(db: Session, action: str, value: str | int, ids: list[int]) -> tuple[list[int], str]:
    """Set the owner, the status or the wallet of live customers among `ids`; returns those changed and
    a summary."""
    table = table_of(Customer)
    stmt = update(table).where(table.c.id.in_(ids), table.c.deleted_at.is_(None))
    if action == "assign_owner":
        stmt = stmt.where(table.c.owner_id.is_distinct_from(value)).values(owner_id=value)
        summary = "Responsável alterado em massa"
    elif action == "set_wallet":
        stmt = stmt.where(table.c.wallet_id.is_distinct_from(value)).values(wallet_id=value)
        summary = "Carteira alterada em massa"
    else:
        stmt = stmt.where(table.c.status != value).values(status=value)
        summary = f"Status alterado para {STATUSES.get(str(value), value)}"
    changed = [r[0] for r in db.exec(stmt.values(updated_at=func.now()).returning(table.c.id))]
    search_sync.mark_dirty(db, changed)  # tags are not in the search documents
    return changed, summary


def _note_chunk(
    db: Session, actor: Actor, *, action: str, value: str | int, changed: list[int], summary: str
) -> None:
    """One INSERT of the timeline rows of a chunk."""
    kind = "status_change" if action == "set_status" else "field_change"
    payload = {"bulk": True, "action": action, "value": value}
    db.exec(
        insert(table_of(Interaction)).from_select(
            ["customer_id", "kind", "summary", "payload", "actor_id", "origin"],
            sa_select(
                func.unnest(cast(changed, ARRAY(BigInteger))),
                literal(kind),
                literal(summary),
                cast(payload, JSONB),
                literal(actor.user_id),
                literal("user" if actor.user_id else "system"),
            ),
        )
    )


def _apply_chunk(db: Session, actor: Actor, *, action: str, value: str | int, ids: list[int]) -> int:
    """One set-based write plus one INSERT of timeline rows; returns how many customers changed."""
    if action in ("add_tag", "remove_tag"):
        changed = _tag_chunk(db, action, str(value), ids)
        verb = "adicionada" if action == "add_tag" else "removida"
        summary = f"Etiqueta {verb}: {value}"
    else:
        changed, summary = _field_chunk(db, action, value, ids)
    if changed:
        _note_chunk(db, actor, action=action, value=value, changed=changed, summary=summary)
    return len(changed)


def _selection(req: BulkRequest) -> dict[str, Any]:
    if req.ids is not None:
        return {"ids": req.ids}
    return {"filter": req.filter.model_dump(mode="json")} if req.filter else {}


def _is_small(db: Session, actor: Actor, req: BulkRequest) -> bool:
    if req.ids is not None:
        return len(req.ids) <= INLINE_BULK_LIMIT
    return not count_customers(db, actor, req.filter or CustomerFilter(), cap=INLINE_BULK_LIMIT)["capped"]


def start_bulk(db: Session, actor: Actor, req: BulkRequest) -> BulkJob:
    """Validate and either run now (small selections) or queue a job; the caller kicks the task if queued."""
    value = _check_bulk(db, actor, req)
    job = BulkJob(
        action=req.action,
        params={"value": value},
        selection=_selection(req),
        created_by=actor.user_id,
        state="queued",
    )
    db.add(job)
    db.flush()
    if _is_small(db, actor, req):
        run_bulk_job(db, actor, job.id or 0)
    record(
        db,
        actor,
        "customer.bulk",
        "bulk_job",
        job.id,
        None,
        {"action": req.action, "value": value, "selection": job.selection},
    )
    return job


def _own_job(db: Session, actor: Actor, job_id: int) -> BulkJob:
    job = db.get(BulkJob, job_id)
    if job is None or job.created_by != actor.user_id:
        raise NotFound("Ação em massa não encontrada.")
    return job


def begin_bulk_job(db: Session, actor: Actor, job_id: int) -> tuple[BulkJob, list[int]]:
    """Mark a job running and resolve its selection to ids, against the actor's visibility now."""
    job = _own_job(db, actor, job_id)
    if job.state == "done":
        return job, []
    selection = job.selection
    f = CustomerFilter.model_validate(selection["filter"]) if "filter" in selection else None
    ids = _selected_ids(db, actor, selection.get("ids"), f)
    job.state, job.total, job.done, job.started_at = "running", len(ids), 0, utcnow()
    job.params = {**job.params, "changed": 0}
    db.add(job)
    return job, ids


def apply_bulk_chunk(db: Session, actor: Actor, job_id: int, *, ids: list[int]) -> int:
    """Apply one chunk and count it on the job row atomically (chunks may run in parallel sessions)."""
    job = _own_job(db, actor, job_id)
    changed = _apply_chunk(db, actor, action=job.action, value=job.params["value"], ids=ids)
    table = table_of(BulkJob)
    db.exec(
        update(table)
        .where(table.c.id == job_id)
        .values(
            done=table.c.done + len(ids),
            params=func.jsonb_set(
                table.c.params,
                cast(["changed"], ARRAY(Text)),
                func.to_jsonb(func.coalesce(table.c.params["changed"].astext.cast(BigInteger), 0) + changed),
            ),
            updated_at=func.now(),
        )
    )
    return changed


def finish_bulk_job(db: Session, job_id: int, error: str | None = None) -> BulkJob:
    job = db.get(BulkJob, job_id)
    if job is None:
        raise NotFound("Ação em massa não encontrada.")
    db.refresh(job)
    job.state, job.finished_at, job.error = ("failed" if error else "done"), utcnow(), error
    db.add(job)
    return job


def chunks(ids: list[int], size: int = BULK_CHUNK) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def run_bulk_job(
    db: Session,
    actor: Actor,
    job_id: int,
    *,
    checkpoint: Callable[[], None] | None = None,
    chunk: int = BULK_CHUNK,
) -> BulkJob:
    """Apply a job chunk by chunk in this session; `checkpoint` (the task's commit) makes progress visible."""
    job, ids = begin_bulk_job(db, actor, job_id)
    if job.state == "done":
        return job
    if checkpoint:
        checkpoint()
    for part in chunks(ids, chunk):
        apply_bulk_chunk(db, actor, job_id, ids=part)
        if checkpoint:
            checkpoint()
    return finish_bulk_job(db, job_id)


def get_bulk_job(db: Session, actor: Actor, job_id: int) -> BulkJob:
    actor.require(Perm.CUSTOMERS_BULK)
    job = db.get(BulkJob, job_id)
    if job is None or (job.created_by != actor.user_id and not actor.sees_all):
        raise NotFound("Ação em massa não encontrada.")
    return job
