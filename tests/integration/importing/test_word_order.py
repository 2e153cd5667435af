"""Issue 15 (t0022): the import flags the frequent words that lead names after its ANALYZE and writes their
customer_words rows, in bulk mode (the first import into an empty tenant) and in a later incremental one,
where the triggers on customers keep the rows of the customers it creates exactly."""

import pytest
from sqlalchemy import text

from app.importing import pipeline
from app.importing.pipeline import bulk
from app.search import word_order
from tenants.database import session
from tests.integration.importing.conftest import queue_import

HEAD = "Nome;Telefone 1;E-mail\n"


def _name(i: int) -> str:
    if i % 3 == 0:
        return f"Marcelino Sobrenome{i}"
    if i % 3 == 1:
        return f"Ana Marcelino Sobrenome{i}"  # Marcelino in the middle: a row of customer_words
    return f"Telecom Loja{i} Ltda"


def _job(tenant, storage, name: str, numbers: range) -> int:
    path = storage.root / name
    path.write_text(HEAD + "".join(f"{_name(i)};119{i:08d};c{i}@x.com\n" for i in numbers))
    return queue_import(tenant, storage, path)


def _state(schema: str) -> tuple[set[str], set[tuple[str, str, int]], set[tuple[str, str, int]]]:
    with session(schema) as db:
        ordered = set(db.exec(text(f'SELECT word FROM "{schema}".search_words WHERE ordered')).scalars())
        rows = set(db.exec(text(f'SELECT word, name_key, customer_id FROM "{schema}".customer_words')).all())
        expected = set(
            db.exec(
                text(
                    f'SELECT x.word, c.name_key, c.id FROM "{schema}".customers c, '
                    "unnest(tsvector_to_array(c.name_tsv)) x(word) "
                    f'JOIN "{schema}".search_words s ON s.word = x.word WHERE s.ordered '
                    "AND NOT (c.name_key >= x.word AND c.name_key < x.word || '!')"
                )
            ).all()
        )
    return ordered, rows, expected


def test_imports_flag_leading_words_and_keep_their_rows(
    tenant, storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(word_order, "ORDERED_WORD_MIN_CUSTOMERS", 50)
    report = pipeline.run(tenant.schema, _job(tenant, storage, "a.csv", range(1, 301)), storage=storage)
    assert report["created"] == 300
    ordered, rows, expected = _state(tenant.schema)
    # marcelino leads 100 of its 200 names, ana and telecom all of theirs; ltda and the surnames do not.
    assert ordered == {"marcelino", "ana", "telecom"}
    assert rows == expected and len(rows) == 100 and {w for w, _k, _i in rows} == {"marcelino"}
    # An incremental import (the tenant is not empty): new customers' rows come from the triggers.
    report = pipeline.run(tenant.schema, _job(tenant, storage, "b.csv", range(301, 361)), storage=storage)
    assert report["created"] == 60
    ordered, rows, expected = _state(tenant.schema)
    assert rows == expected and len(rows) == 120
