"""Start-up loads only what a store needs to be ready: importing the CLI (`--help`) and starting
the daemon (`serve`, up to the moment it answers) must not import the heavy modules below;
each is imported where it is first used. Every case runs in a fresh interpreter, so what
another test imported does not count.

What is heavy, and where it is first used instead:

- python-escpos' printer module and what it brings (PIL, python-barcode, qrcode): the first
  receipt or drawer pulse (`drivers.escpos.document`). Its printer database
  (`escpos.capabilities`, about 1 MB) is loaded with `drivers.escpos`: a configured printer's
  code page is checked against it at start.
- httpx: the first relay request of the sync engine, or the CLI's first admin request.
- python-zeroconf and dbus-fast: mDNS advertising, which starts after the daemon is ready.
- the ZVT terminal emulator (`drivers.emulators`): `serve --demo` only.
- (cryptography is not on the list: the fiscal signer loads the store's key at start, so a
  damaged key is an outage reported at start, and loyalty's PII module imports it.)
- the relay and HQ (`cloud_relay`), test and fuzzing tools (schemathesis, hypothesis, pytest).
- the CLI alone also leaves out the web stack (Litestar, uvicorn), SQLite, structlog, the
  metrics client and the store kernel; and its help (`--help`, a sub-app's `--help`) leaves
  out Rich, which Typer's Rich help layout loaded with Markdown and syntax highlighting
  (`core.cli_group`: the help is plain text; Rich is loaded when a command prints), and
  msgspec (`edge.paths` loads it to read `daemon.json`).
- `status` with the daemon down reads the store's database and prints with Rich, but loads
  neither the web stack, nor the HTTP client, nor the composed store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

NEVER_AT_START = (
    "escpos.printer", "PIL", "barcode", "qrcode", "httpx", "zeroconf", "dbus_fast",
    "edge.mdns", "edge.avahi", "drivers.emulators", "cloud_relay", "schemathesis",
    "hypothesis", "pytest", "psycopg",
)
NOT_FOR_THE_CLI = NEVER_AT_START + (
    "litestar", "uvicorn", "apsw", "structlog", "prometheus_client", "cryptography",
    "escpos", "edge.store.kernel", "edge.compose", "edge.app", "sync.engine", "yaml",
)
NOT_FOR_HELP = NOT_FOR_THE_CLI + ("rich", "typer.rich_utils", "markdown_it", "pygments", "msgspec")
NOT_FOR_STATUS = NEVER_AT_START + (
    "litestar", "uvicorn", "structlog", "prometheus_client", "cryptography", "escpos",
    "edge.store.kernel", "edge.compose", "edge.app", "sync.engine", "markdown_it", "pygments",
    "typer.rich_utils",
)

_CLI = """
import json, sys
from typer.testing import CliRunner
from edge.cli import app
result = CliRunner().invoke(app, ["--help"])
assert result.exit_code == 0, result.output
print(json.dumps(sorted(sys.modules)))
"""

# The installed entry point (`novapos-edge`, edge.cli:main) with the given arguments.
_ENTRY = """
import json, sys
from edge import cli
sys.argv = ["novapos-edge", *json.loads(sys.argv[1])]
try:
    cli.main()
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print(json.dumps({"exit": code, "modules": sorted(sys.modules)}))
"""

# `serve` as the daemon runs it (edge.cli's command body without the demo), stopped by the
# signal systemd sends as soon as it is ready: what was imported by then is printed.
_SERVE = """
import json, os, signal, sys
from pathlib import Path
from core import logs
from edge import compose, config as config_mod, server
data_dir = Path(sys.argv[1])
config = config_mod.load(data_dir, json.loads(sys.argv[2]))
logs.configure("warning")
daemon = compose.compose(data_dir, config)
def ready(info):
    print(json.dumps(sorted(sys.modules)), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
server.run(daemon, "127.0.0.1", 0, ready)
"""

PRINTER = """
[[devices.printers]]
id = "front"
host = "127.0.0.1"
port = 9
"""


def _modules(code: str, *args: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _loaded(modules: set[str], heavy: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.startswith(heavy) and
                  any(m == h or m.startswith(h + ".") for h in heavy))


def _entry(*args: str) -> tuple[int, str, set[str]]:
    """(exit code, what it printed, modules loaded) of `novapos-edge ARGS` in a fresh
    interpreter."""
    out = subprocess.run([sys.executable, "-c", _ENTRY, json.dumps(args)], capture_output=True,
                         text=True, timeout=120, cwd=ROOT, env={**os.environ, "COLUMNS": "100"})
    *printed, last = out.stdout.strip().splitlines()
    result = json.loads(last)
    return result["exit"], "\n".join(printed) + out.stderr, set(result["modules"])


def test_importing_the_cli_and_its_help_load_nothing_heavy() -> None:
    modules = _modules(_CLI)
    assert _loaded(modules, NOT_FOR_HELP) == []


@pytest.mark.parametrize("args", [["--help"], ["stock", "--help"], ["devices", "--help"],
                                  ["sync", "enroll", "--help"], []])
def test_help_from_the_entry_point_loads_nothing_heavy(args: list[str]) -> None:
    code, printed, modules = _entry(*args)
    assert code == (2 if not args else 0)  # no command: the help, and exit code 2
    assert "Usage: novapos-edge" in printed and "--help" in printed
    assert _loaded(modules, NOT_FOR_HELP) == []


def test_status_with_the_daemon_down_loads_neither_web_stack_nor_store(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    init = subprocess.run([sys.executable, "-m", "edge.cli", "init", "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert init.returncode == 0, init.stderr
    code, printed, modules = _entry("status", "--data-dir", str(data_dir))
    assert code == 3 and "NOT RUNNING" in printed and "0 events" in printed, printed
    assert _loaded(modules, NOT_FOR_STATUS) == []


def test_a_daemon_is_ready_without_the_heavy_modules(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    data_dir.mkdir()
    (data_dir / "config.toml").write_text(PRINTER)  # a printer: its settings are checked
    modules = _modules(_SERVE, str(data_dir), "{}")
    assert "edge.app" in modules and "escpos.capabilities" in modules  # it did start
    assert _loaded(modules, NEVER_AT_START) == []


def test_the_openapi_document_is_built_at_its_first_request_and_amended_once(
        tmp_path: Path) -> None:
    from litestar._openapi.plugin import OpenAPIPlugin
    from litestar.testing import TestClient

    from edge import compose
    from edge import config as config_mod
    from edge.app import create_app

    data_dir = tmp_path / "store"
    daemon = compose.compose(data_dir, config_mod.load(data_dir, {}))
    daemon.start()
    try:
        app = create_app(daemon)
        plugin = app.plugins.get(OpenAPIPlugin)
        assert plugin._openapi_schema is None  # not generated by building the app
        with TestClient(app) as client:
            first = client.get("/schema/openapi.json").json()
            again = client.get("/schema/openapi.json").json()
            page = client.get("/schema")
    finally:
        daemon.stop()
    ready = first["paths"]["/health/ready"]["get"]
    assert ready["security"] == [] and "503" in ready["responses"]  # edge.api.openapi.conform
    assert again == first
    assert page.status_code == 200 and "swagger" in page.text.lower()


_RELAY_HELP = """
import json, sys
from typer.testing import CliRunner
from cloud_relay.cli import app
result = CliRunner().invoke(app, ["--help"])
assert result.exit_code == 0 and "export" in result.output, result.output
print(json.dumps(sorted(sys.modules)))
"""


def test_the_relay_cli_loads_the_web_stack_only_to_serve() -> None:
    # `novapos-relay --help` and its offline commands (export, enroll, tokens) never answer
    # HTTP: Litestar and uvicorn (~0.4 s of a command's start) come with `serve` alone.
    assert _loaded(_modules(_RELAY_HELP), ("litestar", "uvicorn", "cloud_relay.app",
                                          "cloud_relay.server")) == []
