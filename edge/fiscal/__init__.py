"""The signed fiscal journal: a signature record for every fiscally relevant event, made in
the event's own commit; the signer behind an interface; the period archive and its offline
verification; the DSFinV-K export (docs/fiscal.md)."""
