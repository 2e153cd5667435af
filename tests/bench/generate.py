"""Realistic legacy-system exports for the import benchmarks (and small ones for tests).

Messy Brazilian phones (masks, 0xx, carrier codes, +55, spreadsheet floats, missing DDD), accents,
cp1252-friendly names, ~10% rows that repeat an earlier customer's phone or e-mail in another
format, ~7% rows with no usable phone nor e-mail.
"""

import argparse
import random
from collections.abc import Iterator
from pathlib import Path

FIRST = [
    "José",
    "João",
    "Maria",
    "Ana",
    "Antônio",
    "Francisco",
    "Luíza",
    "Conceição",
    "Márcio",
    "Sérgio",
    "Gonçalo",
    "Tânia",
    "Fábio",
    "Letícia",
    "Flávia",
    "Júlio",
    "Inês",
    "Cássio",
    "Lúcia",
    "Renê",
]
LAST = [
    "da Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Conceição",
    "Araújo",
    "Gonçalves",
    "Simões",
    "Magalhães",
    "Brandão",
    "Estêvão",
]
COMPANY = ["Comércio", "Telecom", "Distribuidora", "Serviços", "Informática", "Padaria", "Açougue"]
DDDS = ["11", "21", "31", "41", "51", "61", "71", "81", "91", "19", "27", "48", "62", "85", "92"]
PLANS = ["Controle 15GB", "Pós 50GB", "Pré Turbo", "Fibra 500 Mega", "Empresas 100GB", ""]
STATUS = ["Ativo", "ativo", "Inativo", "Suspenso", "Cancelado", ""]
HEADERS = [
    "Nome/Razão Social",
    "CNPJ/CPF",
    "Telefone 1",
    "Celular",
    "WhatsApp",
    "E-mail",
    "Plano",
    "Situação",
    "Cidade",
    "Tags",
]
JUNK = ["não informado", "0000", "123", "(11) 0000-000", "sem telefone", "-", "99999", "N/A"]


def _cpf(rng: random.Random) -> str:
    d = [rng.randint(0, 9) for _ in range(9)]
    for w in (10, 11):
        s = sum(a * b for a, b in zip(d, range(w, 1, -1), strict=False))
        r = (s * 10) % 11
        d.append(0 if r == 10 else r)
    return "".join(map(str, d))


def _cnpj(rng: random.Random) -> str:
    d = [rng.randint(0, 9) for _ in range(8)] + [0, 0, 0, 1]
    for ws in ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]):
        r = sum(a * b for a, b in zip(d, ws, strict=False)) % 11
        d.append(0 if r < 2 else 11 - r)
    return "".join(map(str, d))


def _doc_format(doc: str, rng: random.Random) -> str:
    style = rng.random()
    if style < 0.4:
        return doc
    if style < 0.5:
        return doc.lstrip("0")  # numeric cell that lost its zeros
    if len(doc) == 11:
        return f"{doc[:3]}.{doc[3:6]}.{doc[6:9]}-{doc[9:]}"
    return f"{doc[:2]}.{doc[2:5]}.{doc[5:8]}/{doc[8:12]}-{doc[12:]}"


def _national(rng: random.Random, mobile: bool) -> str:
    ddd = rng.choice(DDDS)
    if mobile:
        return ddd + "9" + str(rng.randint(60000000, 99999999))
    return ddd + str(rng.randint(2, 5)) + str(rng.randint(1000000, 9999999))


def format_phone(n: str, rng: random.Random) -> str:
    ddd, local = n[:2], n[2:]
    split = len(local) - 4
    styles = (
        lambda: f"({ddd}) {local[:split]}-{local[split:]}",
        lambda: n,
        lambda: f"+55 {ddd} {local[:split]}-{local[split:]}",
        lambda: "55" + n,
        lambda: f"0xx{ddd} {local[:split]}-{local[split:]}",
        lambda: f"0{ddd} {local}",
        lambda: f"0{rng.choice(['15', '21', '41', '31'])} {ddd} {local}",
        lambda: f"{ddd}.{local[:split]}.{local[split:]}",
        lambda: n + ".0",
        lambda: f"({ddd}){local}",
    )
    return rng.choice(styles)()


def _email(name: str, i: int, rng: random.Random) -> str:
    user = name.lower().split()[0]
    user = user.translate(str.maketrans("áâãàéêíóôõúçü", "aaaaeeiooouuu"))
    dom = rng.choice(["gmail.com", "hotmail.com", "uol.com.br", "empresa.com.br", "yahoo.com.br"])
    addr = f"{user}.{i}@{dom}"
    return addr.upper() if rng.random() < 0.05 else (" " + addr + " " if rng.random() < 0.05 else addr)


def rows(n: int, seed: int = 7) -> Iterator[list[str]]:
    rng = random.Random(seed)
    base: list[tuple[str, str, str]] = []  # (phone national, email, name) of earlier rows
    for i in range(n):
        r = rng.random()
        if r < 0.07:  # invalid: no usable contact
            yield [
                f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "",
                rng.choice(JUNK),
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            ]
            continue
        if r < 0.17 and base:  # duplicate of an earlier customer, written differently
            phone, email, name = base[rng.randrange(len(base))]
            p1 = format_phone(phone, rng) if phone else ""
            e = email if rng.random() < 0.5 or not phone else ""
            yield [name.upper(), "", p1, "", "", e, rng.choice(PLANS), rng.choice(STATUS), "", "dup"]
            continue
        pj = rng.random() < 0.2
        if pj:
            name = f"{rng.choice(COMPANY)} {rng.choice(LAST)} Ltda"
            doc = _cnpj(rng)
        else:
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            doc = _cpf(rng)
        mobile = _national(rng, True)
        landline = _national(rng, False) if rng.random() < 0.3 else ""
        email = _email(name, i, rng) if rng.random() < 0.6 else ""
        has_phone = rng.random() < 0.95 or not email
        p1 = format_phone(mobile, rng) if has_phone else ""
        if has_phone and rng.random() < 0.03:
            p1 = mobile[2:]  # no DDD: invalid unless a default DDD is set
        p2 = format_phone(landline, rng) if landline else ""
        wa = format_phone(mobile, rng) if rng.random() < 0.2 else ""
        if rng.random() < 0.02:
            doc = doc[:-1] + str((int(doc[-1]) + 1) % 10)  # wrong check digit: warning only
        tags = rng.choice(["", "vip", "vip;inadimplente", "b2b|fibra", ""])
        city = rng.choice(["São Paulo", "Belém", "Curitiba", "Maceió", ""])
        yield [
            name,
            _doc_format(doc, rng),
            p1,
            p2,
            wa,
            email,
            rng.choice(PLANS),
            rng.choice(STATUS),
            city,
            tags,
        ]
        # Sample a fraction only: duplicates point at earlier customers without keeping all in memory.
        if len(base) < 200_000 or rng.random() < 0.05:
            base.append((mobile if has_phone else "", email.strip().lower(), name))


def write_csv(path: Path, n: int, seed: int = 7, delimiter: str = ";", encoding: str = "utf-8") -> Path:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding=encoding, errors="replace") as fh:
        w = csv.writer(fh, delimiter=delimiter, lineterminator="\r\n")
        w.writerow(HEADERS)
        w.writerows(rows(n, seed))
    return path


def write_xlsx(path: Path, n: int, seed: int = 7) -> Path:
    """XLSX with a title row above the header and numeric cells for documents/phones."""
    from openpyxl import Workbook

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Clientes")
    ws.append(["Relatório de clientes — sistema legado"])
    ws.append([])
    ws.append(HEADERS)
    for r in rows(n, seed):
        cells: list[object] = list(r)
        for j in (1, 2):  # spreadsheets store these as numbers, losing leading zeros
            digits = str(cells[j])
            if digits.isdigit() and len(digits) < 16:
                cells[j] = int(digits)
        ws.append(cells)
    wb.save(path)
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("path", type=Path)
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--xlsx", action="store_true")
    args = ap.parse_args()
    (write_xlsx if args.xlsx else write_csv)(args.path, args.rows)
