"""The sales Kanban: gap ordering of cards, moves with their rules and history, pipeline/stage
configuration, the board query, next-step hints and stage metrics.

Plain services on a tenant Session (no Reflex, no HTTP); callers own the transaction.
"""
