"""Queue a background task once the Session's transaction commits: the one way to "commit, then kick".

`enqueue_after_commit(db, task, *args)` rides on the Session (like the search index's dirty ids,
app/search/sync.py) and is kicked by an `after_commit` listener, so the task can never start before
its rows are visible, and a rolled-back write queues nothing. Callers do not order commit and kick by
hand, and REST routes, Reflex events, the CLI and tasks all queue the same way.

`task` is either a registered task (adapters, which import `tasks/`: the arguments are type-checked
against the task's signature) or a task name such as "crm.sync_search" (domain code, which must not
import `tasks/`, since the tasks import the domain). Names are resolved on the broker of
`tenants.queues`.

Where the kick runs:
- in a thread with a running event loop (async routes, Reflex events, tasks): as a task on that loop;
  the in-process broker (embedded mode, no REDIS_URL) then runs the job on that loop, as before;
- in a thread of the server's pool (sync routes, `run_in_threadpool`): on the server's loop, likewise;
- in a thread of a taskiq worker (a task's `asyncio.to_thread`): on the worker's loop, whose Redis
  connections the broker holds (a loop of its own would tear them from under the worker's listener);
- otherwise (the CLI, a plain thread): on this module's own loop, one per process on a daemon thread,
  which pushes the message to Redis, or, in-process, runs the job. One loop, not one per kick: the
  broker's Redis pool binds to the loop that first used it, and a loop per kick failed every kick after
  the first ("attached to a different loop").
A kick that fails (Redis down) is logged: the transaction is already committed, and the imports'
recovery sweep (`imports.recover_dead_imports`) resumes an import whose kick was lost.
"""

import asyncio
import concurrent.futures
import logging
import threading
from typing import Any, ParamSpec, overload

from anyio import from_thread
from sqlalchemy import event
from sqlmodel import Session
from taskiq import AsyncTaskiqDecoratedTask, TaskiqEvents, TaskiqState
from taskiq.kicker import AsyncKicker

from tenants.queues import broker

log = logging.getLogger(__name__)
P = ParamSpec("P")
_KEY = "enqueue_after_commit"
_kicks: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones
_thread_kicks: set[concurrent.futures.Future[None]] = set()
# The taskiq worker's event loop, set when a worker process starts (see `_remember_worker_loop`).
_home_loop: asyncio.AbstractEventLoop | None = None
# Kicks from threads without a loop (the CLI, plain threads) run on this one (`_own_loop`).
_own: asyncio.AbstractEventLoop | None = None
_own_lock = threading.Lock()


@overload
def enqueue_after_commit(
    db: Session, task: AsyncTaskiqDecoratedTask[P, Any], *args: P.args, **kwargs: P.kwargs
) -> None: ...


@overload
def enqueue_after_commit(db: Session, task: str, *args: Any, **kwargs: Any) -> None: ...


def enqueue_after_commit(db: Session, task: Any, *args: Any, **kwargs: Any) -> None:
    """Kick `task(*args, **kwargs)` after `db` commits; forget it if `db` rolls back."""
    name = task if isinstance(task, str) else task.task_name
    db.info.setdefault(_KEY, []).append((name, args, kwargs))


def pending_kicks(db: Session) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """The task names and arguments waiting for `db` to commit (for tests and diagnostics)."""
    return list(db.info.get(_KEY, []))


@event.listens_for(Session, "after_commit")
def _after_commit(db: Session) -> None:
    for name, args, kwargs in db.info.pop(_KEY, []):
        _dispatch(name, args, kwargs)


@event.listens_for(Session, "after_rollback")
def _after_rollback(db: Session) -> None:
    db.info.pop(_KEY, None)


def kicker(name: str) -> AsyncKicker[Any, Any]:
    """The kicker of the task registered as `name` (for code that cannot import `tasks/`)."""
    registered = broker.find_task(name)
    if registered is not None:
        return registered.kicker()
    # Not imported in this process: Redis carries it by name to a worker that has it.
    return AsyncKicker(task_name=name, broker=broker, labels={})


async def _kick(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        await kicker(name).kiq(*args, **kwargs)
    except Exception:
        log.exception("could not queue %s after commit", name)


def _own_loop() -> asyncio.AbstractEventLoop:
    global _own
    with _own_lock:
        if _own is None:
            _own = asyncio.new_event_loop()
            threading.Thread(target=_own.run_forever, daemon=True, name="after-commit-kicks").start()
        return _own


def _dispatch(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        _dispatch_from_thread(name, args, kwargs)
        return
    kick = loop.create_task(_kick(name, args, kwargs))
    _kicks.add(kick)
    kick.add_done_callback(_kicks.discard)


def _dispatch_from_thread(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    home = _home_loop
    if home is not None and home.is_running():
        # A worker's task running sync code in a thread (asyncio.to_thread): the broker's Redis
        # connections belong to the worker's loop, so the kick must run there, not on a loop of its own.
        future = asyncio.run_coroutine_threadsafe(_kick(name, args, kwargs), home)
        _thread_kicks.add(future)
        future.add_done_callback(_thread_kicks.discard)
        return
    try:
        # A sync route or `run_in_threadpool`: kick on the server's loop, as an async caller would.
        from_thread.run(_kick, name, args, kwargs)
    except RuntimeError:  # not an AnyIO worker thread (the CLI, a plain thread): this module's loop
        future = asyncio.run_coroutine_threadsafe(_kick(name, args, kwargs), _own_loop())
        _thread_kicks.add(future)
        future.add_done_callback(_thread_kicks.discard)


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def _remember_worker_loop(state: TaskiqState) -> None:
    """Kicks made from a worker's threads go through the worker's own loop (its Redis pool lives there)."""
    global _home_loop
    _home_loop = asyncio.get_running_loop()
