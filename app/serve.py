"""`python -m app.serve run --env prod ...`: Reflex's own `reflex run`, with the production backend on
uvicorn without its `server` header, the previous frontend build reused when nothing it is made from
changed, and no misleading lines in the log.

Reflex 0.10 serves the prod backend (and, on one port, the compiled frontend mounted inside it) with
granian when gunicorn is not installed, and granian always sends `server: granian` (no option turns it
off). Everything else about `reflex run --env prod` (compile, frontend build, single port) is kept;
only the final "serve the backend" step is ours: uvicorn with `server_header=False`,
`date_header` kept, and forwarded headers left to the app (`app/api/deps.py client_ip`), as granian did.

Start-up (issue 14, item 14): compiling the pages and building the bundle took most of every restart.
`app/build_stamp.py` decides whether the last build is still the one the sources would produce; if so
the compile and build steps are skipped and only env.json is rewritten. See docs/benchmarks.md.
"""

import logging
import sys
from pathlib import Path
from typing import Any

import uvicorn
from packaging import version
from reflex import constants
from reflex import reflex as rx_cli
from reflex.environment import environment
from reflex.reflex import cli
from reflex.utils import build, console, js_runtimes
from reflex.utils import exec as rx_exec
from reflex_base.config import get_config
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from app import build_stamp

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("crm.serve")


def run_backend_prod(
    host: str,
    port: int,
    loglevel: object = None,
    mount_frontend_compiled_app: bool = False,
) -> None:

    environment.REFLEX_MOUNT_FRONTEND_COMPILED_APP.set(mount_frontend_compiled_app)
    environment.REFLEX_SKIP_COMPILE.set(True)
    uvicorn.run(
        rx_exec.get_app_instance_from_file(),
        factory=True,
        host=host,
        port=port,
        workers=rx_exec._get_backend_workers(),
        log_level=str(getattr(loglevel, "value", loglevel or "warning")),
        server_header=False,
        proxy_headers=False,
        ws="websockets-sansio",
    )


def _baked_settings() -> dict[str, str]:
    """The settings the frontend bundle embeds: a change to any of them needs a new build."""
    config = get_config()
    return {
        "reflex": constants.Reflex.VERSION,
        "api_url": str(config.api_url),
        "deploy_url": str(config.deploy_url),
        "frontend_path": str(config.frontend_path),
        "transport": str(config.transport),
    }


def reuse_unchanged_build() -> None:
    """Wrap Reflex's prod compile and build steps so an unchanged checkout skips both."""
    compile_app, setup_frontend_prod = rx_cli._compile_app, build.setup_frontend_prod
    decided: dict[str, Any] = {}

    def compile_if_changed(**kwargs: Any) -> None:
        stamp = build_stamp.source_stamp(ROOT, _baked_settings())
        decided["stamp"] = stamp
        decided["reuse"] = build_stamp.can_reuse(ROOT, stamp)
        if decided["reuse"]:
            log.info("frontend sources unchanged since the last build: reusing it")
            return
        compile_app(**kwargs)

    def build_if_changed(root: Path) -> None:
        if decided.get("reuse"):
            build.setup_frontend(root)  # env.json only
            return
        setup_frontend_prod(root)
        if "stamp" in decided:
            build_stamp.write_stamp(ROOT, decided["stamp"])

    rx_cli._compile_app = compile_if_changed
    build.setup_frontend_prod = build_if_changed


def _node_outdated_quietly() -> bool:
    # Reflex answers an old Node by running the build on bun's own runtime (`bun --bun`), which is what
    # we use anyway; its warning asked the reader to upgrade something the build does not need.
    current = js_runtimes.get_node_version()
    return current is not None and current < version.parse(constants.Node.MIN_VERSION)


def _progress() -> Progress:
    # Reflex's compile bar counts one step more than its total ("Compiling 41/40"): show the step's
    # name and its time, not a count that reads as an error.
    return Progress(TextColumn("{task.description}"), TimeElapsedColumn())


class _InitAdvice(logging.Filter):
    """Drop the "Run `uv run reflex run`" advice Reflex prints after initialising .web: `make run` /
    `crm run` already are the way to start, and the advice names a command we do not use."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "Run `uv run reflex run`" in record.msg:
            record.msg = record.msg.replace(" Run `uv run reflex run` to start the app.", "")
        return True


def quiet_misleading_lines() -> None:
    js_runtimes.is_outdated_nodejs_installed = _node_outdated_quietly
    console.progress = _progress
    logging.getLogger(rx_cli.__name__).addFilter(_InitAdvice())


def main() -> None:
    rx_exec.run_backend_prod = run_backend_prod
    quiet_misleading_lines()
    reuse_unchanged_build()
    sys.argv[0] = "reflex"
    cli()


if __name__ == "__main__":
    main()
