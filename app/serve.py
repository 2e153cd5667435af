"""`python -m app.serve run --env prod ...`: Reflex's own `reflex run`, with the production backend on
uvicorn without its `server` header.

Reflex 0.10 serves the prod backend (and, on one port, the compiled frontend mounted inside it) with
granian when gunicorn is not installed, and granian always sends `server: granian` (no option turns it
off). Everything else about `reflex run --env prod` (compile, frontend build, single port) is kept;
only the final "serve the backend" step is ours: uvicorn with `server_header=False`,
`date_header` kept, and forwarded headers left to the app (`app/api/deps.py client_ip`), as granian did.
"""

import sys

import uvicorn
from reflex.environment import environment
from reflex.reflex import cli
from reflex.utils import exec as rx_exec


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
        ws="websockets",
    )


def main() -> None:
    rx_exec.run_backend_prod = run_backend_prod
    sys.argv[0] = "reflex"
    cli()


if __name__ == "__main__":
    main()
