"""Identity-aware dedupe (issue 14, item 1): the document decides who a row is; different valid CPF/CNPJ
never merge (the shared contact stays with the first, the later row is its own customer, a conflict);
rows without a document merge by contact. Duplicates and conflicts have issue rows: samples in the report
and a CSV (service, REST)."""

import csv
import io
from typing import Any

import pytest
from sqlmodel import select

from app.brazil.documents import CNPJ_W1, CNPJ_W2, CPF_W1, CPF_W2
from app.importing import jobs, readers
from models.tenant import Contact, Customer
from tenants.database import session

HEAD = "Nome;Telefone 1;Celular;E-mail;CPF/CNPJ;Situação;Plano\n"


def _with_check_digits(base: str, w1: list[int], w2: list[int], cpf: bool) -> str:
    digits = [int(c) for c in base]
    for weights in (w1, w2):
        s = sum(d * w for d, w in zip(digits, weights, strict=False))
        if cpf:
            dv = (s * 10) % 11
            digits.append(0 if dv == 10 else dv)
        else:
            r = s % 11
            digits.append(0 if r < 2 else 11 - r)
    return "".join(map(str, digits))


def cpf(base: str) -> str:
    return _with_check_digits(base, CPF_W1, CPF_W2, True)


def cnpj(base: str) -> str:
    return _with_check_digits(base, CNPJ_W1, CNPJ_W2, False)


CNPJS = [cnpj(f"1234567{i}0001") for i in range(1, 5)]
CPF_MARIA, CPF_JOAO, CPF_JOANA, CPF_PEDRO, CPF_IRMAO = (cpf(f"11122233{i}") for i in range(5))


def identity(r: dict[str, Any]) -> None:
    assert r["read"] == r["valid"] + r["invalid"]
    assert r["valid"] == r["created"] + r["updated"] + r["unchanged"] + r["duplicates"]


def customers(schema: str) -> dict[str, Customer]:
    with session(schema) as db:
        return {c.name: c for c in db.exec(select(Customer).order_by(Customer.id)).all()}


def contacts(schema: str) -> dict[str, int]:
    with session(schema) as db:
        return {c.value: c.customer_id for c in db.exec(select(Contact)).all()}


def dedupe_csv(schema: str, actor: Any, import_id: int) -> list[list[str]]:
    with session(schema) as db:
        body = "".join(jobs.dedupe_rows_csv(db, actor, import_id))
    return list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))


MESSY = (
    HEAD
    + (
        f"Clínica A;1133330001;;financeiro@rede.com.br;{CNPJS[0]};;\n"  # 2 created
        f"Clínica B;1133330002;;financeiro@rede.com.br;{CNPJS[1]};;\n"  # 3 own customer, conflict
        f"Clínica C;;;financeiro@rede.com.br;{CNPJS[2]};;\n"  # 4 own customer (no contact left), conflict
        f"Clínica D;1133330004;;FINANCEIRO@rede.com.br;"
        f"{CNPJS[3][:2]}.{CNPJS[3][2:5]}.{CNPJS[3][5:8]}/{CNPJS[3][8:12]}-{CNPJS[3][12:]};;\n"  # 5 conflict
        f"Maria;11987650001;;maria@x.com;{CPF_MARIA};;\n"  # 6 created
        # 7 same CPF (with its mask), another phone: a duplicate of 6
        f"Maria Souza;11987650002;;;{CPF_MARIA[:3]}.{CPF_MARIA[3:6]}.{CPF_MARIA[6:9]}-{CPF_MARIA[9:]};;\n"
        f"João;21987650003;;casal@x.com;{CPF_JOAO};;\n"  # 8 created
        f"Joana;21987650004;;casal@x.com;{CPF_JOANA};;\n"  # 9 own customer, conflict
        "Sem doc 1;31987650005;;;;;\n"  # 10 created
        "Sem doc 2;(31) 98765-0005;;semdoc@x.com;;;\n"  # 11 dup of 10 by phone
    )
)


@pytest.mark.parametrize("block", [None, 150], ids=["one-batch", "a-batch-per-row"])
def test_messy_file_keeps_people_with_their_own_documents_apart(
    run_import, tenant, monkeypatch, block
) -> None:
    if block:
        monkeypatch.setattr(readers, "BLOCK_BYTES", block)
    r = run_import(MESSY, source="legado")
    identity(r)
    assert (r["read"], r["valid"], r["created"], r["duplicates"], r["conflicts"]) == (10, 10, 8, 2, 4)
    assert r["warnings"] == {"conflito_documento": 4}
    people = customers(tenant.schema)
    assert list(people) == [
        "Clínica A",
        "Clínica B",
        "Clínica C",
        "Clínica D",
        "Maria",
        "João",
        "Joana",
        "Sem doc 1",
    ]
    assert [people[f"Clínica {x}"].document for x in "ABCD"] == CNPJS
    assert people["Joana"].document == CPF_JOANA
    owners = contacts(tenant.schema)
    ids = {name: c.id for name, c in people.items()}
    # The shared contact stays with the first; the others keep only what is theirs.
    assert owners["financeiro@rede.com.br"] == ids["Clínica A"]
    assert owners["+551133330002"] == ids["Clínica B"] and owners["+551133330004"] == ids["Clínica D"]
    assert ids["Clínica C"] not in owners.values()
    assert owners["casal@x.com"] == ids["João"] and owners["+5521987650004"] == ids["Joana"]
    assert owners["+5531987650005"] == ids["Sem doc 1"]

    conflicts = r["samples"]["conflito_documento"]
    assert [s["line"] for s in conflicts] == [3, 4, 5, 9]
    assert conflicts[0]["value"] == "linha 2, mesmo e-mail"
    assert conflicts[3]["value"] == "linha 8, mesmo e-mail"
    assert "criado como outro cliente" in conflicts[0]["message"]
    dups = r["samples"]["duplicado"]
    assert [(s["line"], s["value"]) for s in dups] == [
        (7, "linha 6, mesmo CPF"),
        (11, "linha 10, mesmo telefone"),
    ]

    rows = dedupe_csv(tenant.schema, tenant.actor("admin"), r["id"])
    assert rows[0][:5] == ["linha", "situação", "linha de referência", "cliente", "por"]
    assert rows[0][5:] == HEAD.strip().split(";")
    assert [row[0] for row in rows[1:]] == ["3", "4", "5", "7", "9", "11"]
    seven = rows[4]
    assert seven[1].startswith("Linha duplicada") and seven[2:5] == ["6", f"#{ids['Maria']}", "mesmo CPF"]
    assert seven[5] == "Maria Souza"
    assert rows[1][2:6] == ["2", f"#{ids['Clínica A']}", "mesmo e-mail", "Clínica B"]
    # The errors CSV keeps listing problems only.
    with session(tenant.schema) as db:
        errors = "".join(jobs.error_rows_csv(db, tenant.actor("admin"), r["id"], include_warnings=True))
    assert "duplicada" not in errors.lower() and errors.count("\n") == 1 + 4


def test_reimport_against_existing_customers(run_import, tenant) -> None:
    first = run_import(
        HEAD
        + f"Clínica A;1133330001;;financeiro@rede.com.br;{CNPJS[0]};;\n"
        + f"Maria;11987650001;;maria@x.com;{CPF_MARIA};;\n"
        + "Pedro;41987650009;;;;;\n",
        source="crm",
    )
    assert first["created"] == 3
    before = customers(tenant.schema)
    r = run_import(
        HEAD
        + f"Clínica B;;;financeiro@rede.com.br;{CNPJS[1]};;\n"  # 2 vs Clínica A: conflict, created
        + f"Maria S.;11900000000;;;{CPF_MARIA};;\n"  # 3 Maria by CPF: updated (name)
        + "Sem doc;;;maria@x.com;;;\n"  # 4 Maria by e-mail: duplicate of row 3
        + "Clínica A;1133330001;;;;;\n"  # 5 Clínica A by phone: unchanged
        + f"Pedro;41987650009;;;{CPF_PEDRO};;\n"  # 6 Pedro had no document: takes this one (updated)
        + f"Pedro Irmão;41987650009;;;{CPF_IRMAO};;\n",  # 7 Pedro has a CPF now: conflict, created
        source="planilha",
    )
    identity(r)
    assert (r["created"], r["updated"], r["unchanged"], r["duplicates"], r["conflicts"]) == (2, 2, 1, 1, 2)
    assert r["warnings"] == {"conflito_documento": 2}
    assert r["changed_fields"] == {"name": 1, "document": 1}
    people = customers(tenant.schema)
    assert set(people) == {"Clínica A", "Clínica B", "Maria S.", "Pedro", "Pedro Irmão"}
    assert people["Pedro"].id == before["Pedro"].id and people["Pedro"].document == CPF_PEDRO
    assert people["Maria S."].id == before["Maria"].id
    owners = contacts(tenant.schema)
    assert owners["financeiro@rede.com.br"] == before["Clínica A"].id
    assert owners["+5541987650009"] == before["Pedro"].id
    conflicts = {s["line"]: s["value"] for s in r["samples"]["conflito_documento"]}
    assert conflicts == {
        2: f"cliente #{before['Clínica A'].id}, mesmo e-mail",
        7: f"cliente #{before['Pedro'].id}, mesmo telefone",
    }
    existing = {s["line"]: s["value"] for s in r["samples"]["cliente_existente"]}
    assert existing == {
        3: f"cliente #{before['Maria'].id}, mesmo CPF",
        5: f"cliente #{before['Clínica A'].id}, mesmo telefone",
        6: f"cliente #{before['Pedro'].id}, mesmo telefone",
    }
    assert r["samples"]["duplicado"] == [
        {
            "line": 4,
            # Row 3 already reached Maria (by CPF); row 4 meets her by the e-mail she had before.
            "value": f"cliente #{before['Maria'].id}, mesmo e-mail",
            "message": r["samples"]["duplicado"][0]["message"],
        }
    ]


def test_dedupe_csv_over_rest_and_tenant_isolation(
    run_import, tenant, make_tenant, client, auth_headers
) -> None:
    r = run_import(MESSY, source="legado")
    resp = client.get(f"/api/imports/{r['id']}/duplicates.csv", headers=auth_headers(tenant, "admin"))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert "duplicadas" in resp.headers["content-disposition"]
    body = list(csv.reader(io.StringIO(resp.text.lstrip("\ufeff")), delimiter=";"))
    assert [row[0] for row in body[1:]] == ["3", "4", "5", "7", "9", "11"]
    other = client.get(f"/api/imports/{r['id']}/duplicates.csv", headers=auth_headers(make_tenant(), "admin"))
    assert other.status_code == 404
    agent = client.get(f"/api/imports/{r['id']}/duplicates.csv", headers=auth_headers(tenant, "agent"))
    assert agent.status_code == 403


def _spill_file(n: int, shift: int) -> str:
    """Rows with 120 CPFs (repeated: duplicates by document), phones and e-mails shared across different
    CPFs (conflicts) and rows without a document that merge by contact."""
    out = []
    for i in range(n):
        j = i + shift
        doc = cpf(f"{100_000_000 + j % 120:09d}") if j % 4 != 3 else ""
        email = f"e{j % 53}@x.com" if j % 2 == 0 else ""
        out.append(f"N{j};119{(j * 7) % 173:08d};;{email};{doc};;\n")
    return HEAD + "".join(out)


def test_key_map_spilled_with_its_documents_gives_the_same_results(
    make_tenant, storage, tmp_path, monkeypatch
) -> None:
    """A key map too big for its memory budget moves to a temporary table, documents included (here after
    every few keys, 250-byte batches): a first import, another source's file over those customers (their
    documents read from the database) and a re-import give what the in-memory map gives: reports, samples,
    the duplicates CSV, whose contact and document each customer ends up with."""
    from app.importing.pipeline import KeyMap, keymap
    from app.importing.pipeline import run as run_pipeline

    files = {"first": _spill_file(360, 0), "other": _spill_file(240, 200)}
    for name, body in files.items():
        (tmp_path / f"{name}.csv").write_text(body)
    monkeypatch.setattr(readers, "BLOCK_BYTES", 250)
    spilled_docs: list[int] = []
    spill = KeyMap._spill

    def counted(self: KeyMap, db: Any) -> None:
        spilled_docs.append(sum(chunk.height for chunk in self.docs))
        spill(self, db)

    monkeypatch.setattr(KeyMap, "_spill", counted)

    def outcome(budget: int) -> list[Any]:
        monkeypatch.setattr(keymap, "KEYMAP_MEMORY_ENTRIES", budget)
        t = make_tenant()
        actor = t.actor("admin")
        runs = []
        for name, source in (("first", "erp"), ("other", "planilha"), ("first", "erp")):
            with session(t.schema) as db:
                job = jobs.create_import(
                    db,
                    actor,
                    jobs.ImportOptions(source=source),
                    local_path=tmp_path / f"{name}.csv",
                    storage=storage,
                )
                db.commit()
                assert job.id is not None
            r = run_pipeline(t.schema, job.id, storage=storage)
            identity(r)
            runs.append((r, dedupe_csv(t.schema, actor, job.id)))
        people = customers(t.schema)
        names = {f"#{c.id}": name for name, c in people.items()}

        def named(text: str) -> str:
            return " ".join(names.get(word.strip(","), word) for word in text.split(" "))

        keep = ("created", "updated", "unchanged", "duplicates", "conflicts", "warnings", "changed_fields")
        reports = [
            (
                {k: r[k] for k in keep},
                {kind: [(s["line"], named(s["value"])) for s in rows] for kind, rows in r["samples"].items()},
                # A line with two issue rows (a duplicate by CPF and a conflict) lists them in either order.
                sorted([named(cell) for cell in row] for row in rows_csv),
            )
            for r, rows_csv in runs
        ]
        ids = {c.id: name for name, c in people.items()}
        return [
            reports,
            {name: c.document for name, c in people.items()},
            {value: ids[cid] for value, cid in contacts(t.schema).items()},
        ]

    in_memory = outcome(keymap.KEYMAP_MEMORY_ENTRIES)
    assert not spilled_docs
    spilled = outcome(5)
    assert spilled_docs and max(spilled_docs) > 0, "the documents must have moved with the rest"
    assert spilled == in_memory
    first = in_memory[0][0][0]
    assert first["conflicts"] > 0 and first["duplicates"] > 0 and first["warnings"]["conflito_documento"] > 0
