"""Cash management: till sessions per cash drawer, cash movements, the blind close and the
per-till X and Z reports (docs/cash.md)."""
