"""The Hub crawler against a local http.server that serves EDMX files and answers 429/5xx on demand."""

from __future__ import annotations

import http.server
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from sap_llm_core.knowledge_base.hub_crawler import HubCrawler, RateLimiter

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "sap-edmx"


class FakeHub:
    """Serves ``/sap/opu/odata/sap/<API>/$metadata`` from files; ``script[api]`` lists status codes to
    answer before the real file (e.g. [429, 503]); records every request and its headers."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.script: dict[str, list[int]] = defaultdict(list)
        self.requests: list[tuple[float, str, dict]] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hub.requests.append((time.monotonic(), self.path, dict(self.headers)))
                parts = self.path.split("/")
                api = parts[5] if len(parts) > 6 and parts[6] == "$metadata" else ""
                if hub.script[api]:
                    code = hub.script[api].pop(0)
                    self.send_response(code)
                    if code == 429:
                        self.send_header("Retry-After", "0")
                    self.end_headers()
                    return
                if api not in hub.files:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = hub.files[api]
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def hub_files() -> dict[str, bytes]:
    files = {
        "ZTEST_INVOICE_SRV": (FIXTURES / "v2_service.edmx").read_bytes(),
        "API_V4_SRV": (FIXTURES / "v4_service.xml").read_bytes(),
        "ZTEST_MINIFIED_SRV": (FIXTURES / "v2_minified.edmx").read_bytes(),
    }
    if SHARED.is_dir():  # the real files when present
        files.update({p.stem: p.read_bytes() for p in sorted(SHARED.glob("*.edmx"))})
    return files


def crawler(hub: FakeHub, out: Path, **kw) -> HubCrawler:
    opts = {"rate_limit_per_s": 50.0, "max_retries": 3, "backoff_s": 0.01, "timeout_s": 5.0, **kw}
    return HubCrawler(hub.url, "secret-key-123", out, **opts)


def test_downloads_validates_and_sends_the_key_in_a_header(tmp_path: Path) -> None:
    files = hub_files()
    with FakeHub(files) as hub:
        report = crawler(hub, tmp_path).crawl(sorted(files))
    assert report.downloaded == sorted(files) and not report.failed and report.retries == 0
    for api, body in files.items():
        assert (tmp_path / f"{api}.edmx").read_bytes() == body
    assert all(h.get("APIKey") == "secret-key-123" and "secret" not in path for _, path, h in hub.requests)
    assert "secret" not in repr(crawler(hub, tmp_path))


def test_retries_429_and_5xx_with_backoff_then_gives_up(tmp_path: Path) -> None:
    files = hub_files()
    with FakeHub(files) as hub:
        hub.script["ZTEST_INVOICE_SRV"] = [429, 503, 500]
        hub.script["API_V4_SRV"] = [502] * 10
        report = crawler(hub, tmp_path).crawl(["ZTEST_INVOICE_SRV", "API_V4_SRV"])
    assert report.downloaded == ["ZTEST_INVOICE_SRV"]
    assert "gave up after 4 attempts (HTTP 502)" in report.failed["API_V4_SRV"]
    assert not (tmp_path / "API_V4_SRV.edmx").exists()
    # Retry-After: 0 honoured on the 429, then exponential backoff 0.01 * 2**attempt
    assert report.retry_waits == [0.0, 0.02, 0.04, 0.01, 0.02, 0.04]
    assert report.retries == 3 + 3 and report.requests == 4 + 4


def test_not_found_and_invalid_xml_are_not_kept(tmp_path: Path) -> None:
    with FakeHub({"API_BAD_SRV": b"<edmx:Edmx><broken"}) as hub:
        report = crawler(hub, tmp_path).crawl(["API_MISSING_SRV", "API_BAD_SRV"])
    assert "HTTP 404 (not retried)" in report.failed["API_MISSING_SRV"]
    assert "malformed XML" in report.failed["API_BAD_SRV"]
    assert report.requests == 2 and not list(tmp_path.glob("*.edmx"))


def test_crawl_is_resumable(tmp_path: Path) -> None:
    files = hub_files()
    apis = sorted(files)
    with FakeHub(files) as hub:
        crawler(hub, tmp_path).crawl(apis)
        first = len(hub.requests)
        again = crawler(hub, tmp_path).crawl(apis)
        assert again.skipped == apis and again.requests == 0 and len(hub.requests) == first
        (tmp_path / f"{apis[0]}.edmx").unlink()
        (tmp_path / f"{apis[1]}.edmx").write_bytes(b"truncated by a crash")
        (tmp_path / f"{apis[2]}.edmx.part").write_bytes(b"left over")
        resumed = crawler(hub, tmp_path).crawl(apis)
    assert sorted(resumed.downloaded) == sorted(apis[:2]) and resumed.requests == 2
    assert (tmp_path / f"{apis[1]}.edmx").read_bytes() == files[apis[1]]


def test_rate_limit_paces_requests(tmp_path: Path) -> None:
    files = {f"API_{i}_SRV": (FIXTURES / "v2_service.edmx").read_bytes() for i in range(6)}
    with FakeHub(files) as hub:
        start = time.monotonic()
        crawler(hub, tmp_path, rate_limit_per_s=20.0).crawl(sorted(files))
        elapsed = time.monotonic() - start
        times = [t for t, _, _ in hub.requests]
    assert elapsed >= 5 / 20 * 0.95  # 6 requests at 20/s need at least 5 intervals
    assert times[-1] - times[0] >= 5 / 20 * 0.9  # as seen by the server (allowing network jitter)


def test_rate_limiter_with_a_fake_clock() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(round(s, 6))
        now[0] += s

    limiter = RateLimiter(10.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.wait()
    assert waits == [0.1, 0.1, 0.1]
    now[0] += 5
    limiter.wait()
    assert waits == [0.1, 0.1, 0.1]


def test_crawl_from_env_requires_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from sap_llm_core.knowledge_base.hub_crawler import crawl_from_env
    from sap_llm_core.settings import CrawlerSettings

    monkeypatch.delenv("SAP_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SAP_API_KEY"):
        crawl_from_env(tmp_path, CrawlerSettings())
    monkeypatch.setenv("SAP_API_KEY", "k")
    with FakeHub(hub_files()) as hub:
        files = crawl_from_env(tmp_path, CrawlerSettings(base_url=hub.url), apis=["ZTEST_INVOICE_SRV"])
    assert files == [tmp_path / "ZTEST_INVOICE_SRV.edmx"]
