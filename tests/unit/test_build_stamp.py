"""The frontend build is reused only when nothing it is made from changed (issue 14, item 14)."""

from pathlib import Path

from app.build_stamp import BUILD_INDEX, STAMP_FILE, can_reuse, source_stamp, write_stamp

SETTINGS = {"api_url": "http://localhost:3000", "reflex": "0.10.1"}


def _checkout(root: Path) -> None:
    for rel, text in {
        "app/pages/home.py": "HOME = 1\n",
        "components/shell.py": "SHELL = 1\n",
        "models/platform.py": "MODEL = 1\n",
        "assets/logo.svg": "<svg/>",
        "rxconfig.py": "config = 1\n",
        "reflex.lock/bun.lock": "{}\n",
        "uv.lock": "version = 1\n",
        "README.md": "not an input\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _built(root: Path, stamp: str) -> None:
    (root / BUILD_INDEX).parent.mkdir(parents=True, exist_ok=True)
    (root / BUILD_INDEX).write_text("<html></html>")
    write_stamp(root, stamp)


def test_unchanged_checkout_reuses_the_build(tmp_path: Path) -> None:
    _checkout(tmp_path)
    assert not can_reuse(tmp_path, source_stamp(tmp_path, SETTINGS))  # never built
    _built(tmp_path, source_stamp(tmp_path, SETTINGS))
    assert can_reuse(tmp_path, source_stamp(tmp_path, SETTINGS))
    # Byte-code caches and files outside the inputs do not count.
    (tmp_path / "app/pages/__pycache__").mkdir()
    (tmp_path / "app/pages/__pycache__/home.cpython-311.pyc").write_bytes(b"\x00")
    (tmp_path / "README.md").write_text("edited\n")
    assert can_reuse(tmp_path, source_stamp(tmp_path, SETTINGS))


def test_any_input_change_rebuilds(tmp_path: Path) -> None:
    _checkout(tmp_path)
    _built(tmp_path, source_stamp(tmp_path, SETTINGS))
    for rel in (
        "app/pages/home.py",
        "components/shell.py",
        "models/platform.py",
        "assets/logo.svg",
        "rxconfig.py",
        "reflex.lock/bun.lock",
        "uv.lock",
    ):
        original = (tmp_path / rel).read_text()
        (tmp_path / rel).write_text(original + " ")
        assert not can_reuse(tmp_path, source_stamp(tmp_path, SETTINGS)), rel
        (tmp_path / rel).write_text(original)
    assert can_reuse(tmp_path, source_stamp(tmp_path, SETTINGS))
    # A new file, a renamed file, a removed file.
    (tmp_path / "app/pages/new.py").write_text("")
    assert not can_reuse(tmp_path, source_stamp(tmp_path, SETTINGS))
    (tmp_path / "app/pages/new.py").rename(tmp_path / "app/pages/other.py")
    assert not can_reuse(tmp_path, source_stamp(tmp_path, SETTINGS))
    (tmp_path / "app/pages/other.py").unlink()
    assert can_reuse(tmp_path, source_stamp(tmp_path, SETTINGS))


def test_baked_settings_change_rebuilds(tmp_path: Path) -> None:
    _checkout(tmp_path)
    _built(tmp_path, source_stamp(tmp_path, SETTINGS))
    other_port = {**SETTINGS, "api_url": "http://localhost:3001"}
    assert not can_reuse(tmp_path, source_stamp(tmp_path, other_port))
    assert not can_reuse(tmp_path, source_stamp(tmp_path, {**SETTINGS, "reflex": "0.11.0"}))


def test_incomplete_build_rebuilds(tmp_path: Path) -> None:
    _checkout(tmp_path)
    stamp = source_stamp(tmp_path, SETTINGS)
    _built(tmp_path, stamp)
    (tmp_path / BUILD_INDEX).unlink()  # e.g. a build that failed after Reflex emptied the directory
    assert not can_reuse(tmp_path, stamp)
    _built(tmp_path, stamp)
    (tmp_path / STAMP_FILE).unlink()
    assert not can_reuse(tmp_path, stamp)
