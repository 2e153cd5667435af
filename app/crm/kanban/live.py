"""Live boards: a revision per pipeline (app.live, namespace "kanban"), bumped after a commit that changed
its cards; an open /kanban polls it (every ~2 s) and re-reads its board when it moved, so other people's
moves show up without a reload."""

from sqlmodel import Session

from app import live

NAMESPACE = "kanban"


def touch(db: Session, *pipeline_ids: int) -> None:
    """Bump these pipelines' revisions once `db` commits."""
    live.touch(db, NAMESPACE, *pipeline_ids)


def revision(schema: str, pipeline_id: int) -> int:
    """The pipeline's current revision (0 when nothing changed yet; -1 when Redis cannot be read)."""
    return live.revision(schema, NAMESPACE, pipeline_id)
