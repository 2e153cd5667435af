"""Imported tags land in customer_tags: missing tags rows are created by name, re-imports merge or
replace them by policy, and a tags-only change is reported without rewriting the customers row."""

from typing import Any

from sqlmodel import select

from app.crm import tags
from models.tenant import Customer, Interaction, Tag
from tenants.database import session

HEAD = "Nome;Telefone;Etiquetas\n"


def _state(schema: str) -> tuple[dict[str, list[str]], dict[str, Any]]:
    with session(schema) as db:
        rows = db.exec(select(Customer.id, Customer.name, Customer.updated_at)).all()
        names = tags.names_of(db, [r[0] for r in rows])
        return {r[1]: names[r[0]] for r in rows}, {r[1]: r[2] for r in rows}


def test_import_creates_missing_tags_and_attaches_them(run_import, tenant) -> None:
    with session(tenant.schema) as db:
        db.add(Tag(name="vip", color="yellow"))
        db.commit()
    long_tag = "y" * 70
    r = run_import(
        HEAD
        + "Ana;11987654321;vip, Novo Cliente\n"
        + "Bia;21999998888;\n"
        + f"Caio;31988887777; Novo Cliente | vip |{long_tag}\n",
        source="erp",
        mapping={"Nome": "name", "Telefone": "phone", "Etiquetas": "tags"},
    )
    assert r["created"] == 3
    by_name, _ = _state(tenant.schema)
    # Names are trimmed and cut to the 60 characters a tag name holds.
    assert by_name == {"Ana": ["Novo Cliente", "vip"], "Bia": [], "Caio": ["Novo Cliente", "vip", "y" * 60]}
    with session(tenant.schema) as db:
        colours = {t.name: t.color for t in db.exec(select(Tag)).all()}
    assert colours == {
        "vip": "yellow",
        "Novo Cliente": "purple",
        "y" * 60: "purple",
    }  # existing tag kept as it was


def test_reimport_merges_or_replaces_tags_without_touching_the_row(run_import, tenant) -> None:
    run_import(HEAD + "Ana;11987654321;vip\nBia;21999998888;\nCaio;31988887777;antigo\n", source="erp")
    _, stamps = _state(tenant.schema)
    # merge: the file's tags are added to what each customer has.
    r = run_import(
        HEAD + "Ana;11987654321;promo\nBia;21999998888;vip\nCaio;31988887777;\n", source="erp", dedupe="merge"
    )
    assert (r["updated"], r["unchanged"]) == (2, 1) and r["changed_fields"] == {"tags": 2}
    by_name, after = _state(tenant.schema)
    assert by_name == {"Ana": ["promo", "vip"], "Bia": ["vip"], "Caio": ["antigo"]}
    assert after == stamps  # tags-only changes leave customers.updated_at alone
    with session(tenant.schema) as db:
        events = db.exec(select(Interaction.payload).where(Interaction.kind == "import")).all()
    assert sorted(p["fields"] for p in events) == [["tags"], ["tags"]]
    # The same file again changes nothing.
    r = run_import(
        HEAD + "Ana;11987654321;promo\nBia;21999998888;vip\nCaio;31988887777;\n", source="erp", dedupe="merge"
    )
    assert (r["updated"], r["unchanged"]) == (0, 3)
    # keep-last: a row with tags makes them the customer's tags; a row without keeps them.
    r = run_import(
        HEAD + "Ana;11987654321;novo\nBia;21999998888;\nCaio;31988887777;antigo\n",
        source="erp",
        dedupe="keep-last",
    )
    assert (r["updated"], r["unchanged"]) == (1, 2) and r["changed_fields"] == {"tags": 1}
    by_name, _ = _state(tenant.schema)
    assert by_name == {"Ana": ["novo"], "Bia": ["vip"], "Caio": ["antigo"]}
