"""First big import into an empty tenant: secondary indexes and the contacts foreign key dropped,
restored identical (and validated) at the end, also after a failure, and by the resume after a worker
that died without cleaning up."""

import pytest
from sqlalchemy import text

from app.importing import pipeline, readers
from app.importing.pipeline import bulk, writers
from models.tenant import ImportJob
from tenants.database import session
from tests.integration.importing.conftest import queue_import

HEAD = "Nome;Telefone 1;E-mail\n"


def index_defs(schema: str) -> list[str]:
    """Index definitions of customers/contacts/customer_tags, then every foreign and primary key of the
    schema (with its validation): bulk mode drops those that reference customers and contacts too."""
    with session(schema) as db:
        rows = db.exec(
            text(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = :s "
                "AND tablename IN ('customers', 'contacts', 'customer_tags') ORDER BY indexname"
            ),
            params={"s": schema},
        ).all()
        fks = db.exec(
            text(
                "SELECT k.conname || ' ' || pg_get_constraintdef(k.oid) || ' valid=' || k.convalidated "
                "FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace "
                "WHERE n.nspname = :s AND k.contype IN ('f', 'p') ORDER BY k.conname"
            ),
            params={"s": schema},
        ).all()
    return [r[0] for r in rows] + [r[0] for r in fks]


def _spy_dropped(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of what bulk mode drops, as it drops them."""
    dropped: list[str] = []
    real = bulk.enter_bulk_mode

    def spy(*args, **kwargs):
        defs = real(*args, **kwargs)
        dropped.extend(name for name, _ in defs)
        return defs

    monkeypatch.setattr(bulk, "enter_bulk_mode", spy)
    return dropped


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing in the pipeline may catch it."""


def _job(tenant, storage, rows: int) -> int:
    path = storage.root / "bulk.csv"
    path.write_text(HEAD + "".join(f"C{i};119{i:08d};c{i}@x.com\n" for i in range(1, rows + 1)))
    return queue_import(tenant, storage, path)


def test_bulk_mode_rebuilds_the_same_indexes(tenant, storage, monkeypatch) -> None:
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    before = index_defs(tenant.schema)
    import_id = _job(tenant, storage, 300)
    report = pipeline.run(tenant.schema, import_id, storage=storage)
    assert report["created"] == 300
    assert index_defs(tenant.schema) == before
    with session(tenant.schema) as db:
        job = db.get(ImportJob, import_id)
        assert job is not None and "dropped_indexes" not in job.checkpoint
    # A second import into the now non-empty tenant keeps its indexes.
    import_id2 = _job(tenant, storage, 10)
    assert pipeline.run(tenant.schema, import_id2, storage=storage)["unchanged"] == 10


@pytest.mark.parametrize("policy", ["keep-first", "merge"])
def test_primary_keys_dropped_only_when_the_import_only_inserts(tenant, storage, monkeypatch, policy) -> None:
    """keep-first only inserts customers and contacts: their primary keys go during the load, with every
    foreign key that references them (interactions, conversations, ...), and all come back validated.
    merge updates customers an earlier batch wrote: their primary keys stay."""
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1500)  # several batches
    dropped = _spy_dropped(monkeypatch)
    before = index_defs(tenant.schema)
    path = storage.root / "bulk.csv"
    # Row 2 repeats row 1's phone in a later batch: merge writes to the customer row 1 created.
    path.write_text(
        HEAD + "".join(f"C{i};119{i:08d};c{i}@x.com\n" for i in range(1, 301)) + "D;11900000001;d@x.com\n"
    )
    import_id = queue_import(tenant, storage, path, dedupe=policy)
    report = pipeline.run(tenant.schema, import_id, storage=storage)
    assert report["created"] == 300 and report["duplicates"] == 1
    keys = {
        "customers_pkey",
        "contacts_pkey",
        "interactions_customer_id_fkey",
        "conversations_contact_id_fkey",
    }
    if policy == "keep-first":
        assert keys <= set(dropped)
    else:
        assert not keys & set(dropped)
    assert index_defs(tenant.schema) == before  # every key back, every foreign key validated
    with session(tenant.schema) as db, pytest.raises(Exception, match="interactions_customer_id_fkey"):
        db.exec(
            text(
                f'INSERT INTO "{tenant.schema}".interactions (customer_id, kind, summary, origin) '
                "VALUES (999999999, 'note', 'x', 'user')"
            )
        )


def test_bulk_mode_keeps_partial_indexes_the_import_never_enters(tenant, storage, monkeypatch) -> None:
    """No owner, wallet or document column: every new customer has owner_id, wallet_id, document and
    source_key NULL, so the partial indexes on those columns stay (nothing enters them; rebuilding
    would scan the table for nothing) while the others are dropped and rebuilt."""
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    dropped = _spy_dropped(monkeypatch)
    before = index_defs(tenant.schema)
    report = pipeline.run(tenant.schema, _job(tenant, storage, 300), storage=storage)
    assert report["created"] == 300
    kept = {
        "ix_customers_owner_name",
        "ix_customers_owner_status",
        "ix_customers_document",
        "ix_customers_wallet",
    }
    assert not kept & set(dropped)
    assert {"ix_customers_name_id", "ix_customers_status", "uq_contacts_kind_value"} <= set(dropped)
    assert index_defs(tenant.schema) == before


def test_killed_worker_in_bulk_mode_is_finished_by_the_resume(tenant, storage, monkeypatch) -> None:
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1500)
    before = index_defs(tenant.schema)
    import_id = _job(tenant, storage, 400)
    real = writers.write_batch
    calls = {"n": 0}

    def dies(db, plan, prep):
        calls["n"] += 1
        if calls["n"] == 3:
            raise WorkerKilled()
        return real(db, plan, prep)

    monkeypatch.setattr(writers, "write_batch", dies)
    with pytest.raises(WorkerKilled):
        pipeline.run(tenant.schema, import_id, storage=storage)
    assert len(index_defs(tenant.schema)) < len(before)  # still dropped: nobody cleaned up
    monkeypatch.setattr(writers, "write_batch", real)
    report = pipeline.run(tenant.schema, import_id, storage=storage)  # the task is delivered again
    assert (report["read"], report["created"]) == (400, 400)
    assert index_defs(tenant.schema) == before


def test_failure_in_bulk_mode_restores_indexes(tenant, storage, monkeypatch) -> None:
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    before = index_defs(tenant.schema)
    import_id = _job(tenant, storage, 50)

    def broken(db, plan, prep):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writers, "write_batch", broken)
    with pytest.raises(RuntimeError):
        pipeline.run(tenant.schema, import_id, storage=storage)
    assert index_defs(tenant.schema) == before


@pytest.mark.parametrize("policy", ["keep-first", "merge", "keep-last"])
def test_bulk_mode_writes_each_contact_once_across_batches(tenant, storage, monkeypatch, policy) -> None:
    """Rows of later batches repeat phones/e-mails of earlier ones: with the contacts unique index down
    (keep-first, merge) no key may be written twice, and none may be lost."""
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1500)
    before = index_defs(tenant.schema)
    path = storage.root / "bulk-dups.csv"
    lines = [f"C{i};119{i:08d};c{i}@x.com\n" for i in range(1, 201)]
    # Each repeats an earlier customer's phone and brings a new e-mail (merge adds it as a contact).
    lines += [f"D{i};(11) 9{i:08d};d{i}@x.com\n" for i in range(1, 201, 2)]
    path.write_text(HEAD + "".join(lines))
    import_id = queue_import(tenant, storage, path, dedupe=policy)
    report = pipeline.run(tenant.schema, import_id, storage=storage)
    assert (report["created"], report["duplicates"]) == (200, 100)
    assert index_defs(tenant.schema) == before
    with session(tenant.schema) as db:
        kinds = dict(
            db.exec(text(f'SELECT kind, count(*) FROM "{tenant.schema}".contacts GROUP BY kind')).all()
        )
        extra = db.exec(
            text(
                f'SELECT count(*) FROM "{tenant.schema}".contacts c JOIN "{tenant.schema}".contacts o '
                "ON o.customer_id = c.customer_id WHERE c.value LIKE 'd%%' AND o.value LIKE 'c%%'"
            )
        ).one()[0]
    assert kinds["phone"] == 200
    # keep-first drops the duplicates' other contacts; merge and keep-last add them to the customer.
    assert kinds["email"] == (200 if policy == "keep-first" else 300)
    assert extra == (0 if policy == "keep-first" else 100)


def test_contact_added_elsewhere_in_bulk_mode_stays_with_its_customer(tenant, storage, monkeypatch) -> None:
    """While the unique index is down another writer adds a phone the import also writes: the rebuild
    still succeeds, the other customer keeps the phone."""
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    import_id = _job(tenant, storage, 30)
    real = writers.write_batch

    other_id: list[int] = []

    def with_concurrent_writer(db, plan, prep):
        if not other_id:
            from app.crm.customers import CustomerIn, create_customer

            with session(tenant.schema) as other:
                made = create_customer(
                    other,
                    tenant.actor("admin"),
                    CustomerIn.model_validate(
                        {"name": "Outro", "contacts": [{"kind": "phone", "value": "(11) 90000-0007"}]}
                    ),
                )
                other.commit()
                other_id.append(made.id)
        return real(db, plan, prep)

    monkeypatch.setattr(writers, "write_batch", with_concurrent_writer)
    report = pipeline.run(tenant.schema, import_id, storage=storage)
    assert report["created"] == 30
    with session(tenant.schema) as db:
        owners = db.exec(
            text(f"SELECT customer_id FROM \"{tenant.schema}\".contacts WHERE value = '+5511900000007'")
        ).all()
    assert [r[0] for r in owners] == other_id


def test_bulk_mode_keeps_the_tags_of_imported_customers(tenant, storage, monkeypatch) -> None:
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    before = index_defs(tenant.schema)
    path = storage.root / "bulk-tags.csv"
    path.write_text(
        "Nome;Telefone 1;Tags\n"
        + "".join(f"C{i};119{i:08d};vip,{'ouro' if i % 2 else 'prata'}\n" for i in range(1, 41))
    )
    import_id = queue_import(tenant, storage, path)
    assert pipeline.run(tenant.schema, import_id, storage=storage)["created"] == 40
    assert index_defs(tenant.schema) == before  # customer_tags keys back and validated
    with session(tenant.schema) as db:
        counts = dict(
            db.exec(
                text(
                    f'SELECT g.name, count(*) FROM "{tenant.schema}".customer_tags ct '
                    f'JOIN "{tenant.schema}".tags g ON g.id = ct.tag_id GROUP BY g.name'
                )
            ).all()
        )
    assert counts == {"vip": 40, "ouro": 20, "prata": 20}


def test_tag_added_elsewhere_while_the_tags_key_is_down(tenant, storage, monkeypatch) -> None:
    """customer_tags' primary key is down during a bulk import; a user who tags an imported customer
    with a tag the import also gave it (a pair written twice) does not stop the key from coming back:
    one copy of the pair stays."""
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    before = index_defs(tenant.schema)
    path = storage.root / "bulk-tags2.csv"
    path.write_text("Nome;Telefone 1;Tags\n" + "".join(f"C{i};119{i:08d};vip\n" for i in range(1, 21)))
    import_id = queue_import(tenant, storage, path)
    real = bulk.restore_indexes

    def tag_meanwhile(db, import_id, defs, maintain=False):
        if defs:  # the import's rows are in, its keys still down: the same pair once more, elsewhere
            with session(tenant.schema) as other:
                other.exec(
                    text(
                        f'INSERT INTO "{tenant.schema}".customer_tags (customer_id, tag_id) '
                        f'SELECT customer_id, tag_id FROM "{tenant.schema}".customer_tags LIMIT 1 '
                        "ON CONFLICT DO NOTHING"
                    )
                )
                other.commit()
                total = other.exec(text(f'SELECT count(*) FROM "{tenant.schema}".customer_tags')).one()[0]
                assert total == 21  # the pair really is there twice
        return real(db, import_id, defs, maintain)

    monkeypatch.setattr(bulk, "restore_indexes", tag_meanwhile)
    assert pipeline.run(tenant.schema, import_id, storage=storage)["created"] == 20
    assert index_defs(tenant.schema) == before  # the key is back
    with session(tenant.schema) as db:
        pairs = db.exec(
            text(
                f'SELECT count(*), count(DISTINCT (customer_id, tag_id)) FROM "{tenant.schema}".customer_tags'
            )
        ).one()
    assert tuple(pairs) == (20, 20)
