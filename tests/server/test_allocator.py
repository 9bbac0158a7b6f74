"""``serve`` runs on glibc's malloc (re-executing itself with PYTHONMALLOC) unless told
otherwise: when it re-executes, with what, and that a real ``serve`` process does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sipwright.server.allocator import active_allocator, reexec_argv
from sipwright.server.config import ConfigError, load_config

from .serve_proc import ServeProcess

SCRIPT = ["/venv/bin/python", "/venv/bin/sipwright", "serve", "--workers", "2"]
MODULE = ["/usr/bin/python3", "-X", "faulthandler", "-m", "sipwright", "serve"]


def _argv(
    wanted: str = "malloc",
    environ: dict[str, str] | None = None,
    argv: list[str] | None = None,
    orig: list[str] | None = None,
    spec: str | None = None,
) -> list[str] | None:
    return reexec_argv(
        wanted,
        environ={} if environ is None else environ,
        argv=SCRIPT[1:] if argv is None else argv,
        orig_argv=SCRIPT if orig is None else orig,
        main_spec=spec,
    )


def test_console_script_reexecutes_with_its_whole_original_command_line() -> None:
    assert _argv() == SCRIPT


def test_python_dash_m_reexecutes_with_the_interpreter_options_kept() -> None:
    argv = ["/src/sipwright/__main__.py", "serve"]
    assert _argv(argv=argv, orig=MODULE, spec="sipwright.__main__") == MODULE


def test_no_reexec_when_chosen_already_or_pymalloc_or_inside_another_program() -> None:
    assert _argv(environ={"PYTHONMALLOC": "malloc"}) is None  # the re-executed process
    assert _argv(environ={"PYTHONMALLOC": "pymalloc_debug"}) is None  # explicit choice
    assert _argv("pymalloc") is None
    pytest_argv = ["/venv/lib/python3.11/site-packages/pytest/__main__.py", "-q"]
    assert _argv(argv=pytest_argv, orig=["python", "-m", "pytest"], spec="pytest") is None
    assert _argv(orig=[]) is None
    with pytest.raises(ValueError):
        _argv("jemalloc")


def test_active_allocator_reads_pythonmalloc() -> None:
    assert active_allocator({}) == "pymalloc"
    assert active_allocator({"PYTHONMALLOC": "malloc"}) == "malloc"


def test_config_allocator_key_and_its_check(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('[sip]\nallocator = "pymalloc"\n')
    assert load_config(conf).allocator == "pymalloc"
    assert load_config().allocator == "malloc"
    conf.write_text('[sip]\nallocator = "tcmalloc"\n')
    with pytest.raises(ConfigError, match=r"sip\.allocator"):
        load_config(conf)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode(errors="replace") for k, v in pairs}


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_process_runs_on_malloc_under_the_same_pid(tmp_path: Path, workers: int) -> None:
    """The process started is the one serving (same PID: supervisors and ``kill`` keep
    working), its environment now names the allocator, and the banner says so."""
    env_before = os.environ.pop("PYTHONMALLOC", None)
    try:
        server = ServeProcess(tmp_path, workers=workers)
    finally:
        if env_before is not None:
            os.environ["PYTHONMALLOC"] = env_before
    try:
        server.wait_ready()
        assert _environ(server.proc.pid).get("PYTHONMALLOC") == "malloc"
        assert any("allocator malloc" in line for line in server.lines), server.lines
    finally:
        code = server.stop()
    assert code == 0, "\n".join(server.lines)


def test_serve_allocator_pymalloc_keeps_cpythons_allocator(tmp_path: Path) -> None:
    env_before = os.environ.pop("PYTHONMALLOC", None)
    try:
        server = ServeProcess(tmp_path, "--allocator", "pymalloc")
    finally:
        if env_before is not None:
            os.environ["PYTHONMALLOC"] = env_before
    try:
        server.wait_ready()
        assert "PYTHONMALLOC" not in _environ(server.proc.pid)
        assert any("allocator pymalloc" in line for line in server.lines), server.lines
    finally:
        code = server.stop()
    assert code == 0, "\n".join(server.lines)
