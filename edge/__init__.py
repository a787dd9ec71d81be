"""NovaPOS Edge: the store daemon (API, domain, store)."""

__version__ = "0.1.0"
