"""Store secrets are sealed at rest by default: the relay makes its key file (0600, atomically)
at the first start, seals every secret with it, seals the clear secrets of a database from the
previous release when it upgrades it, and refuses to start (exit 4) without the key its
database's secrets were sealed with, or with another one."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from cloud_relay import sealing
from cloud_relay.cli import app as cli_app
from cloud_relay.sealing import KEY_FILENAME, KeyMissing, WrongKey
from cloud_relay.storage import open_storage
from tests.support.old_relay import make_old_database
from tests.support.relay import Relay, start_relay


def _stored_secrets(relay: Relay) -> list[bytes]:
    with relay.storage._read() as tx:
        return [bytes(r[0]) for r in tx.rows("SELECT secret FROM stores")]


def test_a_new_relay_makes_its_key_file_and_seals_every_secret(relay: Relay) -> None:
    mode = relay.key_file.stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    Fernet(relay.key_file.read_bytes().strip())  # a whole, valid key
    cred = relay.enroll()
    (stored,) = _stored_secrets(relay)
    assert stored.startswith(b"fernet:") and cred.secret not in stored
    assert relay.store_client(cred).get("/v1/stores/s1/watermark").status_code == 200


def test_without_its_key_or_with_another_the_relay_refuses_to_start(relay: Relay,
                                                                      tmp_path: Path) -> None:
    relay.enroll()
    with pytest.raises(KeyMissing, match="sealed"):
        open_storage(relay.database_url, key_file=tmp_path / "elsewhere" / KEY_FILENAME)
    assert not (tmp_path / "elsewhere" / KEY_FILENAME).exists()  # no new key made for it
    with pytest.raises(WrongKey):
        open_storage(relay.database_url, sealing.new_key())
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(sealing.new_key().encode())
    result = CliRunner().invoke(cli_app, ["stores", "list", "--database", relay.database_url,
                                          "--secret-key-file", str(wrong)])
    assert result.exit_code == 4 and "another key" in result.output
    result = CliRunner().invoke(cli_app, ["stores", "list", "--database", relay.database_url,
                                          "--data-dir", str(tmp_path / "empty")])
    assert result.exit_code == 4 and "Copy the key file" in " ".join(result.output.split())
    # The variable wins over the file, for every process of the database.
    env = {sealing.ENV_KEY: relay.key_file.read_text().strip()}
    result = CliRunner().invoke(cli_app, ["stores", "list", "--json", "--database",
                                          relay.database_url, "--secret-key-file", str(wrong)],
                                env=env)
    assert result.exit_code == 0, result.output


def test_a_damaged_key_file_is_refused_and_never_replaced(relay: Relay) -> None:
    relay.enroll()
    for damage in (b"", b"not a key\n", relay.key_file.read_bytes()[:20]):
        relay.key_file.write_bytes(damage)
        with pytest.raises(KeyMissing, match="never replaced"):
            open_storage(relay.database_url, key_file=relay.key_file)
        assert relay.key_file.read_bytes() == damage


def test_the_clear_secrets_of_an_old_database_are_sealed_on_upgrade(backend: str,
                                                                     tmp_path: Path) -> None:
    data = tmp_path / "relay"
    url, olds = make_old_database(backend, data, [("t1", "s1", 2), ("t1", "s2", 0)])
    relay = start_relay(backend, data, database=url)
    try:
        stored = _stored_secrets(relay)
        assert len(stored) == 2 and all(s.startswith(b"fernet:") for s in stored)
        assert not any(o.cred.secret in s for o in olds for s in stored)
        for old in olds:
            client = relay.store_client(old.cred)
            path = f"/v1/stores/{old.cred.store_id}/watermark"
            assert client.get(path).status_code == 200
    finally:
        relay.close()


def test_an_old_database_sealed_with_the_variable_keeps_its_key(backend: str,
                                                                tmp_path: Path) -> None:
    """The previous release sealed only with NOVAPOS_RELAY_SECRET_KEY set (and recorded no
    check value): this one recognises that key, and without it refuses instead of making a
    new key file that could never open those secrets."""
    key = sealing.new_key()
    data = tmp_path / "relay"
    url, (old,) = make_old_database(backend, data, [("t1", "s1", 1)], seal_with=key)
    with pytest.raises(KeyMissing):
        open_storage(url, key_file=data / KEY_FILENAME)
    assert not (data / KEY_FILENAME).exists()
    with pytest.raises(WrongKey):
        open_storage(url, sealing.new_key())
    relay = start_relay(backend, data, database=url, secret_key=key)
    try:
        assert relay.store_client(old.cred).get("/v1/stores/s1/watermark").status_code == 200
        open_storage(url, key).close()  # the check value recorded now names the same key
        with pytest.raises(WrongKey):
            open_storage(url, sealing.new_key())
    finally:
        relay.close()


def test_processes_starting_together_end_up_with_one_key(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILENAME
    keys: list[bytes] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        keys.append(sealing.load_key(path, may_create=True, environ={}))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and path.read_bytes().strip() == keys[0]
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILENAME]  # no temporary file left


def test_secret_key_out_never_replaces_a_key(tmp_path: Path) -> None:
    out = tmp_path / "k"
    assert CliRunner().invoke(cli_app, ["secret-key", "--out", str(out)]).exit_code == 0
    first = out.read_bytes()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert CliRunner().invoke(cli_app, ["secret-key", "--out", str(out)]).exit_code == 2
    assert out.read_bytes() == first
