"""Demo/benchmark cards: N opportunities spread over the open stages of the default pipeline.

One INSERT ... SELECT over generate_series (plus each card's entry row in stage_history), so 10,000
cards take well under a second. Cards are appended after each column's last position with the
board's STEP spacing, on existing customers (round-robin) and owned by the customer's owner.
"""

from sqlalchemy import text
from sqlmodel import Session, col, select

from app.crm.kanban.ordering import STEP
from app.errors import Conflict
from models.tenant import Customer, Pipeline
from tenants.naming import is_tenant_schema

_INSERT = """
WITH st AS (
    SELECT s.id, row_number() OVER (ORDER BY s.position, s.id) - 1 AS k, count(*) OVER () AS n,
           coalesce((SELECT max(o.position) FROM {s}.opportunities o WHERE o.stage_id = s.id), 0) AS base
    FROM {s}.stages s
    WHERE s.pipeline_id = :pipeline AND s.archived_at IS NULL AND s.outcome IS NULL
), cu AS (
    SELECT id, owner_id, row_number() OVER (ORDER BY id) - 1 AS k, count(*) OVER () AS n
    FROM {s}.customers WHERE deleted_at IS NULL
), rows AS (
    SELECT g, st.id AS stage_id, st.base, cu.id AS customer_id, cu.owner_id
    FROM generate_series(1, :n) g
    JOIN st ON st.k = g % st.n
    JOIN cu ON cu.k = (g::bigint * 7919) % cu.n
), ins AS (
    INSERT INTO {s}.opportunities (customer_id, pipeline_id, stage_id, title, value, expected_close,
        owner_id, position, stage_entered_at, created_at, updated_at)
    SELECT customer_id, :pipeline, stage_id, 'Oportunidade demo ' || g,
        round((50 + random() * 20000)::numeric, 2), current_date + (g % 120)::int, owner_id,
        base + row_number() OVER (PARTITION BY stage_id ORDER BY g) * :step,
        now() - (g % 45) * interval '1 day', now() - (g % 90) * interval '1 day', now()
    FROM rows
    RETURNING id, pipeline_id, stage_id, stage_entered_at
)
INSERT INTO {s}.stage_history (opportunity_id, pipeline_id, from_stage_id, to_stage_id, moved_at)
SELECT id, pipeline_id, NULL, stage_id, stage_entered_at FROM ins
"""


def seed_opportunities(db: Session, schema: str, n: int, seed: int = 42) -> int:
    """Add `n` demo cards to the default pipeline of `schema`; returns how many were added."""
    if not is_tenant_schema(schema):
        raise ValueError(f"not a tenant schema: {schema!r}")
    pipeline = db.exec(
        select(Pipeline)
        .where(col(Pipeline.archived_at).is_(None))
        .order_by(col(Pipeline.is_default).desc(), col(Pipeline.id))
    ).first()
    if pipeline is None:
        raise Conflict("Esta organização não tem funil de vendas.")
    if db.exec(select(Customer.id).limit(1)).first() is None:
        raise Conflict("Esta organização não tem clientes; gere clientes antes das oportunidades.")
    conn = db.connection()
    conn.execute(text("SELECT setseed(:seed)"), {"seed": (seed % 1000) / 1000})
    result = conn.execute(
        text(_INSERT.replace("{s}", f'"{schema}"')), {"pipeline": pipeline.id, "n": n, "step": STEP}
    )
    return int(result.rowcount)
