"""Run the real daemon as a subprocess (`novapos-edge serve`), for tests that need a real
process: kill -9, restarts, schemathesis over HTTP."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from core.files import write_atomic
from tests.support.ports import stable_port
from tests.support.process import ChildProcess

READY_TIMEOUT_S = 30.0
_LISTEN = re.compile(r"novapos-edge listening on (http://\S+)")
_TOKEN = re.compile(r"demo lane token (\S+): (\S+)")


@dataclass
class DaemonProcess(ChildProcess):
    data_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen | None = None
    url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    # A file holding the offset (ms) the daemon adds to the system clock: set it to run the
    # daemon under `tests.support.clocked_serve`, move time with `advance_clock`.
    clock_file: Path | None = None

    def start(self) -> "DaemonProcess":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "daemon.log"
        env = {**os.environ, **self.extra_env, "PYTHONUNBUFFERED": "1"}
        entry = "edge.cli"
        if self.clock_file is not None:
            entry = "tests.support.clocked_serve"
            root = str(Path(__file__).resolve().parents[2])
            env["NOVAPOS_TEST_CLOCK_FILE"] = str(self.clock_file)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        log = open(self.log_path, "ab")
        # Reuse the port across restarts so lanes (and tests) keep one URL; one outside the
        # ephemeral range, so no other socket can take it while the daemon is down.
        if self.port == 0:
            self.port = stable_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", entry, "serve", "--data-dir", str(self.data_dir),
             "--host", "127.0.0.1", "--port", str(self.port), "--demo"],
            stdout=subprocess.PIPE, stderr=log, env=env,
        )
        # One thread per process copies stdout into the log and hands the start-up lines to us
        # through a queue, so the deadline below holds even if the daemon hangs silently (a
        # blocking readline here would wait forever). It keeps draining afterwards so the
        # daemon never blocks on a full pipe.
        lines: queue.Queue[str | None] = queue.Queue()

        def drain(stream, sink) -> None:
            handing_over = True
            try:
                for chunk in iter(stream.readline, b""):
                    sink.write(chunk)
                    sink.flush()
                    if handing_over:
                        line = chunk.decode(errors="replace")
                        lines.put(line)
                        handing_over = not line.startswith("try:")
            finally:
                lines.put(None)
                sink.close()

        assert self.proc.stdout is not None
        threading.Thread(target=drain, args=(self.proc.stdout, log), daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill9()
                raise RuntimeError(
                    f"daemon not ready within {READY_TIMEOUT_S}s; see {self.log_path}\n{self.log_tail()}"
                ) from None
            if line is None:
                self.proc.wait(timeout=10)
                raise RuntimeError(
                    f"daemon exited with {self.proc.returncode}; see {self.log_path}\n{self.log_tail()}"
                )
            if m := _LISTEN.search(line):
                self.url = m.group(1)
                self.port = int(self.url.rsplit(":", 1)[1])
            elif m := _TOKEN.search(line):
                self.tokens[m.group(1)] = m.group(2)
            elif line.startswith("try:"):
                return self

    def clock_offset_ms(self) -> int:
        assert self.clock_file is not None, "a daemon started without clock_file"
        return int(self.clock_file.read_text() or "0") if self.clock_file.exists() else 0

    def now_ms(self) -> int:
        """The daemon's clock (the system clock plus the offset, if any)."""
        offset = self.clock_offset_ms() if self.clock_file is not None else 0
        return time.time_ns() // 1_000_000 + offset

    def advance_clock(self, delta_ms: int) -> None:
        """Move the daemon's clock forward (atomically: it reads the file at every tick)."""
        assert delta_ms >= 0, "time never runs backwards"
        write_atomic(self.clock_file, str(self.clock_offset_ms() + delta_ms).encode())

    def client(self, lane: str = "lane-1", **kwargs) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[lane]}"},
            timeout=kwargs.pop("timeout", 10.0), **kwargs,
        )
