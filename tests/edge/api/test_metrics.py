"""/metrics as Prometheus and its tools expect it: one charset in the content type, HEAD
answered, process and build-info metrics, a request histogram whose series stay bounded under
fuzzing, and an exposition `promtool check metrics` (when installed) and prometheus_client's
own parser accept."""

from __future__ import annotations

import random
import shutil
import subprocess

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge.metrics import REQUEST_BUCKETS_S
from tests.support.live_app import LiveApp

HISTOGRAM = "novapos_http_request_duration_seconds"


def test_content_type_carries_one_charset_and_head_answers(live: LiveApp) -> None:
    got = httpx.get(f"{live.url}/metrics")
    assert got.status_code == 200
    assert got.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    probe = httpx.head(f"{live.url}/metrics")
    assert probe.status_code == 200 and probe.content == b""
    assert probe.headers["content-type"] == got.headers["content-type"]


def test_process_and_build_info_are_exported(live: LiveApp) -> None:
    families = {f.name: f for f in text_string_to_metric_families(
        httpx.get(f"{live.url}/metrics").text)}
    for name in ("process_cpu_seconds", "process_resident_memory_bytes",
                 "process_start_time_seconds", "process_open_fds", "python_info"):
        assert name in families, name
    (build,) = families["novapos_build_info"].samples
    assert build.value == 1 and build.labels["version"] and build.labels["python"]


def test_the_request_histogram_stays_bounded_under_a_fuzz_of_paths_methods_and_codes(
        live: LiveApp) -> None:
    rng = random.Random(7)
    with httpx.Client(base_url=live.url, timeout=10) as anon, live.client() as lane:
        for i in range(300):
            path = rng.choice(["/v1/carts/", "/v1/orders/", "/nope/", "/v1/catalog/items/"])
            method = rng.choice(["GET", "POST", "DELETE", "PATCH", "PROPFIND", "BREW"])
            client = lane if i % 2 else anon
            client.request(method, path + f"{rng.getrandbits(40):x}",
                           content=b"{" if method != "GET" else None)
    text = httpx.get(f"{live.url}/metrics").text
    samples = [s for f in text_string_to_metric_families(text) if f.name == HISTOGRAM
               for s in f.samples]
    label_sets = {tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                  for s in samples}
    for labels in map(dict, label_sets):
        assert labels["status_class"] in {"1xx", "2xx", "3xx", "4xx", "5xx"}, labels
        assert labels["method"] in {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
                                    "other"}, labels
        # A route template or `unmatched`, never a raw path with an id in it.
        assert labels["route"] == "unmatched" or labels["route"].startswith("/"), labels
        assert not any(c.isdigit() and len(part) > 8 for part in labels["route"].split("/")
                       for c in part), labels
    # 300 requests over random ids, methods and outcomes: a handful of label sets, each with
    # len(buckets) + 1 (+Inf) bucket series, _sum, _count (and _created).
    assert len(label_sets) <= 30, sorted(label_sets)
    per_set = len(REQUEST_BUCKETS_S) + 4
    assert len(samples) <= per_set * len(label_sets)


def test_the_exposition_passes_promtool_or_the_reference_parser(live: LiveApp) -> None:
    live.client().post("/v1/carts", json={}, headers={"Idempotency-Key": "metrics-1"})
    text = httpx.get(f"{live.url}/metrics").text
    families = list(text_string_to_metric_families(text))
    names = [f.name for f in families]
    assert len(names) == len(set(names)), "a metric family is exposed twice"
    for f in families:
        assert f.documentation, f"{f.name} has no HELP"
    assert "novapos_sync_last_success_age_seconds" not in text
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed: checked with prometheus_client's parser only")
    res = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                         capture_output=True, timeout=60)
    assert res.returncode == 0 and not res.stdout.strip() and not res.stderr.strip(), (
        res.stdout + res.stderr).decode()


def test_process_metrics_survive_a_proc_without_system_files(tmp_path) -> None:
    """The systemd unit's ProcSubset=pid leaves only process directories in /proc: no
    /proc/stat, where prometheus_client takes the boot time from."""
    import os
    import time

    from prometheus_client import CollectorRegistry

    from edge.metrics import _ProcessCollector

    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "self").symlink_to(f"/proc/{os.getpid()}")
    registry = CollectorRegistry()
    _ProcessCollector(proc=str(proc), registry=registry)
    start = registry.get_sample_value("process_start_time_seconds")
    assert start is not None and start <= time.time()
    # The same start time /proc/stat's boot time gives (to clock-read precision).
    reference = CollectorRegistry()
    _ProcessCollector(registry=reference)
    assert abs(start - reference.get_sample_value("process_start_time_seconds")) < 2
    assert registry.get_sample_value("process_resident_memory_bytes") > 0
