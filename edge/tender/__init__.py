"""Tender: how a sale is paid. Every tender is a payment state machine (`machine`), settled over
the cart (`settlement`), taken by commands in the writer (`commands`, `refunds`) and, for cards,
by the shell that talks to the terminal (`service`). docs/tender.md has the whole picture."""
