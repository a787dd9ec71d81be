"""Fiscal routes (manager): the signer and its public keys, and the journal page by page."""

from __future__ import annotations

from litestar import Controller, get
from litestar.params import Parameter

from core.errors import Forbidden
from edge.api.deps import Injected
from edge.api.problems import READ_PROBLEMS
from edge.lanes import Principal
from edge.store.kernel import Store
from schemas import fiscal as f

MAX_PAGE = 1000


class FiscalController(Controller):
    path = "/v1/fiscal"
    tags = ["fiscal"]
    store: Store

    @get("/signer", responses=READ_PROBLEMS,
         summary="The signer, every public key the store registered, the journal's counters")
    async def signer(self, who: Injected[Principal]) -> f.SignerView:
        _manager(who)
        conn = self.store.reader
        keys = [dict(zip(("key_id", "algorithm", "public_key_b64", "serial", "kind"), r))
                for r in conn.execute("SELECT key_id, algorithm, public_key_b64, serial, kind "
                                      "FROM fiscal_signers ORDER BY registered_seq")]
        tx, sig, unsigned = conn.execute(
            "SELECT coalesce(max(transaction_number), 0), coalesce(max(signature_counter), 0), "
            "coalesce(sum(signed = 0), 0) FROM fiscal_journal").fetchall()[0]
        last = conn.execute("SELECT key_id FROM fiscal_journal ORDER BY transaction_number DESC "
                            "LIMIT 1").fetchall()
        return f.SignerView(last[0][0] if last else None, keys, tx, sig, unsigned)

    @get("/journal", responses=READ_PROBLEMS,
         summary="The fiscal journal after a transaction number, in order (manager)")
    async def journal(
        self, who: Injected[Principal],
        after: int = Parameter(default=0, ge=0, le=2**53),
        limit: int = Parameter(default=100, ge=1, le=MAX_PAGE),
    ) -> list[f.JournalEntry]:
        _manager(who)
        return [f.JournalEntry(r[0], r[1], r[2], bool(r[3]), *r[4:]) for r in
                self.store.reader.execute(
                    "SELECT transaction_number, event_seq, event_type, signed, "
                    "signature_counter, start_ms, end_ms, key_id, signature_b64, reason "
                    "FROM fiscal_journal WHERE transaction_number > ? ORDER BY "
                    "transaction_number LIMIT ?", (after, limit))]


def _manager(who: Principal) -> None:
    if not who.is_manager:
        raise Forbidden("the fiscal journal needs a manager token")
