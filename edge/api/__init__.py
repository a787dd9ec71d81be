"""HTTP edge of the daemon: routes decode, call the domain, encode. No business rules here."""
