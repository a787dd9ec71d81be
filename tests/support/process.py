"""What every real child process of the tests (daemon, relay) is stopped and read with."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class ChildProcess:
    """Mixin for a dataclass with `proc` (the Popen) and `log_path` (its captured output)."""

    proc: subprocess.Popen | None
    log_path: Path | None

    def log_tail(self, max_bytes: int = 4_000) -> str:
        """The end of the process's log, for failure messages."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-max_bytes:].decode(errors="replace")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM and wait for a clean exit; SIGKILL if it does not come."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill9()


def wait_until(pred: Callable[[], object], what: str, timeout_s: float = 30.0,
               poll_s: float = 0.02) -> None:
    """Poll `pred` until it is true; fail naming `what` after `timeout_s` (a sync round, a
    background job: something the test cannot wait on directly)."""
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll_s)
