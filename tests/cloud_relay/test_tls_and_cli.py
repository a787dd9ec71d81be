"""TLS on the relay (self-signed certificate made here, verified by the client), and the
operator CLI: enroll/list/revoke stores, HQ tokens, export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import ipaddress
import json
import ssl
from pathlib import Path

import httpx
import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from cloud_relay.cli import app as cli_app
from core.signing import StoreCredential
from tests.support.relay import Chain, Relay, iter_ledger, start_relay


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "novapos-relay test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "relay.crt", tmp_path / "relay.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_relay_is_reached_with_a_verified_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    relay = start_relay("sqlite", tmp_path / "relay", tls=(cert, key))
    try:
        assert relay.url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(cert))
        client = relay.store_client(relay.enroll(), verify=trust)
        chain = Chain("t1", "s1")
        chain.extend(3)
        assert client.ack(chain.batch(1, 3)).accepted_through_seq == 3
        # Without trusting the certificate the client refuses to talk; plain HTTP gets nowhere.
        with pytest.raises(httpx.ConnectError):
            httpx.get(relay.url + "/health/live")
        with pytest.raises(httpx.HTTPError):
            httpx.get(relay.url.replace("https", "http") + "/health/live", timeout=5)
    finally:
        relay.close()


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_enroll_list_revoke_and_tokens(relay: Relay) -> None:
    db = relay.cli_args
    code, out, _ = _cli("stores", "enroll", "--tenant", "t1", "--store", "s1", *db)
    assert code == 0
    cred = msgspec.json.decode(out, type=StoreCredential)
    assert (cred.tenant_id, cred.store_id, len(cred.secret)) == ("t1", "s1", 32)
    client = relay.store_client(cred)
    assert client.get("/v1/stores/s1/watermark").status_code == 200
    assert _cli("stores", "enroll", "--tenant", "t1", "--store", "s1", *db)[0] == 2
    assert _cli("stores", "enroll", "--tenant", "t1", "--store", "bad id!", *db)[0] == 2
    code, out, _ = _cli("stores", "list", "--json", *db)
    listed = json.loads(out)
    assert [(s["store_id"], s["key_id"]) for s in listed] == [("s1", cred.key_id)]
    assert "secret" not in out
    assert _cli("stores", "revoke", "s1", "--tenant", "t1", *db)[0] == 0
    assert client.get("/v1/stores/s1/watermark").status_code == 401
    assert _cli("stores", "revoke", "s1", "--tenant", "t1", *db)[0] == 2
    # Re-enrolling issues a new credential for the same ledger.
    code, out, _ = _cli("stores", "enroll", "--tenant", "t1", "--store", "s1", *db)
    assert code == 0 and msgspec.json.decode(out, type=StoreCredential).key_id != cred.key_id

    code, out, _ = _cli("hq-token", "create", "--tenant", "t1", *db)
    token = json.loads(out)
    hq = relay.hq_client(token["token"])
    assert hq.get("/v1/stores").status_code == 200
    assert _cli("hq-token", "revoke", token["token_id"], *db)[0] == 0
    assert hq.get("/v1/stores").status_code == 401


def test_export_jsonl_and_csv_resumable(relay: Relay, tmp_path: Path) -> None:
    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(2500)
    client.ack(chain.batch(1, 2000))
    client.ack(chain.batch(2001, 2500))
    ledger = list(iter_ledger(relay.hq_client(relay.hq_token("t1")), limit=5000))
    db = relay.cli_args
    out = tmp_path / "ledger.jsonl"
    code, _, err = _cli("export", "--tenant", "t1", "--format", "jsonl", "--out", str(out), *db)
    assert code == 0, err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == ledger
    resume = err.rsplit("--after ", 1)[1].split()[0]
    chain.extend(5)
    client.ack(chain.batch(2501, 2505))
    code, _, err = _cli("export", "--tenant", "t1", "--format", "csv", "--after", resume,
                        "--out", str(tmp_path / "tail.csv"), *db)
    assert code == 0, err
    # A resumed CSV continues the first file: no second header.
    rows = list(csv.reader(io.StringIO((tmp_path / "tail.csv").read_text())))
    assert [int(r[2]) for r in rows] == [2501, 2502, 2503, 2504, 2505]
    code, out_text, _ = _cli("export", "--tenant", "t1", "--format", "csv", *db)
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out_text)))
    assert len(table) == 2505 and table[0]["body_b64"] == ledger[0]["body_b64"]
    assert [r["event_id"] for r in table[:2500]] == [e["event_id"] for e in ledger]
    assert _cli("export", "--tenant", "t1", "--format", "parquet", *db)[0] == 2
    assert _cli("export", "--tenant", "t1", "--after", "bogus", *db)[0] == 2
    # --body once: the same events, each body once (JSON here: all are interpretable).
    code, once_text, err = _cli("export", "--tenant", "t1", "--body", "once", *db)
    assert code == 0, err
    once = [json.loads(line) for line in once_text.splitlines()]
    assert len(once) == 2505 and all(e["body_b64"] is None for e in once)
    assert [{**e, "body_b64": None} for e in once[:2500]] == [{**e, "body_b64": None}
                                                              for e in ledger]
    assert _cli("export", "--tenant", "t1", "--body", "twice", *db)[0] == 2
    assert _cli("export", "--tenant", "t1", "--format", "csv", "--body", "once", *db)[0] == 2


def test_enroll_out_writes_the_credential_as_a_private_file(relay: Relay, tmp_path: Path) -> None:
    target = tmp_path / "cred.json"
    code, out, err = _cli("stores", "enroll", "--tenant", "t1", "--store", "s1", "--out",
                          str(target), *relay.cli_args)
    assert code == 0, err
    assert "secret" not in out and str(target) in " ".join(out.split())
    assert target.stat().st_mode & 0o777 == 0o600
    cred = msgspec.json.decode(target.read_bytes(), type=StoreCredential)
    assert relay.store_client(cred).get("/v1/stores/s1/watermark").status_code == 200


def test_an_interrupted_export_leaves_no_half_file(relay: Relay, tmp_path: Path) -> None:
    from cloud_relay import export

    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(export.PAGE_EVENTS + 10)
    client.ack(chain.batch(1, export.PAGE_EVENTS))
    client.ack(chain.batch(export.PAGE_EVENTS + 1, export.PAGE_EVENTS + 10))
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "ledger.jsonl"
    target.write_text("yesterday's export\n")

    def cut(n: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C (or a crash) after the first page

    with pytest.raises(KeyboardInterrupt):
        export.export_file(relay.storage, "t1", "jsonl", target, on_page=cut)
    assert target.read_text() == "yesterday's export\n"
    assert [p.name for p in target.parent.iterdir()] == ["ledger.jsonl"]
    written, _ = export.export_file(relay.storage, "t1", "jsonl", target)
    assert written == len(target.read_text().splitlines()) == export.PAGE_EVENTS + 10
