"""tasks.imports.run_import: the thin Taskiq wrapper runs the pipeline for a schema and import id."""

from pathlib import Path

from app.importing import jobs
from tenants.database import session


async def test_run_import_task(tenant, tmp_path: Path) -> None:
    from tasks.imports import run_import

    src = tmp_path / "c.csv"
    src.write_text("Nome|Celular|Email\nAna|11987654321|ana@x.com\nAna 2||ANA@x.com\n")
    with session(tenant.schema) as db:
        job = jobs.create_import(db, tenant.actor("admin"), jobs.ImportOptions(), local_path=src)
        db.commit()
    task = await run_import.kiq(tenant.schema, job.id)
    result = await task.wait_result(timeout=60)
    assert not result.is_err
    assert (result.return_value["created"], result.return_value["duplicates"]) == (1, 1)
    # A second delivery of the same message (at-least-once queues) changes nothing.
    again = await (await run_import.kiq(tenant.schema, job.id)).wait_result(timeout=60)
    assert again.return_value["created"] == 1
