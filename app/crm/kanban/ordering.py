"""Gap ordering of cards inside a column: positions are spaced STEP apart, a move writes one row.

A card dropped between two neighbours takes the midpoint of their positions. Only when two
neighbours have no integer left between them are a few cards after the drop point respread
(a local rebalance: a small window, grown only while it is still too tight); a column is never
renumbered as a whole. Ties (two concurrent drops at the same spot) are legal: the board orders by
(position, id), so a tie is a stable order, and the next move between them rebalances locally.
"""

from sqlalchemy import func, tuple_, update
from sqlmodel import Session, col, select

from app.crm.tables import table_of
from models.tenant import Opportunity

STEP = 65_536
# Cards respread at first when a gap is exhausted; doubled while the window is still too tight.
REBALANCE_WINDOW = 8


def append_position(db: Session, stage_id: int) -> int:
    """The position after the last card of the column (STEP for an empty column)."""
    last = db.exec(select(func.max(Opportunity.position)).where(Opportunity.stage_id == stage_id)).one()
    return (int(last) if last is not None else 0) + STEP


def _previous_position(db: Session, stage_id: int, position: int, row_id: int, moving_id: int) -> int:
    prev = db.exec(
        select(Opportunity.position)
        .where(
            Opportunity.stage_id == stage_id,
            Opportunity.id != moving_id,
            tuple_(col(Opportunity.position), col(Opportunity.id)) < tuple_(position, row_id),
        )
        .order_by(col(Opportunity.position).desc(), col(Opportunity.id).desc())
        .limit(1)
    ).first()
    return int(prev) if prev is not None else 0


def position_before(db: Session, stage_id: int, before: Opportunity, moving_id: int) -> int:
    """A position just before `before` in its column, rebalancing a few neighbours if needed."""
    assert before.id is not None
    low = _previous_position(db, stage_id, before.position, before.id, moving_id)
    if before.position - low >= 2:
        return (low + before.position) // 2
    return _rebalance_from(db, stage_id, low, before, moving_id)


def _rebalance_from(db: Session, stage_id: int, low: int, before: Opportunity, moving_id: int) -> int:
    """Respread the cards from `before` on so there is room right after `low`; returns that room.

    Takes the first `window` cards from `before`; if the card after them leaves enough integers
    for window + 1 evenly spaced slots, they are rewritten there, else the window doubles. At the
    column's end the space is unbounded, so this always ends.
    """
    assert before.id is not None
    table = table_of(Opportunity)
    window = REBALANCE_WINDOW
    while True:
        rows = db.exec(
            select(Opportunity.id, Opportunity.position)
            .where(
                Opportunity.stage_id == stage_id,
                Opportunity.id != moving_id,
                tuple_(col(Opportunity.position), col(Opportunity.id)) >= tuple_(before.position, before.id),
            )
            .order_by(col(Opportunity.position), col(Opportunity.id))
            .limit(window + 1)
        ).all()
        if len(rows) <= window:
            high = low + (len(rows) + 2) * STEP  # end of column: room without limit
            shifted = rows
        else:
            high = int(rows[-1][1])
            shifted = rows[:-1]
        gap = (high - low) // (len(shifted) + 2)
        if gap >= 2:
            for index, (row_id, _) in enumerate(shifted, start=2):
                db.exec(update(table).where(table.c.id == row_id).values(position=low + index * gap))
            db.expire(before)  # rewritten by the Core UPDATE above
            return low + gap
        window *= 2
