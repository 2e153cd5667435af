"""Resume after a killed import (issue 16): the issue's scenario and the rebuild-phase kill, timed.

    .venv/bin/python -m tests.bench.bench_crash [--rows 500000] [--dir .data/bench]

A throw-away database; a real `crm import` of the generated file, uninterrupted (the reference), then
into fresh tenants the same command killed with SIGKILL at a point chosen from its progress (7 s in, as
in the issue; the last batches; the index rebuild), each resumed the way the app does at start
(recovery.recover_tenant + pipeline.run, in this process) and checked against the reference (report,
customers, contacts, indexes and constraints). Prints one line per case and writes results_crash.json.
"""

import argparse
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from tests.bench.generate import write_csv

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--dir", type=Path, default=Path(".data/bench"))
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"crash_{args.rows}.csv"
    if not path.exists():
        write_csv(path, args.rows)

    import psycopg

    name = f"crm_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rpartition("/")[0] + "/" + name
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DATA_DIR": str(args.dir / "data"),
            "REDIS_URL": "",
            "SECRET_KEY": uuid.uuid4().hex,
        }
    )
    results: dict[str, Any] = {"rows": args.rows}
    try:
        from tenants.migrations import upgrade_platform

        upgrade_platform()
        from tests.integration.importing import test_crash as tc

        env = dict(os.environ)
        slug, schema = tc._provision()
        started = time.monotonic()
        proc = tc._cli(env, path, slug)
        out, err = proc.communicate()
        total = time.monotonic() - started
        assert proc.returncode == 0, err[-2000:]
        import_id = json.loads(out.strip().splitlines()[-1])["id"]
        ref = tc.Outcome(
            schema,
            import_id,
            total,
            tc._report(url, schema, import_id),
            tc._data(url, schema),
            tc._keys(url, schema),
        )
        results["uninterrupted_s"] = round(total, 2)
        print(f"uninterrupted: {total:.1f}s, {ref.report['created']} customers", flush=True)

        def seven_seconds(conn: Any, job: Any) -> bool:
            return job[2] > 0 and time.monotonic() - kicked >= 7.0

        cases = {
            "killed 7 s in": seven_seconds,
            "killed at 80% of the rows": lambda conn, job: job[2] >= args.rows * 8 // 10,
            "killed in the index rebuild": None,
        }
        for label, ready in cases.items():
            slug, schema = tc._provision()
            kicked = time.monotonic()
            proc = tc._cli(env, path, slug)
            import_id, job = tc._kill_when(url, proc, schema, ready or tc._rebuild(schema))
            killed = time.monotonic() - kicked
            seconds = tc._resume(url, schema, import_id)
            ok = (
                tc._report(url, schema, import_id) == ref.report
                and tc._data(url, schema) == ref.data
                and tc._keys(url, schema) == ref.keys
            )
            results[label] = {
                "killed_after_s": round(killed, 1),
                "rows_committed": job[2],
                "resume_s": round(seconds, 2),
                "ratio": round(seconds / total, 2),
                "identical": ok,
            }
            print(label, results[label], flush=True)
    finally:
        from tenants.database import reset_engine

        reset_engine()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        (args.dir / "results_crash.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
