"""seed_demo: a realistic demo/benchmark tenant (500k customers, 1M contacts, 5M interactions) in minutes.

Customers are streamed with COPY; contacts, interactions, conversations and appointments are derived
server-side with INSERT ... SELECT over generate_series, on two connections at once. Secondary
indexes are dropped before the load and rebuilt after, also two at a time (one sorted build is far
cheaper than 5M incremental GIN/btree inserts). Demo data only: a failure half-way leaves the rows
loaded so far (indexes are always restored); drop the tenant and seed again.
"""

import logging
import queue
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlmodel import select

from app.auth.passwords import hash_password
from app.brazil.documents import complete_cnpj, complete_cpf
from app.errors import Conflict, NotFound
from app.search.postgres import name_words_sql
from app.search.word_order import order_words_sql
from models.platform import Tenant, User
from tenants.database import database_url, engine, platform_session
from tenants.naming import is_tenant_schema

log = logging.getLogger(__name__)

FIRST = [
    "João",
    "Maria",
    "José",
    "Ana",
    "Antônio",
    "Francisca",
    "Carlos",
    "Paulo",
    "Adriana",
    "Lúcia",
    "Luiz",
    "Márcia",
    "Pedro",
    "Juliana",
    "Fernanda",
    "Marcos",
    "Patrícia",
    "Rafael",
    "Aline",
    "Sebastião",
    "Gabriel",
    "Letícia",
    "Vitória",
    "Mateus",
    "Júlia",
    "Lucas",
    "Beatriz",
    "Thiago",
    "Conceição",
    "Raimundo",
    "Cláudia",
    "Sérgio",
    "Débora",
    "Rodrigo",
    "Camila",
    "André",
    "Bruna",
    "Felipe",
    "Renata",
    "Gustavo",
    "Simone",
    "Eduardo",
    "Vânia",
    "Fábio",
    "Luíza",
    "Ricardo",
    "Tânia",
    "Daniel",
    "Mônica",
    "Leandro",
    "Érica",
    "Vinícius",
    "Larissa",
    "Otávio",
    "Rosângela",
    "Caio",
    "Helena",
    "Igor",
    "Sônia",
    "Wagner",
]
LAST = [
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
    "Almeida",
    "Lopes",
    "Soares",
    "Fernandes",
    "Vieira",
    "Barbosa",
    "Rocha",
    "Dias",
    "Nascimento",
    "Andrade",
    "Moreira",
    "Nunes",
    "Marques",
    "Machado",
    "Mendes",
    "Freitas",
    "Cardoso",
    "Ramos",
    "Gonçalves",
    "Santana",
    "Teixeira",
    "Araújo",
    "Conceição",
    "Simões",
    "Brandão",
    "Magalhães",
    "Falcão",
    "Guimarães",
    "Assunção",
    "Estêvão",
    "Calixto",
    "Peixoto",
    "Quintão",
    "Romão",
    "Sampaio",
    "Tavares",
    "Valadão",
    "Xavier",
    "Zanetti",
    "Bragança",
    "Câmara",
    "Damasceno",
    "Evangelista",
    "Figueiredo",
    "Leitão",
    "Monteiro",
]
BUSINESS = [
    "Telecom",
    "Comércio",
    "Distribuidora",
    "Transportes",
    "Construtora",
    "Padaria",
    "Farmácia",
    "Mercado",
    "Auto Peças",
    "Clínica",
    "Escritório",
    "Logística",
    "Engenharia",
    "Informática",
]
SUFFIX = ["Ltda", "ME", "EIRELI", "S.A.", "EPP"]
PLANS = [
    "Controle 15GB",
    "Controle 25GB",
    "Pós 50GB",
    "Pós 100GB",
    "Fibra 300MB",
    "Fibra 500MB",
    "Fibra 1GB",
    "Empresas 100GB",
    "Empresas Ilimitado",
    "Pré Turbo",
]
STATUSES = (
    ["ativo"] * 70
    + ["inadimplente"] * 10
    + ["suspenso"] * 5
    + ["cancelado"] * 8
    + ["prospecto"] * 5
    + ["inativo"] * 2
)
TAGS = [
    ("vip", "yellow"),
    ("portabilidade", "blue"),
    ("renovação", "green"),
    ("churn-risco", "red"),
    ("pme", "purple"),
    ("fibra", "teal"),
    ("5g", "orange"),
    ("inadimplente-30d", "red"),
    ("indicação", "pink"),
    ("black-friday", "gray"),
]
WALLETS = ["PME Sul", "PME Norte", "Varejo SP", "Varejo RJ", "Corporativo"]
INTERACTION_KINDS = [
    "message_in",
    "message_out",
    "note",
    "call",
    "status_change",
    "appointment",
    "campaign",
    "import",
    "stage_change",
    "field_change",
]
SUMMARIES = {
    "message_in": "Cliente: quero saber do meu plano",
    "message_out": "Olá! Posso ajudar com a sua fatura?",
    "note": "Cliente pediu proposta de portabilidade",
    "call": "Ligação de 4 min: interesse em upgrade",
    "status_change": "Status alterado para Ativo",
    "appointment": "Retorno agendado",
    "campaign": "Campanha Black Friday enviada",
    "import": "Importado da planilha da operadora",
    "stage_change": "Oportunidade: Lead → Proposta enviada",
    "field_change": "Dados alterados: plano",
}
_CUSTOMER_COLUMNS = (
    "name",
    "trade_name",
    "document",
    "kind",
    "status",
    "plan",
    "wallet_id",
    "owner_id",
    "score",
    "custom",
    "source",
    "source_key",
    "created_at",
    "updated_at",
)

_ANALYZE = (
    "interactions",
    "contacts",
    "customers",
    "customer_tags",
    "messages",
    "conversations",
    "appointments",
)
# {s} is the tenant schema (validated by is_tenant_schema before use); values go as parameters.
SQL = {
    "tag": """
        INSERT INTO "{s}".tags (name, color) VALUES (%s, %s)
        ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id""",
    "wallet": """
        INSERT INTO "{s}".wallets (name, description) VALUES (%s, '')
        ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id""",
    "custom_fields": """
        INSERT INTO "{s}".custom_fields
            (key, label, type, options, required, position, show_in_list, show_in_filters)
        VALUES ('linhas', 'Linhas', 'number', '{{}}', false, 1, true, true),
               ('porte', 'Porte', 'select', '{{P,M,G}}', false, 2, true, true)
        ON CONFLICT (key) DO NOTHING""",
    "indexes": """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        JOIN pg_namespace n ON n.nspname = i.schemaname
        JOIN pg_class c ON c.relname = i.indexname AND c.relnamespace = n.oid
        WHERE i.schemaname = %s AND i.tablename IN ('customers', 'contacts', 'interactions', 'customer_tags')
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)""",
    "foreign_keys": """
        SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k
        JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND k.contype = 'f'
          AND c.relname IN ('customers', 'contacts', 'interactions', 'customer_tags')""",
    # About 30% of customers get one tag and 10% two (distinct), picked by hashing the id: set-based,
    # reproducible, and no per-row work in Python.
    "customer_tags": """
        INSERT INTO "{s}".customer_tags (customer_id, tag_id, created_at)
        SELECT c.id, ids[1 + (pick + CASE WHEN g = 1 THEN 0 ELSE 1 + c.id %% (n - 1) END) %% n], c.created_at
        FROM (SELECT %s::bigint[] AS ids, cardinality(%s::bigint[]) AS n) t
        CROSS JOIN "{s}".customers c
        CROSS JOIN LATERAL (
            SELECT abs(hashint8(c.id)::bigint) %% 100 AS dice, abs(hashint8(c.id + 7919)::bigint) AS pick
        ) h
        CROSS JOIN generate_series(1, 2) g
        WHERE g <= CASE WHEN dice < 30 THEN 1 WHEN dice >= 90 THEN 2 ELSE 0 END""",
    # Phone numbers embed the customer id, so they are unique as the real dedupe key demands.
    "phones": """
        INSERT INTO "{s}".contacts (customer_id, kind, value, is_primary, opt_out, created_at)
        SELECT c.id, 'phone',
               '+55' || (11 + c.id % 88)::text || '9' || lpad((c.id % 100000000)::text, 8, '0'),
               true, c.id % 50 = 0, c.created_at
        FROM "{s}".customers c""",
    "emails": """
        INSERT INTO "{s}".contacts (customer_id, kind, value, is_primary, created_at)
        SELECT c.id, 'email', public.crm_norm(split_part(c.name, ' ', 1)) || '.' || c.id || '@exemplo.com.br',
               false, c.created_at
        FROM "{s}".customers c""",
    "whatsapp": """
        INSERT INTO "{s}".contacts (customer_id, kind, value, created_at)
        SELECT c.id, 'whatsapp',
               '+55' || (11 + c.id %% 88)::text || '8' || lpad(((c.id * %s::int) %% 100000000)::text, 8, '0'),
               c.created_at
        FROM "{s}".customers c ON CONFLICT DO NOTHING""",
    "interactions": """
        INSERT INTO "{s}".interactions (customer_id, kind, summary, payload, actor_id, origin, at)
        SELECT c.id, (%s::text[])[1 + (c.id * 7 + g) %% 10], (%s::text[])[1 + (c.id * 7 + g) %% 10],
               '{{}}'::jsonb, CASE WHEN g %% 3 = 0 THEN NULL ELSE c.owner_id END,
               CASE WHEN g %% 3 = 0 THEN 'system' ELSE 'user' END,
               c.created_at + (c.updated_at - c.created_at) * (g::float8 / %s::int)
        FROM "{s}".customers c CROSS JOIN generate_series(%s::int, %s::int) g""",
    "conversations": """
        INSERT INTO "{s}".conversations (customer_id, channel, status, assignee_id, last_message_at)
        SELECT c.id, 'whatsapp', CASE WHEN c.id % 3 = 0 THEN 'resolved' ELSE 'open' END,
               c.owner_id, c.updated_at
        FROM "{s}".customers c WHERE c.id % 20 = 0""",
    "messages": """
        INSERT INTO "{s}".messages (conversation_id, direction, body, status, created_at)
        SELECT v.id, CASE WHEN g % 2 = 1 THEN 'in' ELSE 'out' END,
               CASE WHEN g % 2 = 1 THEN 'Oi, quero mudar de plano'
                    ELSE 'Claro! Qual plano você usa hoje?' END,
               CASE WHEN g % 2 = 1 THEN 'received' ELSE 'delivered' END,
               v.last_message_at - (4 - g) * interval '5 minutes'
        FROM "{s}".conversations v CROSS JOIN generate_series(1, 3) g""",
    "appointments": """
        INSERT INTO "{s}".appointments
            (customer_id, title, description, kind, starts_at, ends_at, time_zone, remind_minutes, owner_id)
        SELECT c.id, 'Retorno: ' || split_part(c.name, ' ', 1), '', 'follow_up',
               date_trunc('hour', now()) + ((c.id % 240) - 48) * interval '1 hour',
               date_trunc('hour', now()) + ((c.id % 240) - 48) * interval '1 hour' + interval '30 minutes',
               'America/Sao_Paulo', 15, c.owner_id
        FROM "{s}".customers c WHERE c.id % 250 = 0""",
}


def _add_fk(schema: str, table: str, name: str, definition: str) -> str:
    return f'ALTER TABLE "{schema}".{table} ADD CONSTRAINT "{name}" {definition}'


def _index_table(definition: str) -> str:
    return definition.split(" ON ", 1)[1].split(" ", 1)[0].rsplit(".", 1)[-1]


def _pg_array(values: list[str]) -> str:
    return "{" + ",".join('"' + v.replace('"', '\\"') + '"' for v in values) + "}"


def _users(tenant: Tenant, agents: int) -> list[int]:
    """Demo team members (2 managers, `agents` agents in teams sul/norte); returns the agents' ids."""
    with platform_session() as db:
        existing = {u.email: u for u in db.exec(select(User).where(User.tenant_id == tenant.id)).all()}
        password = hash_password("Demo-senha-123")
        ids: list[int] = []
        for i in range(agents + 2):
            manager = i < 2
            team = "sul" if i % 2 == 0 else "norte"
            email = f"{'gestor' if manager else 'atendente'}{i:02d}@{tenant.slug}.demo"
            user = existing.get(email)
            if user is None:
                user = User(
                    tenant_id=tenant.id,
                    email=email,
                    name=f"{'Gestor' if manager else 'Atendente'} {i:02d}",
                    role="manager" if manager else "agent",
                    team=team,
                    password_hash=password,
                )
                db.add(user)
                db.flush()
            if not manager:
                ids.append(user.id or 0)
        db.commit()
        return ids


def _customer_lines(n: int, owners: list[int], wallet_ids: list[int], rng: random.Random) -> Iterator[str]:
    """COPY text-format lines, built directly (write_row per row costs more than the data)."""
    now = datetime.now(UTC)
    # A wallet is a portfolio: most of an agent's customers sit in the agent's home wallet.
    home = {o: wallet_ids[k % len(wallet_ids)] for k, o in enumerate(owners)}
    span = 730 * 86400
    for i in range(n):
        owner = owners[i % len(owners)]
        wallet = home[owner] if rng.random() < 0.8 else rng.choice(wallet_ids)
        if rng.random() < 0.2:
            last = rng.choice(LAST)
            name = f"{rng.choice(BUSINESS)} {last} {rng.choice(LAST)} {rng.choice(SUFFIX)}"
            trade, document, kind = (
                name.split(" ", 1)[0] + " " + last,
                complete_cnpj(f"{(i + 1) % 100_000_000:08d}0001"),
                "PJ",
            )
            custom = f'{{"linhas": {rng.randint(1, 50)}, "porte": "{rng.choice("PMG")}"}}'
        else:
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(LAST)}"
            trade, document, kind, custom = (
                "\\N",
                complete_cpf(f"{(i + 1) % 1_000_000_000:09d}"),
                "PF",
                '{"porte": "P"}',
            )
        age = rng.random() * span
        created = now - timedelta(seconds=age)
        updated = created + timedelta(seconds=age * rng.random())
        yield (
            f"{name}\t{trade}\t{document}\t{kind}\t{rng.choice(STATUSES)}\t{rng.choice(PLANS)}\t{wallet}\t"
            f"{owner}\t{rng.randint(0, 1000)}\t{custom}\tdemo\t{i + 1}\t{created.isoformat()}\t"
            f"{updated.isoformat()}\n"
        )


def _parallel(
    dsn: str, units: list[list[tuple[str, Any]]], workers: int = 2, autocommit: bool = False
) -> None:
    """Run units (lists of (sql, params)) on `workers` connections, each unit in its own transaction
    (or none with `autocommit`, for VACUUM)."""
    pending: queue.SimpleQueue[list[tuple[str, Any]]] = queue.SimpleQueue()
    for unit in units:
        pending.put(unit)

    def worker() -> None:
        with psycopg.connect(dsn, autocommit=autocommit) as conn:
            conn.execute("SET maintenance_work_mem = '256MB'")
            conn.execute("SET synchronous_commit = off")
            while True:
                try:
                    unit = pending.get_nowait()
                except queue.Empty:
                    return
                if autocommit:
                    for sql, params in unit:
                        conn.execute(sql, params)
                    continue
                with conn.transaction():
                    for sql, params in unit:
                        conn.execute(sql, params)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()


def seed_demo(
    schema: str,
    customers: int,
    contacts_per_customer: int = 2,
    interactions_per_customer: int = 10,
    agents: int = 20,
    seed: int = 42,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fill an empty tenant schema with demo data; returns counts and seconds per step.

    `progress(step: str)` is called between steps (the CLI prints it). Refuses a tenant that
    already has customers: the secondary indexes are dropped during the load.
    """
    if not is_tenant_schema(schema):
        raise ValueError(f"not a tenant schema: {schema!r}")
    say = progress or (lambda step: log.info("seed-demo %s: %s", schema, step))
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with platform_session() as pdb:
        tenant = pdb.exec(select(Tenant).where(Tenant.schema_name == schema)).first()
    if tenant is None:
        raise NotFound("Organização não encontrada.")
    owners = _users(tenant, agents)
    rng = random.Random(seed)
    raw = engine().raw_connection()
    try:
        conn: Any = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute(f'SELECT EXISTS (SELECT 1 FROM "{schema}".customers)')
            if cur.fetchone()[0]:
                raise Conflict(
                    "Esta organização já tem clientes; use uma organização vazia para a demonstração."
                )
            cur.execute("SET LOCAL synchronous_commit = off")
            tag_ids = []
            for name, color in TAGS:
                cur.execute(SQL["tag"].format(s=schema), (name, color))
                tag_ids.append(cur.fetchone()[0])
            wallet_ids = []
            for name in WALLETS:
                cur.execute(SQL["wallet"].format(s=schema), (name,))
                wallet_ids.append(cur.fetchone()[0])
            cur.execute(SQL["custom_fields"].format(s=schema))
            # Drop the secondary indexes of the three big tables; rebuild them after the load.
            cur.execute(SQL["indexes"], (schema,))
            indexes = cur.fetchall()
            for name, _ in indexes:
                cur.execute(f'DROP INDEX "{schema}"."{name}"')
            # Foreign keys too: a per-row RI trigger on 6M inserted rows costs more than one validating join.
            cur.execute(SQL["foreign_keys"], (schema,))
            foreign_keys = cur.fetchall()
            for table, name, _ in foreign_keys:
                cur.execute(f'ALTER TABLE "{schema}".{table} DROP CONSTRAINT "{name}"')
            timings["prepare"] = time.perf_counter() - t0
            say(f"copy {customers} customers")

            t = time.perf_counter()
            columns = ", ".join(_CUSTOMER_COLUMNS)
            with cur.copy(f'COPY "{schema}".customers ({columns}) FROM STDIN') as copy:
                batch: list[str] = []
                for line in _customer_lines(customers, owners, wallet_ids, rng):
                    batch.append(line)
                    if len(batch) >= 5000:
                        copy.write("".join(batch))
                        batch = []
                copy.write("".join(batch))
            # Typo-correction dictionary (no trigger keeps it since t0004): one set-based pass.
            cur.execute(name_words_sql(schema, f'SELECT name FROM "{schema}".customers'))
            timings["customers_copy"] = time.perf_counter() - t
        conn.commit()
        say("contacts, interactions (2 connections)")

        # Everything below reads the committed customers; two connections use both cores.
        t = time.perf_counter()
        dsn = database_url()
        kinds = _pg_array(INTERACTION_KINDS)
        summaries = _pg_array([SUMMARIES[k] for k in INTERACTION_KINDS])
        contacts_unit: list[tuple[str, Any]] = [(SQL["phones"].format(s=schema), None)]
        if contacts_per_customer > 1:
            contacts_unit.append((SQL["emails"].format(s=schema), None))
        contacts_unit += [
            (SQL["whatsapp"].format(s=schema), (extra,)) for extra in range(2, contacts_per_customer)
        ]
        contacts_unit += [
            (SQL[step].format(s=schema), None) for step in ("conversations", "messages", "appointments")
        ]
        contacts_unit.append((SQL["customer_tags"].format(s=schema), (tag_ids, tag_ids)))
        # Two connections, two units of about the same number of rows (a third unit would run alone
        # at the end): the first takes `split` interactions per customer, the second the rest plus
        # contacts, conversations, appointments and tags (about 0.7 rows per customer).
        split = min(
            interactions_per_customer, round((interactions_per_customer + contacts_per_customer + 0.7) / 2)
        )
        interactions_sql = SQL["interactions"].format(s=schema)
        interactions_args = (kinds, summaries, interactions_per_customer)
        units = [
            [(interactions_sql, (*interactions_args, 1, split))] if split >= 1 else [],
            [(interactions_sql, (*interactions_args, split + 1, interactions_per_customer))]
            if split < interactions_per_customer
            else [],
        ]
        units[1] += contacts_unit
        weight = {"interactions": 0, "contacts": 1, "customers": 2}
        ordered = sorted(indexes, key=lambda ix: (weight.get(_index_table(ix[1]), 3), "gin" not in ix[1]))
        try:
            _parallel(dsn, [u for u in units if u])
            timings["contacts_interactions"] = time.perf_counter() - t
            say(f"rebuild {len(indexes)} indexes (2 connections)")
            t = time.perf_counter()
            _parallel(dsn, [[(definition, None)] for _, definition in ordered])
            # One unit per table: two FKs of one table added at once (customer_tags has two) deadlock.
            tables = sorted({fk[0] for fk in foreign_keys})
            _parallel(
                dsn,
                [[(_add_fk(schema, *fk), None) for fk in foreign_keys if fk[0] == table] for table in tables],
            )
            timings["indexes"] = time.perf_counter() - t
        except Exception:
            # The drops were committed with the customers: never leave the tenant without them.
            log.exception("seed-demo %s failed; restoring indexes and foreign keys", schema)
            with psycopg.connect(dsn, autocommit=True) as fix:
                for _, definition in ordered:
                    fix.execute(definition.replace(" INDEX ", " INDEX IF NOT EXISTS ", 1))
                for fk in foreign_keys:
                    exists = fix.execute(
                        "SELECT 1 FROM pg_constraint k JOIN pg_namespace n ON n.oid = "
                        "k.connamespace WHERE n.nspname = %s AND k.conname = %s",
                        (schema, fk[1]),
                    ).fetchone()
                    if not exists:
                        fix.execute(_add_fk(schema, *fk))
            raise
        t = time.perf_counter()
        # Biggest first, two at a time; customer_tags needs statistics for the tag filter's plans.
        _parallel(
            dsn, [[(f'VACUUM (ANALYZE) "{schema}".{table}', None)] for table in _ANALYZE], autocommit=True
        )
        timings["analyze"] = time.perf_counter() - t
        t = time.perf_counter()
        # The words the fresh statistics count as frequent get their name-ordered rows.
        with psycopg.connect(dsn, autocommit=True) as conn2:
            conn2.execute(order_words_sql(schema))
        timings["order_words"] = time.perf_counter() - t
    finally:
        raw.close()
    timings["total"] = time.perf_counter() - t0
    say(f"done in {timings['total']:.1f}s")
    return {
        "schema": schema,
        "customers": customers,
        "contacts": customers * contacts_per_customer,
        "interactions": customers * interactions_per_customer,
        "agents": owners,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
    }
