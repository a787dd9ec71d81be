"""Tender: how a sale is paid. Cash only for now; the payment state machine plugs in here."""
