"""The pipeline on real PostgreSQL: counts identity, dedupe rules, policies, re-import, timeline,
errors, resume after a crash, cancel."""

from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import select

from app.errors import Invalid
from app.importing import jobs, pipeline, readers
from app.importing.pipeline import batches, bulk, keymap, writers
from models.tenant import Contact, Customer, ImportJob, Interaction
from tenants.database import session

HEAD = "Nome;Telefone 1;Celular;E-mail;CPF/CNPJ;Situação;Plano\n"


def identity(r: dict[str, Any]) -> None:
    assert r["read"] == r["valid"] + r["invalid"]
    assert r["valid"] == r["created"] + r["updated"] + r["unchanged"] + r["duplicates"]


def customers(schema: str) -> list[Customer]:
    with session(schema) as db:
        return list(db.exec(select(Customer).order_by(Customer.id)).all())


def contacts(schema: str) -> dict[str, int]:
    with session(schema) as db:
        return {c.value: c.customer_id for c in db.exec(select(Contact)).all()}


def test_counts_dedupe_and_normalisation(run_import, tenant) -> None:
    csv = HEAD + (
        "Ana;(11) 98765-4321;;ANA@X.COM ;529.982.247-25;Ativo;Pós\n"  # 2 created
        "Bia;0xx11 3333-4444;11987654321.0;;;;\n"  # 3 dup of Ana via phone
        "Caio;abc;;;;;\n"  # 4 invalid: no valid contact
        "Duda;;;;;;\n"  # 5 invalid: no contact at all
        "Eva;21 99999-8888;;ana@x.com;;;\n"  # 6 dup of Ana via e-mail
        "Fabi;21 99999-8888;;;123;;\n"  # 7 dup of Eva (transitive -> Ana); bad doc is a warning
        "Gil;+55 31 98888-7777;;gil@x;;;\n"  # 8 created; bad e-mail warning
    )
    r = run_import(csv, source="legado")
    identity(r)
    assert (r["read"], r["valid"], r["invalid"]) == (7, 5, 2)
    assert (r["created"], r["duplicates"], r["updated"], r["unchanged"]) == (2, 3, 0, 0)
    assert r["errors"] == {"contato_invalido": 1, "sem_contato": 1}
    assert r["warnings"] == {"documento_invalido": 1, "email_invalido": 1}
    sample = r["samples"]["contato_invalido"][0]
    assert sample["line"] == 4 and "Caio" in sample["value"] and "válido" in sample["message"]
    rows = customers(tenant.schema)
    assert [c.name for c in rows] == ["Ana", "Gil"]
    ana = rows[0]
    assert ana.document == "52998224725" and ana.kind == "PF" and ana.status == "ativo"
    assert ana.source == "legado" and ana.import_id == r["id"]
    # keep-first: only Ana's own contacts; the duplicates' extra phones are not added.
    assert contacts(tenant.schema) == {
        "+5511987654321": ana.id,
        "ana@x.com": ana.id,
        "+5531988887777": rows[1].id,
    }


def test_policies(run_import, tenant, make_tenant) -> None:
    csv = HEAD + "Ana;11987654321;;;;Ativo;\nAna Maria;11987654321;21999998888;ana@x.com;;Inativo;Pós 50\n"
    r = run_import(csv, source="s", dedupe="keep-last")
    identity(r)
    (c,) = customers(tenant.schema)
    assert (c.name, c.status, c.plan) == ("Ana Maria", "inativo", "Pós 50")
    assert set(contacts(tenant.schema)) == {"+5511987654321", "+5521999998888", "ana@x.com"}


def test_merge_fills_empty_fields_and_adds_contacts(make_tenant, storage, tmp_path) -> None:
    t = make_tenant()
    actor = t.actor("manager")
    path = tmp_path / "m.csv"
    path.write_text(HEAD + "Ana;11987654321;;;;;\nOutro nome;11987654321;21999998888;ana@x.com;;Ativo;Pós\n")
    with session(t.schema) as db:
        job = jobs.create_import(
            db, actor, jobs.ImportOptions(dedupe="merge"), local_path=path, storage=storage
        )
        db.commit()
    r = pipeline.run(t.schema, job.id, storage=storage)
    identity(r)
    (c,) = customers(t.schema)
    assert (c.name, c.status, c.plan) == ("Ana", "ativo", "Pós")
    assert set(contacts(t.schema)) == {"+5511987654321", "+5521999998888", "ana@x.com"}


def test_against_existing_customers_and_conflicts(run_import, tenant) -> None:
    run_import(HEAD + "Ana;11987654321;;;;;\nBia;21999998888;;bia@x.com;;;\n", source="crm-antigo")
    r = run_import(
        HEAD
        + "Ana Paula;11987654321;;;;;\n"  # matches Ana: updated (name)
        + "Bia;;;bia@x.com;;;\n"  # matches Bia: unchanged
        + "Mix;11987654321;21999998888;;;;\n"  # Ana and Bia: conflict, attached to Ana -> dup of row 2
        + "Nova;31988887777;;;;;\n",
        source="outra",
    )
    identity(r)
    assert (r["created"], r["updated"], r["unchanged"], r["duplicates"], r["conflicts"]) == (1, 1, 1, 1, 1)
    assert r["changed_fields"] == {"name": 1}
    names = [c.name for c in customers(tenant.schema)]
    assert names == ["Ana Paula", "Bia", "Nova"]  # never merged silently
    with session(tenant.schema) as db:
        events = db.exec(select(Interaction).where(Interaction.kind == "import")).all()
        assert len(events) == 1 and events[0].payload["fields"] == ["name"] and events[0].ref_id == r["id"]


def test_reimport_same_source(run_import, tenant) -> None:
    v1 = (
        HEAD + "Ana;11987654321;;;52998224725;Ativo;\nBia;21999998888;;;;Ativo;\nCaio;31988887777;;;;Ativo;\n"
    )
    r1 = run_import(v1, source="erp")
    assert r1["created"] == 3
    # v2: Ana changed plan, Bia unchanged, Caio gone, Duda new; Ana's phone changed but her CPF matches.
    v2 = (
        HEAD
        + "Ana;11911112222;;;529.982.247-25;Ativo;Pós\nBia;21999998888;;;;Ativo;\nDuda;41977776666;;;;;\n"
    )
    r2 = run_import(v2, source="erp")
    identity(r2)
    assert (r2["created"], r2["updated"], r2["unchanged"], r2["missing"]) == (1, 1, 1, 1)
    assert r2["changed_fields"] == {"plan": 1}
    assert r2["missing_sample"][0]["name"] == "Caio"
    assert len(customers(tenant.schema)) == 4  # never deletes


def test_default_ddd_and_whatsapp(run_import, tenant) -> None:
    csv = "Nome;Fone;WhatsApp\nAna;98765-4321;(21) 98765-4321\n"
    r = run_import(csv, default_ddd="21")
    assert (r["created"], r["duplicates"]) == (1, 0)
    with session(tenant.schema) as db:
        (c,) = db.exec(select(Contact)).all()  # both columns are the same number: one contact
        assert c.value == "+5521987654321" and c.is_primary


def test_invalid_options_and_files(run_import) -> None:
    with pytest.raises(Invalid, match="DDD"):
        run_import(HEAD + "Ana;11987654321;;;;;\n", default_ddd="00")
    with pytest.raises(Invalid, match="duplicados"):
        run_import(HEAD + "Ana;11987654321;;;;;\n", dedupe="newest")
    with pytest.raises(Invalid, match="vazio"):
        run_import(b"")
    with pytest.raises(Invalid):
        run_import("Nome;Obs\nAna;x\n")  # nothing to map to a phone or e-mail
    with pytest.raises(Invalid, match="não existe"):
        run_import(HEAD, mapping={"Fone": "phone"})


def test_header_only_and_mapping_file(run_import) -> None:
    r = run_import(HEAD)
    identity(r)
    assert r["read"] == 0
    r = run_import("A;B;C\nAna;11987654321;x\n", mapping={"A": "name", "B": "phone", "C": "custom:obs"})
    assert r["created"] == 1


def test_error_rows_csv(run_import, tenant) -> None:
    r = run_import(HEAD + "Caio;abc;;;;;\nAna;11987654321;;;;;\n")
    actor = tenant.actor("admin")
    with session(tenant.schema) as db:
        body = "".join(jobs.error_rows_csv(db, actor, r["id"]))
    lines = body.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("linha;motivo;campo;valor;Nome;Telefone 1")
    assert lines[1].startswith("2;Nenhum telefone ou e-mail válido na linha.;;;Caio;abc")
    assert len(lines) == 2


@pytest.mark.parametrize("key_map_budget", [None, 40], ids=["in-memory", "temporary-table"])
def test_crash_resume_counts_every_row_once(run_import, tenant, storage, monkeypatch, key_map_budget) -> None:
    """With a small key-map budget the resumed run rebuilds the map through the temporary table too."""
    monkeypatch.setattr(readers, "BLOCK_BYTES", 2000)
    if key_map_budget:
        monkeypatch.setattr(keymap, "KEYMAP_MEMORY_ENTRIES", key_map_budget)
    rows = "".join(f"Cliente {i};119{i:08d};;c{i % 150}@x.com;;;\n" for i in range(1, 600))
    bad = HEAD + rows + "Ruim;abc;;;;;\n"
    actor = tenant.actor("admin")
    path = storage.root / "in.csv"
    path.write_text(bad)
    with session(tenant.schema) as db:
        job = jobs.create_import(
            db, actor, jobs.ImportOptions(source="crash"), local_path=path, storage=storage
        )
        db.commit()
    real = writers.write_batch
    calls = {"n": 0}

    def flaky(db, plan, prep):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("worker killed")
        return real(db, plan, prep)

    monkeypatch.setattr(writers, "write_batch", flaky)
    with pytest.raises(RuntimeError):
        pipeline.run(tenant.schema, job.id, storage=storage)
    with session(tenant.schema) as db:
        j = db.get(ImportJob, job.id)
        assert j is not None and j.state == "failed" and j.checkpoint["resume"] > 0
        partial = db.exec(text(f'SELECT count(*) FROM "{tenant.schema}".customers')).one()[0]
        assert 0 < partial < 599
        jobs.mark_for_resume(db, actor, job.id)
        db.commit()
    monkeypatch.setattr(writers, "write_batch", real)
    r = pipeline.run(tenant.schema, job.id, storage=storage)
    identity(r)
    # Reference: the same file in one go (a re-import here: every customer is then unchanged).
    clean = run_import(bad, source="crash")
    for k in ("read", "valid", "invalid", "duplicates"):
        assert r[k] == clean[k]
    assert (
        r["created"] + r["unchanged"] + r["updated"]
        == clean["created"] + clean["unchanged"] + clean["updated"]
    )
    with session(tenant.schema) as db:
        n = db.exec(
            text(f'SELECT count(*) FROM "{tenant.schema}".customers WHERE import_id = :i'),
            params={"i": job.id},
        ).one()[0]
    assert n == r["created"] == 150


def test_cancel_stops_between_batches(tenant, storage, monkeypatch) -> None:
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1000)
    actor = tenant.actor("admin")
    path = storage.root / "c.csv"
    path.write_text(HEAD + "".join(f"C{i};119{i:08d};;;;;\n" for i in range(1, 400)))
    with session(tenant.schema) as db:
        job = jobs.create_import(db, actor, jobs.ImportOptions(), local_path=path, storage=storage)
        db.commit()

    def on_progress(p: dict[str, Any]) -> None:
        with session(tenant.schema) as db:
            jobs.cancel(db, actor, job.id)
            db.commit()

    pipeline.run(tenant.schema, job.id, storage=storage, on_progress=on_progress)
    with session(tenant.schema) as db:
        status = jobs.get_import_status(db, actor, job.id).model_dump()
    assert status["state"] == "cancelled"
    identity(status)
    assert 0 < status["created"] < 399


def test_agents_cannot_import(tenant, storage, tmp_path) -> None:
    from app.errors import Forbidden

    path = tmp_path / "a.csv"
    path.write_text(HEAD + "Ana;11987654321;;;;;\n")
    with session(tenant.schema) as db, pytest.raises(Forbidden):
        jobs.create_import(db, tenant.actor("agent"), jobs.ImportOptions(), local_path=path, storage=storage)


def test_line_over_1mb_and_nul_bytes_are_per_line_errors(run_import) -> None:
    big = "x" * (1024 * 1024 + 10)
    data = (HEAD + f"Grande;11987654321;;;;{big};\nA\x00na;21999998888;;;;;\n").encode()
    r = run_import(data)
    identity(r)
    assert (r["read"], r["invalid"], r["created"]) == (2, 1, 1)
    assert r["errors"] == {"linha_longa": 1}
    assert r["samples"]["linha_longa"][0]["line"] == 2


def test_rows_fold_only_into_earlier_rows_whatever_the_batch_size(
    make_tenant, storage, tmp_path, monkeypatch
) -> None:
    # r2 shares nothing with r1 when it is read, so it is a customer of its own even though r3 later
    # links both (r3 is attached to the first and reported as a conflict).
    base = (
        HEAD + "R1;11987654321;;;;;\nR2;21999998888;;;;;\nR3;11987654321;21999998888;;;;\nR4;;;r4@x.com;;;\n"
    )
    many = base + "".join(f"N{i};319{i:08d};;n{i % 7}@x.com;;;\n" for i in range(300))
    results = []
    for block in (200, 1 << 20):
        monkeypatch.setattr(readers, "BLOCK_BYTES", block)
        t = make_tenant()
        path = tmp_path / f"o{block}.csv"
        path.write_text(many)
        with session(t.schema) as db:
            job = jobs.create_import(
                db, t.actor("admin"), jobs.ImportOptions(), local_path=path, storage=storage
            )
            db.commit()
        r = pipeline.run(t.schema, job.id, storage=storage)
        identity(r)
        results.append({k: r[k] for k in ("created", "duplicates", "conflicts")})
        if block == 200:
            assert [c.name for c in customers(t.schema)][:3] == ["R1", "R2", "R4"]
    assert results[0] == results[1] == {"created": 3 + 7, "duplicates": 1 + 293, "conflicts": 1}


def test_reimport_of_a_file_with_duplicates_has_no_false_conflicts(run_import) -> None:
    csv = (
        HEAD + "A;11987654321;;a@x.com;;;\nA2;;;a@x.com;;;\nA3;11987654321;;;;;\nB;21999998888;;b@x.com;;;\n"
    )
    first = run_import(csv, source="dup")
    again = run_import(csv, source="dup")
    identity(again)
    assert (first["created"], first["duplicates"], first["conflicts"]) == (2, 2, 0)
    assert (again["unchanged"], again["duplicates"], again["conflicts"], again["missing"]) == (2, 2, 0, 0)


def test_imported_names_are_found_with_one_typo(run_import, tenant) -> None:
    """The import records its names' words for typo correction (no trigger does it since t0004)."""
    from app.search.postgres import PostgresSearch

    search = PostgresSearch()
    r = run_import(
        HEAD + "Valdomiro Quaresma Tavares;(11) 98765-4321;;;;;\nBenedita Amaral;(21) 3333-4444;;;;;\n",
        source="legado",
    )
    assert r["created"] == 2
    admin = tenant.actor("admin")
    with session(tenant.schema) as db:
        hits = [h.name for h in search.search(db, admin, "valdomiro quaresna")]  # one letter wrong
        assert hits == ["Valdomiro Quaresma Tavares"]
        assert [h.name for h in search.search(db, admin, "benedita amarak")] == ["Benedita Amaral"]
    # A re-import that renames a customer: the new name's words are known too.
    run_import(
        HEAD + "Valdomiro Quaresma Teixeira;(11) 98765-4321;;;;;\n", source="legado", dedupe="keep-last"
    )
    with session(tenant.schema) as db:
        assert [h.name for h in search.search(db, admin, "teixeira valdomirp")] == [
            "Valdomiro Quaresma Teixeira"
        ]


def test_wallets_of_new_and_matched_customers(run_import, tenant) -> None:
    """Wallet names become wallets (created once) for new customers and, on a re-import, for the
    customers the source already had; an empty cell keeps the customer's wallet."""
    from models.tenant import Wallet

    head = "Nome;Celular;CPF;Carteira\n"
    r1 = run_import(head + "Ana;11987654321;52998224725;Varejo\nBia;21999998888;;\n", source="erp")
    assert r1["created"] == 2
    r2 = run_import(head + "Ana;11987654321;52998224725;Empresas\nBia;21999998888;;Varejo\n", source="erp")
    identity(r2)
    assert (r2["updated"], r2["changed_fields"]) == (2, {"wallet_id": 2})
    r3 = run_import(head + "Ana;11987654321;52998224725;\n", source="erp")
    assert (r3["updated"], r3["unchanged"]) == (0, 1)
    with session(tenant.schema) as db:
        wallets = {w.id: w.name for w in db.exec(select(Wallet)).all()}
        by_name = {c.name: wallets.get(c.wallet_id or 0) for c in db.exec(select(Customer)).all()}
    assert sorted(wallets.values()) == ["Empresas", "Varejo"]
    assert by_name == {"Ana": "Empresas", "Bia": "Varejo"}


def _hashes(schema: str) -> dict[str, int | None]:
    return {c.name: c.import_hash for c in customers(schema)}


def test_reimport_skips_rows_unchanged_since_the_previous_version(run_import, tenant, monkeypatch) -> None:
    """A row identical to the one that last wrote its customer (same source key, same row hash) is
    reported unchanged without a lookup or a write, so edits made in the CRM since the previous version
    stay; a row that changed in the file is applied as before; a customer whose hash is unknown (written
    before t0010, or by another policy) takes the full comparison once and gets the hash."""
    v1 = (
        HEAD
        + "Ana;11987654321;;ana@x.com;52998224725;Ativo;Pré\n"
        + "Bia;21999998888;;;11144477735;Ativo;Pré\n"
        + "Bia dup;21999998888;;bia@x.com;;Ativo;\n"  # a duplicate of Bia: never settled (no source key)
        + "Caio;31988887777;;;;Ativo;\n"  # no document: no source key, always compared
    )
    r1 = run_import(v1, source="erp")
    assert r1["created"] == 3
    first = _hashes(tenant.schema)
    assert first["Ana"] is not None and first["Bia"] is not None and first["Caio"] is not None
    # An agent edits Ana and Bia in the CRM after the first import.
    with session(tenant.schema) as db:
        db.exec(
            text(f"UPDATE \"{tenant.schema}\".customers SET plan = 'Editado' WHERE name IN ('Ana', 'Bia')")
        )
        db.commit()
    looked_up: list[str] = []
    real = batches.lookup_existing

    def spy(db, keys, import_id):
        looked_up.extend(keys.get_column("value").to_list())
        return real(db, keys, import_id)

    monkeypatch.setattr(batches, "lookup_existing", spy)
    # v2: Ana unchanged; Bia's row changed (new plan); Caio unchanged but without a source key.
    v2 = v1.replace("Bia;21999998888;;;11144477735;Ativo;Pré", "Bia;21999998888;;;11144477735;Ativo;Pós")
    r2 = run_import(v2, source="erp")
    identity(r2)
    assert (r2["created"], r2["updated"], r2["unchanged"], r2["duplicates"], r2["missing"]) == (0, 1, 2, 1, 0)
    assert r2["changed_fields"] == {"plan": 1}
    plans = {c.name: c.plan for c in customers(tenant.schema)}
    assert plans == {"Ana": "Editado", "Bia": "Pós", "Caio": None}  # Ana's edit stays; Bia's row applied
    # Ana's row was settled by its source key: none of its keys went to the database.
    assert "+5511987654321" not in looked_up and "ana@x.com" not in looked_up
    assert "+5521999998888" in looked_up and "+5531988887777" in looked_up
    second = _hashes(tenant.schema)
    assert second["Ana"] == first["Ana"] and second["Bia"] != first["Bia"]
    # Hashes lost (customers imported before t0010): the full comparison runs once and stores them.
    with session(tenant.schema) as db:
        db.exec(text(f'UPDATE "{tenant.schema}".customers SET import_hash = NULL'))
        db.commit()
    looked_up.clear()
    r3 = run_import(v2, source="erp")
    assert (r3["updated"], r3["unchanged"]) == (1, 2)  # keep-first: the file's plan wins over Ana's edit
    assert "+5511987654321" in looked_up
    assert _hashes(tenant.schema)["Ana"] == first["Ana"]
    # The same file under another policy is another row: compared in full, not skipped.
    looked_up.clear()
    r4 = run_import(v2, source="erp", dedupe="merge")
    identity(r4)
    assert "+5511987654321" in looked_up
    looked_up.clear()
    run_import(v2, source="erp", dedupe="merge")
    assert "+5511987654321" not in looked_up


def test_statistics_refreshed_only_when_an_import_wrote(run_import, monkeypatch) -> None:
    calls: list[object] = []
    real = bulk.maintain_tables
    monkeypatch.setattr(bulk, "maintain_tables", lambda db, *a: (calls.append(a), real(db, *a)))
    csv = HEAD + "Ana;11987654321;;;52998224725;Ativo;Pré\nBia;21999998888;;;;Ativo;\n"
    assert run_import(csv, source="erp")["created"] == 2 and len(calls) == 1
    assert run_import(csv, source="erp")["unchanged"] == 2 and len(calls) == 1  # nothing written
    assert run_import(csv.replace("Pré", "Pós"), source="erp")["updated"] == 1 and len(calls) == 2


def test_a_key_its_customer_has_wins_over_an_earlier_rows_conflict(run_import, tenant) -> None:
    """Row 2 links Ana's and Bia's phones (a conflict: it goes to Ana, whose phone is in its first phone
    column, Celular). Row 3 has only Bia's phone: it belongs to Bia, not to wherever the conflicting row
    went. Both candidates sit at the same column, so this pins the tie-break (candidates were sorted
    unstably: the 500k bench flipped between outcomes)."""
    run_import(HEAD + "Ana;11987654321;;;;;\nBia;21999998888;;;;;\n", source="crm")
    again = run_import(HEAD + "Mix;21999998888;11987654321;;;;\nBia;21999998888;;;;;\n", source="planilha")
    identity(again)
    assert (again["unchanged"], again["duplicates"], again["updated"], again["conflicts"]) == (1, 0, 1, 1)
    assert again["warnings"] == {"conflito": 1}
    assert [c.name for c in customers(tenant.schema)] == ["Mix", "Bia"]


def test_same_document_is_one_customer_whatever_the_contacts(run_import, tenant) -> None:
    """Two rows with one CPF and different phones are one customer (the second a duplicate "mesmo CPF");
    a row with only the second row's phone joins them too. The re-import finds the customer by its
    source key and counts the same."""
    csv = (
        HEAD
        + "Serviços;21999990001;;;52998224725;Ativo;\n"
        + "Padaria;11987654321;;padaria@x.com;529.982.247-25;Ativo;Pós\n"
        + "PADARIA;11987654321;;;;ativo;Fibra\n"
    )
    first = run_import(csv, source="erp")
    identity(first)
    assert (first["created"], first["duplicates"], first["conflicts"]) == (1, 2, 0)
    (c,) = customers(tenant.schema)
    assert (c.name, c.document) == ("Serviços", "52998224725")
    samples = first["samples"]["duplicado"]
    assert [s["line"] for s in samples] == [3, 4]
    assert samples[0]["value"] == "linha 2, mesmo CPF"
    assert samples[1]["value"] == "linha 3, mesmo telefone"
    again = run_import(csv, source="erp")
    identity(again)
    assert (again["unchanged"], again["duplicates"], again["updated"], again["conflicts"]) == (1, 2, 0, 0)
    assert len(customers(tenant.schema)) == 1


def test_key_map_moved_to_a_temporary_table_gives_the_same_report(
    make_tenant, storage, tmp_path, monkeypatch
) -> None:
    """A file bigger than the key map's memory budget: the map moves to a temporary table as it grows
    (here after every few keys, 200-byte batches) and every report is what the in-memory map gives,
    first import and re-import alike; contacts end up on the same customers."""
    rows = [
        f"N{i};319{i % 211:08d};;n{i % 97}@x.com;{'' if i % 3 else '52998224725'};;\n" for i in range(400)
    ]
    path = tmp_path / "big.csv"
    path.write_text(HEAD + "".join(rows))
    monkeypatch.setattr(readers, "BLOCK_BYTES", 200)
    spills: list[int] = []
    spill = pipeline.KeyMap._spill

    def counted(self, db):
        spills.append(self.entries)
        spill(self, db)

    monkeypatch.setattr(pipeline.KeyMap, "_spill", counted)
    results = []
    for budget in (keymap.KEYMAP_MEMORY_ENTRIES, 5):
        monkeypatch.setattr(keymap, "KEYMAP_MEMORY_ENTRIES", budget)
        t = make_tenant()
        reports = []
        for _ in range(2):
            with session(t.schema) as db:
                job = jobs.create_import(
                    db, t.actor("admin"), jobs.ImportOptions(source="erp"), local_path=path, storage=storage
                )
                db.commit()
            r = pipeline.run(t.schema, job.id, storage=storage)
            identity(r)
            reports.append({k: r[k] for k in ("created", "updated", "unchanged", "duplicates", "conflicts")})
        owners = contacts(t.schema)
        names = {c.id: c.name for c in customers(t.schema)}
        results.append((reports, {value: names[cid] for value, cid in owners.items()}))
    assert spills, "the small budget must have moved the map"
    with pipeline.connection() as conn:  # back in the pool, most likely the one the imports used
        assert conn.execute("SELECT to_regclass('pg_temp.imp_keymap')").fetchone() == (None,)
    assert results[0] == results[1]
    # A row starts a customer only when neither its phone nor its e-mail class was seen, and the rows with
    # the CPF are one customer: 65 (a row-by-row model of the rules gives the same).
    assert results[0][0][0]["created"] == 65 and results[0][0][0]["duplicates"] == 400 - 65


def _name_keys(schema: str) -> list[tuple[str, str]]:
    with session(schema) as db:
        rows = db.connection().execute(
            text(f'SELECT name, name_key FROM "{schema}".customers ORDER BY name_key, id')
        )
        return [(r[0], r[1]) for r in rows]


@pytest.mark.parametrize("bulk_mode", [False, True])
def test_import_fills_the_name_sort_key(run_import, tenant, monkeypatch, bulk_mode) -> None:
    """customers.name_key (t0016) is generated: the COPY/upsert of an import, bulk mode (indexes dropped
    and rebuilt) included, and a re-import that renames keep it without writing it."""
    if bulk_mode:
        monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    rows = ["PEREIRA SIMÕES;(11) 98765-4321", "peçanha lima;(21) 3333-4444", "Ágata Reis;(31) 3333-5555"]
    r = run_import(HEAD + "".join(f"{row};;;;;\n" for row in rows), source="legado")
    assert r["created"] == 3
    assert _name_keys(tenant.schema) == [
        ("Ágata Reis", "agata reis"),
        ("peçanha lima", "pecanha lima"),
        ("PEREIRA SIMÕES", "pereira simoes"),
    ]
    run_import(HEAD + "Zuleica Áurea;(31) 3333-5555;;;;;\n", source="legado", dedupe="keep-last")
    assert _name_keys(tenant.schema)[-1] == ("Zuleica Áurea", "zuleica aurea")
