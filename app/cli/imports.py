"""`crm import FILE --tenant SLUG ...`: the same pipeline as the page and the API, from a shell.

Registered by app/cli/__init__.py as `crm import` (function `import_command`). Runs the pipeline in this
process, or through the Taskiq broker when REDIS_URL is set (then it waits for the worker).
"""

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.errors import DomainError

if TYPE_CHECKING:
    from app.importing.status import ImportStatus


def _fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _load_mapping(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        _fail(f"Não foi possível ler o mapeamento {path}: {exc}")
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        _fail('O mapeamento deve ser um objeto JSON {"coluna do arquivo": "campo"}.')
    return data


def run_import_file(
    file: Path,
    tenant: str,
    source: str | None = None,
    mapping: dict[str, str] | None = None,
    dedupe: str = "keep-first",
    default_ddd: str | None = None,
    sheet: str | None = None,
    header_row: int | None = None,
    use_broker: bool | None = None,
    progress: bool = False,
) -> "ImportStatus":
    """Creates the import for tenant `tenant` (slug), runs it and returns its status and report."""
    # Imported when the command runs: the pipeline (polars, the database engine) is start-up cost that
    # `crm --help` and the other commands should not pay.
    from app.after_commit import enqueue_after_commit
    from app.auth.actor import system_actor
    from app.importing import jobs, pipeline
    from app.platform.admin import get_by_slug
    from app.settings import get_settings
    from tasks.imports import run_import
    from tenants.database import platform_session, session

    with platform_session() as pdb:
        t = get_by_slug(pdb, tenant)
    if not t.schema_name or t.status != "active":
        raise DomainError("A organização não está ativa.")
    schema = t.schema_name
    actor = system_actor(t.id, schema)
    opts = jobs.ImportOptions(
        source=source,
        mapping=mapping,
        dedupe=dedupe,
        default_ddd=default_ddd,
        sheet=sheet,
        header_row=header_row,
    )
    broker = bool(get_settings().redis_url) if use_broker is None else use_broker
    with session(schema) as db:
        job = jobs.create_import(db, actor, opts, local_path=file)
        import_id = job.id
        assert import_id is not None
        if broker:
            enqueue_after_commit(db, run_import, schema, import_id)
        db.commit()

    def show(p: dict[str, Any]) -> None:
        if progress:
            eta = p.get("eta_s")
            typer.echo(
                f"\r{p.get('rows_read', 0):>10} linhas · {p.get('rate', 0):>9.0f}/s · "
                f"{100 * (p.get('progress') or 0):5.1f}% · ETA {'-' if eta is None else f'{eta:.0f}s'}",
                err=True,
                nl=False,
            )

    if broker:
        while True:
            with session(schema) as db:
                status = jobs.get_import_status(db, actor, import_id)
            show(status.model_dump())
            if status.state in ("done", "failed", "cancelled"):
                break
            time.sleep(1.0)
    else:
        pipeline.run(schema, import_id, on_progress=show)
    if progress:
        typer.echo("", err=True)
    with session(schema) as db:
        return jobs.get_import_status(db, actor, import_id)


def import_command(
    file: Annotated[Path, typer.Argument(help="Arquivo CSV ou XLSX.", exists=True, dir_okay=False)],
    tenant: Annotated[str, typer.Option("--tenant", help="Identificador (slug) da organização.")],
    source: Annotated[str | None, typer.Option("--source", help="Nome da origem (reimportações).")] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help='JSON {"coluna": "campo"}.', exists=True, dir_okay=False)
    ] = None,
    dedupe: Annotated[str, typer.Option("--dedupe", help="keep-first | keep-last | merge")] = "keep-first",
    default_ddd: Annotated[
        str | None, typer.Option("--default-ddd", help="DDD para números sem DDD.")
    ] = None,
    sheet: Annotated[str | None, typer.Option("--sheet", help="Aba da planilha XLSX.")] = None,
    header_row: Annotated[
        int | None, typer.Option("--header-row", help="Linha do cabeçalho (1 = primeira).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Imprime um objeto JSON com o relatório.")] = False,
) -> None:
    """Importa clientes de um arquivo CSV/XLSX (mesmo pipeline da tela e da API)."""
    from app.importing.report import describe

    try:
        status = run_import_file(
            file,
            tenant,
            source=source,
            mapping=_load_mapping(mapping),
            dedupe=dedupe,
            default_ddd=default_ddd,
            sheet=sheet,
            header_row=header_row,
            progress=not as_json and sys.stderr.isatty(),
        )
    except DomainError as exc:
        if as_json:
            typer.echo(json.dumps({"error": exc.code, "detail": exc.message}, ensure_ascii=False))
            raise typer.Exit(1) from exc
        fields = getattr(exc, "fields", None)
        _fail(exc.message if not fields else "; ".join(f"{k}: {v}" for k, v in fields.items()))
        return
    if as_json:
        typer.echo(json.dumps(status.cli_summary(), ensure_ascii=False))
    else:
        typer.echo(f"Importação #{status.id} ({status.source}): {status.state}")
        for line in describe(status.model_dump()):
            typer.echo(line)
        if status.error:
            typer.secho(status.error, fg=typer.colors.RED, err=True)
    if status.state != "done":
        raise typer.Exit(1)
