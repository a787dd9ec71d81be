"""Settings the command line and the server share, in a module light enough for `--help`
(the server module imports the web stack)."""

from __future__ import annotations

import time

# Peers whose X-Forwarded-For uvicorn believes (a proxy on the same host); the failed-auth
# limit counts the address it names. Name your load balancers' addresses when behind them.
FORWARDED_ALLOW_IPS = "127.0.0.1"


def now_ms() -> int:
    return time.time_ns() // 1_000_000
