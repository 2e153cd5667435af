"""Helpers: write a small file, create the import through the service, run the pipeline inline."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.importing import jobs, pipeline
from app.storage import LocalStorage
from tenants.database import session


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


def queue_import(tenant, storage: LocalStorage, path: Path, **opts: Any) -> int:
    """Creates an import of `path` through the service, as the tenant's admin; returns its id."""
    with session(tenant.schema) as db:
        job = jobs.create_import(
            db, tenant.actor("admin"), jobs.ImportOptions(**opts), local_path=path, storage=storage
        )
        db.commit()
        assert job.id is not None
        return job.id


@pytest.fixture
def run_import(tenant, storage: LocalStorage, tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """run_import(content, name="clientes.csv", **ImportOptions fields) -> report (import id in "id")."""
    counter = {"n": 0}

    def _run(content: str | bytes, name: str = "clientes.csv", **opts: Any) -> dict[str, Any]:
        counter["n"] += 1
        path = tmp_path / f"in{counter['n']}_{name}"
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        import_id = queue_import(tenant, storage, path, **opts)
        report = pipeline.run(tenant.schema, import_id, storage=storage)
        report["id"] = import_id
        return report

    return _run
