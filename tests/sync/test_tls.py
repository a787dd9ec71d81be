"""TLS to the relay: with `[sync] tls_ca_file` naming the CA that signed the relay's
certificate the store uploads over https; without it the engine refuses the connection (no
verification bypass) and backs off, acking nothing."""

from __future__ import annotations

from pathlib import Path

import msgspec

from edge.compose import appliers
from edge.sync_link import engine_for
from sync import cursor
from tests.cloud_relay.test_tls_and_cli import _self_signed
from tests.support.relay import start_relay
from tests.support.sync_proof import assert_converged
from tests.support.sync_store import SaleFactory, running_store
from tests.sync.helpers import STORE, TENANT, run


def test_upload_over_verified_tls_and_refusal_without_the_ca(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    relay = start_relay("sqlite", tmp_path / "relay", tls=(cert, key))
    try:
        assert relay.url.startswith("https://")
        data = tmp_path / "store"
        data.mkdir()
        (data / "sync-credential.json").write_bytes(msgspec.json.encode(
            relay.enroll(TENANT, STORE)))

        async def attempt(env: dict[str, str]) -> tuple[int, str | None]:
            async with running_store(data, env={"NOVAPOS_SYNC__RELAY_URL": relay.url,
                                                **env}) as svc:
                if not env:  # the first attempt rings the sales
                    await svc.writer.run(SaleFactory(1).command(20))
                eng = engine_for(svc, svc.config.sync, appliers())
                assert eng is not None
                await eng.round()
                await eng.close()
                st = cursor.load(svc.reader)
                return st.acked_seq, st.last_error

        acked, error = run(attempt({}))
        assert acked == 0 and "CERTIFICATE_VERIFY_FAILED" in (error or "")
        acked, _ = run(attempt({"NOVAPOS_SYNC__TLS_CA_FILE": str(cert)}))
        assert acked == 20
        assert_converged(relay.storage, data / "store.db", TENANT, STORE)
    finally:
        relay.close()


def test_unusable_sync_settings_leave_the_store_selling_without_sync(tmp_path: Path) -> None:
    from tests.support.sync_store import make_service

    data = tmp_path / "store"
    data.mkdir()
    (data / "sync-credential.json").write_text("{not json")
    svc = make_service(data, env={"NOVAPOS_SYNC__RELAY_URL": "https://relay.invalid"})
    assert engine_for(svc, svc.config.sync, appliers()) is None  # broken credential
    from core.signing import new_credential

    (data / "sync-credential.json").write_bytes(msgspec.json.encode(new_credential(TENANT,
                                                                                   STORE)))
    svc = make_service(data, env={"NOVAPOS_SYNC__RELAY_URL": "https://relay.invalid",
                                  "NOVAPOS_SYNC__TLS_CA_FILE": "missing-ca.pem"})
    assert engine_for(svc, svc.config.sync, appliers()) is None  # CA file missing
    svc = make_service(data, env={"NOVAPOS_SYNC__RELAY_URL": "https://relay.invalid"})
    assert engine_for(svc, svc.config.sync, appliers()) is not None
