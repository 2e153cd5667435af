"""Schemathesis over every operation of the live API (issue 12, "Done means"): all checks, the
examples, coverage, fuzzing and stateful phases, authenticated as a tenant admin and anonymously.

A bounded run (few examples per operation) so it fits in the normal suite; the full-length command
is in the README's testing section and docs/security.md. What this asserts: no response >= 500, no
response outside the documented statuses and schemas, and every other schemathesis check passes.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TenantHandle, api_login

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5"))
MAX_TIME = os.environ.get("SCHEMATHESIS_MAX_TIME", "45")
SEED = os.environ.get("SCHEMATHESIS_SEED", "12")
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CONFIG = Path(__file__).with_name("schemathesis.toml")


def _run(
    live_url: str, tmp_path: Path, headers: dict[str, str], extra: tuple[str, ...] = ()
) -> tuple[dict[str, Any], str]:
    report = tmp_path / "report.json"
    args = [
        SCHEMATHESIS,
        "--config-file",
        str(CONFIG),
        "run",
        f"{live_url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        MAX_TIME,
        "--seed",
        SEED,
        "--workers",
        "2",
        "--no-shrink",
        "--suppress-health-check",
        "all",
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--output-truncate",
        "true",
    ]
    for name, value in headers.items():
        args += ["--header", f"{name}: {value}"]
    args += extra
    env = {**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    out = done.stdout[-20_000:] + done.stderr[-5_000:]
    if keep := os.environ.get("SCHEMATHESIS_KEEP"):  # a directory for the full output and report
        keep = str(Path(keep, tmp_path.name))
        Path(keep).mkdir(parents=True, exist_ok=True)
        Path(keep, "out.txt").write_text(done.stdout + done.stderr)
        if report.exists():
            Path(keep, "report.json").write_text(report.read_text())
    assert report.exists(), out
    return json.loads(report.read_text()), out


def _assert_clean(report: dict[str, Any], out: str) -> None:
    summary = {k: report.get(k) for k in ("exit_code", "failures", "errors", "test_cases", "phases")}
    assert report["failures"] == [], (summary, out)
    assert report["errors"] == [], (summary, out)
    assert report["exit_code"] == 0, (summary, out)
    assert report["operations"]["tested"] == report["operations"]["selected"], summary


@pytest.fixture
def org(make_tenant) -> TenantHandle:
    return make_tenant()


@pytest.mark.timeout(600)
def test_schemathesis_as_admin(live_url: str, http: httpx.Client, org: TenantHandle, tmp_path: Path) -> None:
    # Logout would end the run's own session (every later request a 401): the anonymous run and
    # the auth suite cover it.
    headers = api_login(http, org)
    report, out = _run(live_url, tmp_path, headers, ("--exclude-path", "/api/auth/logout"))
    _assert_clean(report, out)
    # The run was authenticated throughout (nothing it did ended its own session), so the tenant's
    # operations were exercised as the admin, not only refused.
    assert http.get("/api/auth/me", headers=headers).status_code == 200
    refused = report["warnings"].get("missing_auth") or []
    assert not {"GET /api/clientes", "POST /api/clientes", "GET /api/etiquetas"} & set(refused), refused


@pytest.mark.timeout(600)
def test_schemathesis_anonymous(live_url: str, tmp_path: Path) -> None:
    report, out = _run(live_url, tmp_path, {})
    _assert_clean(report, out)
