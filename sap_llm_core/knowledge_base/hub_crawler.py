"""Crawler for ``$metadata`` documents on the SAP Business Accelerator Hub (api.sap.com sandbox).

Why it looks like this: the Hub rate-limits (HTTP 429) and has transient 5xx answers, and a crawl of
many APIs must survive being stopped. So requests are paced by a rate limiter (default 10/s),
retried with exponential backoff (honouring ``Retry-After``), every download is validated with the
safe EDMX parser before it is kept, files are written atomically (``.part`` then rename), and a
state file records what is complete so a re-run only fetches what is missing. The API key travels
in the ``APIKey`` header, never in a URL or a log line.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from sap_llm_core.knowledge_base.edmx_parser import EdmxParseError, parse_bytes

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
METADATA_PATH = "/sap/opu/odata/sap/{api}/$metadata"


class RateLimiter:
    """At most ``rate`` calls per second: each call waits until ``1/rate`` after the previous one."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 1.0 / rate
        self.clock, self.sleep = clock, sleep
        self._next = 0.0

    def wait(self) -> None:
        now = self.clock()
        if now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


@dataclass
class CrawlReport:
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # complete from an earlier run
    failed: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    retry_waits: list[float] = field(default_factory=list)  # seconds waited before each retry

    def files(self, out_dir: Path) -> list[Path]:
        return [out_dir / f"{api}.edmx" for api in sorted(self.downloaded + self.skipped)]


class HubCrawler:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        out_dir: str | Path,
        rate_limit_per_s: float = 10.0,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        timeout_s: float = 30.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retry_after_s: float = 60.0,
    ):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.out_dir = Path(out_dir)
        self.max_retries, self.backoff_s, self.timeout_s = max_retries, backoff_s, timeout_s
        self.session = session or requests.Session()
        self.sleep = sleep
        self.limiter = RateLimiter(rate_limit_per_s, sleep=sleep)
        self.max_retry_after_s = max_retry_after_s

    def __repr__(self) -> str:  # never show the key
        return f"HubCrawler({self.base_url!r}, out_dir={str(self.out_dir)!r})"

    # state ----------------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.out_dir / "crawl_state.json"

    def _load_state(self) -> dict[str, Any]:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text("utf-8"))
        return {}

    def _save_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".json.part")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True), "utf-8")
        os.replace(tmp, self.state_file)

    def _complete(self, api: str, state: dict[str, Any]) -> bool:
        entry = state.get(api)
        path = self.out_dir / f"{api}.edmx"
        return (
            bool(entry) and path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        )

    # HTTP -----------------------------------------------------------------------------------------
    def _delay(self, attempt: int, response: requests.Response | None) -> float:
        if response is not None and response.headers.get("Retry-After"):
            try:
                return min(float(response.headers["Retry-After"]), self.max_retry_after_s)
            except ValueError:
                pass
        return self.backoff_s * (2**attempt)

    def fetch(self, api: str, report: CrawlReport) -> bytes:
        url = self.base_url + METADATA_PATH.format(api=api)
        headers = {"APIKey": self._api_key, "Accept": "application/xml"}
        last = ""
        for attempt in range(self.max_retries + 1):
            self.limiter.wait()
            report.requests += 1
            response = None
            try:
                response = self.session.get(url, headers=headers, timeout=self.timeout_s)
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}"
            else:
                if response.status_code == 200:
                    return response.content
                last = f"HTTP {response.status_code}"
                if response.status_code not in RETRY_STATUS:
                    raise RuntimeError(f"{api}: {last} (not retried)")
            if attempt < self.max_retries:
                report.retries += 1
                delay = self._delay(attempt, response)
                report.retry_waits.append(delay)
                self.sleep(delay)
        raise RuntimeError(f"{api}: gave up after {self.max_retries + 1} attempts ({last})")

    # crawl ----------------------------------------------------------------------------------------
    def crawl(self, apis: Sequence[str], log: Callable[[str], None] | None = None) -> CrawlReport:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        state = self._load_state()
        report = CrawlReport()
        for api in apis:
            if self._complete(api, state):
                report.skipped.append(api)
                continue
            try:
                data = self.fetch(api, report)
                parse_bytes(data, f"{self.base_url}/{api}/$metadata", api=api)  # keep only valid EDMX
            except (RuntimeError, EdmxParseError) as exc:
                report.failed[api] = str(exc)
                if log:
                    log(f"crawler: {exc}")
                continue
            target = self.out_dir / f"{api}.edmx"
            part = target.with_suffix(".edmx.part")
            part.write_bytes(data)
            os.replace(part, target)
            state[api] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            self._save_state(state)  # after every file: a stopped crawl resumes where it was
            report.downloaded.append(api)
            if log:
                log(f"crawler: {api} ({len(data)} bytes)")
        return report


def api_names() -> list[str]:
    from sap_llm_core.knowledge_base.kb_items import api_list

    return [a["api"] for a in api_list()["apis"]]


def crawl_from_env(
    out_dir: str | Path | None,
    settings: Any,
    log: Callable[[str], None] | None = None,
    apis: Sequence[str] | None = None,
) -> list[Path]:
    """Crawl with ``SAP_API_KEY`` from the environment; returns the complete files."""
    key = os.environ.get("SAP_API_KEY")
    if not key:
        raise RuntimeError("crawler enabled but SAP_API_KEY is not set in the environment")
    if out_dir is None:
        raise RuntimeError("the crawler writes to a local folder; storage root is remote")
    crawler = HubCrawler(
        settings.base_url,
        key,
        out_dir,
        settings.rate_limit_per_s,
        settings.max_retries,
        settings.backoff_s,
        settings.timeout_s,
    )
    report = crawler.crawl(apis or api_names(), log=log)
    return report.files(Path(out_dir))
