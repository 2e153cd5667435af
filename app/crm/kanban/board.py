"""The board query: one column per open stage with its card count and total value, the first page
of cards of each column, and a column's next page by keyset cursor (position, id).

Counts and totals are one GROUP BY over the filtered pipeline; each column page reads at most
PAGE_SIZE + 1 rows from the (stage_id, position) index, so 10,000 open cards stay cheap. Card
extras (tags, next appointment, last contact, owner name) are read in one query each for the page.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import exists, func, tuple_
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm.kanban import hints
from app.crm.kanban.pipelines import get_pipeline, open_stages
from app.crm.kanban.rules import required_for
from app.crm.opportunities import visible_opportunity
from app.crm.pagination import decode_cursor, encode_cursor
from app.crm.visibility import customer_visible
from app.errors import Invalid, NotFound
from app.formatting import money_br
from models.base import utcnow
from models.platform import User
from models.tenant import Appointment, Customer, CustomerTag, Interaction, Opportunity, Stage, Tag

PAGE_SIZE = 50
CURSOR_KEY = "kanban"
# Interactions that count as "contact" for the no-contact hint.
CONTACT_KINDS = ("message_in", "message_out", "call", "note")


class BoardFilter(BaseModel):
    """Board filters; `owner_id` is a user ("me" is the actor's id; "my team" is a manager's default view)."""

    owner_id: int | None = None
    # "Minha equipe": cards owned by users of the actor's team (the actor alone when it has none).
    team: bool = False
    tag_id: int | None = None
    q: str | None = Field(default=None, max_length=120)
    stage_id: int | None = None
    created_from: date | None = None
    created_to: date | None = None
    close_from: date | None = None
    close_to: date | None = None
    value_min: Decimal | None = Field(default=None, ge=0)
    value_max: Decimal | None = Field(default=None, ge=0)


class Card(BaseModel):
    id: int
    title: str
    value: Decimal
    value_label: str
    customer_id: int
    customer_name: str
    owner_id: int | None
    owner_name: str
    stage_id: int
    position: int
    expected_close: date | None
    days_in_stage: int
    next_appointment_at: datetime | None
    score: int
    tags: list[str]
    hint: str | None
    loss_reason: str | None


class Column(BaseModel):
    stage_id: int
    name: str
    color: str
    outcome: str | None
    wip_limit: int | None
    required_fields: list[str]
    count: int
    total: Decimal
    total_label: str
    cards: list[Card] = Field(default_factory=list)
    next_cursor: str | None = None


class Board(BaseModel):
    pipeline_id: int
    name: str
    columns: list[Column]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _team_ids(actor: Actor) -> Any:
    """The actor's team as a subquery on platform.users (same tenant, same `team`)."""
    if actor.team is None:
        return [actor.user_id or 0]
    return select(User.id).where(User.tenant_id == actor.tenant_id, User.team == actor.team)


def filter_conditions(actor: Actor, pipeline_id: int, f: BoardFilter) -> list[Any]:
    """SQL conditions for the visible, filtered cards of a pipeline (callers join Customer)."""
    conds: list[Any] = [
        Opportunity.pipeline_id == pipeline_id,
        col(Customer.deleted_at).is_(None),
        customer_visible(actor),
    ]
    if f.owner_id is not None:
        conds.append(Opportunity.owner_id == f.owner_id)
    if f.team:
        conds.append(col(Opportunity.owner_id).in_(_team_ids(actor)))
    if f.stage_id is not None:
        conds.append(Opportunity.stage_id == f.stage_id)
    if f.tag_id is not None:
        conds.append(
            exists().where(
                col(CustomerTag.customer_id) == col(Customer.id), col(CustomerTag.tag_id) == f.tag_id
            )
        )
    if f.q and f.q.strip():
        conds.append(col(Customer.name).ilike(f"%{_escape_like(f.q.strip())}%", escape="\\"))
    if f.created_from is not None:
        conds.append(func.date(Opportunity.created_at) >= f.created_from)
    if f.created_to is not None:
        conds.append(func.date(Opportunity.created_at) <= f.created_to)
    if f.close_from is not None:
        conds.append(col(Opportunity.expected_close) >= f.close_from)
    if f.close_to is not None:
        conds.append(col(Opportunity.expected_close) <= f.close_to)
    if f.value_min is not None:
        conds.append(col(Opportunity.value) >= f.value_min)
    if f.value_max is not None:
        conds.append(col(Opportunity.value) <= f.value_max)
    return conds


def _page(
    db: Session, actor: Actor, stage: Stage, f: BoardFilter, cursor: str | None
) -> tuple[list[Card], str | None]:
    stmt = (
        select(Opportunity, Customer.name, Customer.score)
        .join(Customer, col(Customer.id) == Opportunity.customer_id)
        .where(*filter_conditions(actor, stage.pipeline_id, f), Opportunity.stage_id == stage.id)
        .order_by(col(Opportunity.position), col(Opportunity.id))
        .limit(PAGE_SIZE + 1)
    )
    if cursor:
        position, row_id = decode_cursor(cursor, CURSOR_KEY)
        stmt = stmt.where(
            tuple_(col(Opportunity.position), col(Opportunity.id)) > tuple_(int(position), row_id)
        )
    rows = list(db.exec(stmt).all())
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    cards = _cards(db, stage, rows)
    next_cursor = None
    if more and rows:
        last = rows[-1][0]
        next_cursor = encode_cursor(CURSOR_KEY, last.position, last.id or 0)
    return cards, next_cursor


def _cards(db: Session, stage: Stage, rows: list[Any]) -> list[Card]:
    if not rows:
        return []
    customer_ids = sorted({opp.customer_id for opp, _, _ in rows})
    owner_ids = sorted({opp.owner_id for opp, _, _ in rows if opp.owner_id is not None})
    tags: dict[int, list[str]] = {}
    for customer_id, name in db.exec(
        select(CustomerTag.customer_id, Tag.name)
        .join(Tag, col(Tag.id) == CustomerTag.tag_id)
        .where(col(CustomerTag.customer_id).in_(customer_ids))
        .order_by(col(Tag.name))
    ):
        tags.setdefault(customer_id, []).append(name)
    next_appt = dict(
        db.exec(
            select(Appointment.customer_id, func.min(Appointment.starts_at))
            .where(col(Appointment.customer_id).in_(customer_ids), col(Appointment.done_at).is_(None))
            .group_by(col(Appointment.customer_id))
        ).all()
    )
    last_contact = dict(
        db.exec(
            select(Interaction.customer_id, func.max(Interaction.at))
            .where(col(Interaction.customer_id).in_(customer_ids), col(Interaction.kind).in_(CONTACT_KINDS))
            .group_by(col(Interaction.customer_id))
        ).all()
    )
    owners: dict[int, str] = {}
    if owner_ids:
        owners = {
            uid: name
            for uid, name in db.exec(select(User.id, User.name).where(col(User.id).in_(owner_ids))).all()
            if uid is not None
        }
    now = utcnow()
    cards = []
    for opp, customer_name, score in rows:
        days_in_stage = max(0, (now - opp.stage_entered_at).days)
        contacted = last_contact.get(opp.customer_id)
        appointment = next_appt.get(opp.customer_id)
        facts = hints.CardFacts(
            stage_name=stage.name,
            outcome=stage.outcome,
            value=opp.value,
            owner_id=opp.owner_id,
            days_in_stage=days_in_stage,
            days_since_contact=(now - contacted).days if contacted else None,
            next_appointment_at=appointment,
            now=now,
        )
        cards.append(
            Card(
                id=opp.id or 0,
                title=opp.title,
                value=opp.value,
                value_label=money_br(opp.value),
                customer_id=opp.customer_id,
                customer_name=customer_name,
                owner_id=opp.owner_id,
                owner_name=owners.get(opp.owner_id or 0, ""),
                stage_id=opp.stage_id,
                position=opp.position,
                expected_close=opp.expected_close,
                days_in_stage=days_in_stage,
                next_appointment_at=appointment,
                score=score,
                tags=tags.get(opp.customer_id, []),
                hint=hints.next_step(facts),
                loss_reason=opp.loss_reason,
            )
        )
    return cards


def board(
    db: Session,
    actor: Actor,
    pipeline_id: int,
    filters: BoardFilter | None = None,
    cursor: str | None = None,
) -> Board:
    """Columns of a pipeline with counts, totals and the first page of cards, under the filters.

    With a `cursor` (which needs the column's `stage_id` filter) that column holds its next page.
    """
    actor.require(Perm.CUSTOMERS_READ)
    f = filters or BoardFilter()
    if cursor is not None and f.stage_id is None:
        raise Invalid("stage_id", "Informe a etapa da coluna a paginar.")
    pipeline = get_pipeline(db, pipeline_id)
    stages = open_stages(db, pipeline_id)
    totals = {
        stage_id: (int(count), Decimal(total or 0))
        for stage_id, count, total in db.exec(
            select(Opportunity.stage_id, func.count(), func.sum(Opportunity.value))
            .join(Customer, col(Customer.id) == Opportunity.customer_id)
            .where(*filter_conditions(actor, pipeline_id, f))
            .group_by(col(Opportunity.stage_id))
        ).all()
    }
    columns = []
    for stage in stages:
        assert stage.id is not None
        count, total = totals.get(stage.id, (0, Decimal(0)))
        shown = f.stage_id is None or f.stage_id == stage.id
        cards, next_cursor = _page(db, actor, stage, f, cursor) if shown and count else ([], None)
        columns.append(
            Column(
                stage_id=stage.id,
                name=stage.name,
                color=stage.color,
                outcome=stage.outcome,
                wip_limit=stage.wip_limit,
                required_fields=required_for(stage),
                count=count,
                total=total,
                total_label=money_br(total),
                cards=cards,
                next_cursor=next_cursor,
            )
        )
    return Board(pipeline_id=pipeline_id, name=pipeline.name, columns=columns)


def column_page(
    db: Session,
    actor: Actor,
    pipeline_id: int,
    stage_id: int,
    cursor: str,
    filters: BoardFilter | None = None,
) -> tuple[list[Card], str | None]:
    """The next page of one column after `cursor` (from a previous page of the same column)."""
    actor.require(Perm.CUSTOMERS_READ)
    get_pipeline(db, pipeline_id)
    stage = db.get(Stage, stage_id)
    if stage is None or stage.pipeline_id != pipeline_id or stage.archived_at is not None:
        raise NotFound("Etapa não encontrada neste funil.")
    return _page(db, actor, stage, filters or BoardFilter(), cursor)


def card(db: Session, actor: Actor, opportunity_id: int) -> Card:
    """One card as the board shows it (to refresh a card pushed to other boards)."""
    actor.require(Perm.CUSTOMERS_READ)
    return card_of(db, visible_opportunity(db, actor, opportunity_id))


def card_of(db: Session, opp: Opportunity) -> Card:
    """The board's view of an opportunity already read (and visibility-checked) by the caller."""
    stage = db.get(Stage, opp.stage_id)  # in the identity map after a move: no query
    name, score = db.exec(select(Customer.name, Customer.score).where(Customer.id == opp.customer_id)).one()
    assert stage is not None
    return _cards(db, stage, [(opp, name, score)])[0]
