"""The CLI's client for the running daemon's local admin API.

Finds the daemon through `<data dir>/daemon.json` (written by `serve` once it listens) and
authenticates with `<data dir>/admin-token` (see `edge.devices.admin`). Every way of not
reaching it becomes `DaemonUnreachable` with a sentence saying what to do, which the CLI prints
with exit code 3.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.devices import admin
from edge.paths import read_daemon_info

if TYPE_CHECKING:
    import httpx

TIMEOUT_S = 10.0


class DaemonUnreachable(Exception):
    pass


class AdminError(Exception):
    """The daemon answered with a problem (4xx/5xx)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class AdminClient:
    def __init__(self, url: str, token: str, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url
        import httpx  # not before a daemon is found: `status` with none running skips it

        self._http: httpx.Client = httpx.Client(base_url=url, timeout=timeout_s,
                                  headers={"Authorization": f"Bearer {token}"})

    @classmethod
    def connect(cls, data_dir: Path) -> AdminClient:
        info = read_daemon_info(data_dir)
        if info is None:
            raise DaemonUnreachable(
                f"the daemon is not running (no {data_dir}/daemon.json); start it with "
                "`novapos-edge serve` or `systemctl start novapos-edge`")
        token = admin.read(data_dir)
        if token is None:
            path = data_dir / admin.ADMIN_TOKEN_FILENAME
            if path.exists():
                raise DaemonUnreachable(f"cannot read {path}: run as the daemon's user or root")
            raise DaemonUnreachable(f"the daemon at {info.url} wrote no {path}; is it starting?")
        return cls(info.url, token)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, body: Any = None, *,
                idempotent: bool = False) -> Any:
        import httpx

        headers = {"Idempotency-Key": f"cli-{uuid.uuid4()}"} if idempotent else {}
        try:
            r = self._http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DaemonUnreachable(f"the daemon at {self.url} is not answering: {exc}") from exc
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail") or r.text
            except ValueError:
                detail = r.text
            if r.status_code == 401:
                raise DaemonUnreachable(f"the daemon refused the admin token ({detail}); "
                                        "it may have restarted, retry")
            raise AdminError(r.status_code, detail)
        return r.json()

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def events(self, path: str = "/v1/admin/stream") -> Iterator[tuple[str, Any]]:
        """(event type, decoded data) from an SSE stream, until it ends."""
        import httpx

        try:
            with self._http.stream("GET", path, timeout=httpx.Timeout(TIMEOUT_S, read=None)) as r:
                if r.status_code != 200:
                    raise AdminError(r.status_code, r.read().decode(errors="replace"))
                event, data = "message", []
                for line in r.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif line == "" and data:
                        text = "\n".join(data)
                        # A keep-alive comment comes with an empty data line: not an event.
                        if event != "message" or text:
                            yield event, json.loads(text) if text.startswith(("{", "[")) else text
                        event, data = "message", []
        except httpx.HTTPError as exc:
            raise DaemonUnreachable(f"lost the daemon at {self.url}: {exc}") from exc
