"""Whether the frontend's production build can be reused: a hash of everything the build is made from,
stored beside the build.

`reflex run --env prod` recompiles the pages and rebuilds the bundle on every start (most of a restart's
time). The bundle is a pure function of the UI sources (app/, components/, models/ for the state's
types, assets/), the Reflex config and frontend lock (rxconfig.py, reflex.lock/), the Python lock
(Reflex and its component packages) and the settings baked into the JavaScript (API and deploy URLs).
When none of those changed, the previous build is served as it is.

The stamp lives inside the build directory, which Reflex deletes before it builds: a build that fails
half-way leaves no stamp, so the next start rebuilds.
"""

import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path

SOURCES = ("app", "components", "models", "assets", "rxconfig.py", "reflex.lock", "uv.lock")
BUILD_DIR = Path(".web/build")
STAMP_FILE = BUILD_DIR / "source.stamp"
BUILD_INDEX = BUILD_DIR / "client/index.html"
_SKIPPED_DIRS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def _files(root: Path) -> Iterator[Path]:
    for name in SOURCES:
        path = root / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for file in sorted(path.rglob("*")):
                rel = file.relative_to(root)
                if (
                    file.is_file()
                    and not _SKIPPED_DIRS.intersection(rel.parts)
                    and file.suffix not in _SKIPPED_SUFFIXES
                ):
                    yield file


def source_stamp(root: Path, settings: Mapping[str, str]) -> str:
    """A hash of the build's inputs: every source file (path and bytes) and the baked-in settings."""
    digest = hashlib.sha256()
    for file in _files(root):
        digest.update(file.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    for key in sorted(settings):
        digest.update(f"{key}={settings[key]}\0".encode())
    return digest.hexdigest()


def can_reuse(root: Path, stamp: str) -> bool:
    """True when a complete build exists and was made from exactly these inputs."""
    stamp_file = root / STAMP_FILE
    return (
        (root / BUILD_INDEX).is_file()
        and stamp_file.is_file()
        and stamp_file.read_text(encoding="utf-8").strip() == stamp
    )


def write_stamp(root: Path, stamp: str) -> None:
    """Record the inputs of a build that just succeeded."""
    (root / STAMP_FILE).write_text(stamp + "\n", encoding="utf-8")
