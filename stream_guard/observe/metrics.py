"""Prometheus metrics (the contract in docs/design.md), shared by `scan --metrics-port` and the worker.

The engine records a whole batch at once (`record_batch`): counters are incremented once per label
set and batch, and histograms are kept as plain bucket counts, so metrics cost little per event
at hundreds of thousands of events a second. The HTTP server reads from another thread; it only
ever sees figures published under one lock, and per-shop rows as an immutable list replaced whole.

Per-shop series are bounded: only shops of the latest local day or the one before are exported
(a shop idle for a day disappears), and of those at most `shop_series_cap`, worst rates first.
"""
from __future__ import annotations

import bisect
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

PREFIX = "stream_guard_"
RESPONSE_BUCKETS = (5, 10, 30, 60, 120, 180, 300, 600, 1800, 3600)  # seconds; 180 is the usual threshold
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
BATCH_SIZE_BUCKETS = (1, 10, 100, 500, 1000, 2000, 5000, 10000)
TURN_OUTCOMES = ("valid", "late", "missed")
DEFAULT_SHOP_SERIES_CAP = 500


class _Buckets:
    """Cumulative-on-export bucket counts of one histogram series, with weights."""

    __slots__ = ("bounds", "counts", "total", "count")

    def __init__(self, bounds):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.count = 0

    def add(self, value: float, weight: int = 1) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += weight
        self.total += value * weight
        self.count += weight

    def exported(self):
        running, out = 0, []
        for bound, n in zip(self.bounds, self.counts, strict=False):  # the last count is +Inf's
            running += n
            out.append((repr(float(bound)), running))
        out.append(("+Inf", self.count))
        return out, self.total


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None,
                 shop_series_cap: int = DEFAULT_SHOP_SERIES_CAP):
        self.registry = registry or CollectorRegistry()
        self.shop_series_cap = shop_series_cap
        r = self.registry
        self.events_consumed = Counter(PREFIX + "events_consumed", "Records read from the input", registry=r)
        self.duplicate_events = Counter(PREFIX + "duplicate_events",
                                        "Events whose event_id a scan met before (scan only)", registry=r)
        self.events_processed = Counter(PREFIX + "events_processed", "Valid events processed", registry=r)
        self.dead_letters = Counter(PREFIX + "dead_letters", "Records rejected, by reason", ["reason"], registry=r)
        self.skipped_records = Counter(PREFIX + "skipped_records", "Records skipped, not rejected: tombstones",
                                       ["reason"], registry=r)
        self.rekeyed_records = Counter(PREFIX + "rekeyed_records",
                                       "Misrouted records re-keyed through the repartition topic, by reason",
                                       ["reason"], registry=r)
        self.violations = Counter(PREFIX + "violations", "Violations found",
                                  ["platform", "category", "severity", "rule"], registry=r)
        self.incidents = Counter(PREFIX + "incidents", "Incidents: a category on a message, counted once",
                                 ["platform", "category"], registry=r)
        self.incident_fines = Counter(PREFIX + "incident_fines_cny",
                                      "Fines of the incidents in CNY, each incident's once", ["platform"], registry=r)
        self.reply_turns = Counter(PREFIX + "reply_turns", "Decided reply turns by outcome",
                                   ["platform", "outcome"], registry=r)
        self.reply_missed = Counter(PREFIX + "reply_missed_notices",
                                    "Turns whose deadline passed with the buyer still waiting", ["platform"],
                                    registry=r)
        self.late_events = Counter(PREFIX + "late_events", "Events older than the allowed lateness",
                                   ["platform"], registry=r)
        self.pack_info = Gauge(PREFIX + "rule_pack_info",
                               "Rule pack version in force, and the violation contract's version",
                               ["platform", "version", "contract"], registry=r)
        # the worker's own: Faust's sensors do not export consumer lag
        self.consumer_lag = Gauge(PREFIX + "consumer_lag", "Records between the partition's end and the worker",
                                  ["topic", "partition"], registry=r)
        self.assigned_partitions = Gauge(PREFIX + "assigned_partitions", "Input partitions this worker owns",
                                         registry=r)
        self.rule_reloads = Counter(PREFIX + "rule_reloads", "Rule pack reloads by result (swapped, rejected)",
                                    ["result"], registry=r)
        self.state_restored_shops = Counter(PREFIX + "state_restored_shops",
                                            "Shops whose reply state was restored from the changelog", registry=r)
        self._lock = threading.Lock()
        self._response: dict[str, _Buckets] = {}  # by platform
        self._latency = _Buckets(LATENCY_BUCKETS)
        self._batch_sizes = _Buckets(BATCH_SIZE_BUCKETS)
        self._shop_rows: tuple[dict, ...] = ()
        self._risk: dict[str, int] = {}
        self._open_turns = 0
        self._shops_dropped = 0
        r.register(_Collector(self))

    # ---- recording (the engine's thread) -----------------------------------------------------

    def record_batch(self, consumed: int, processed: int, rejects: Iterable[str], violations: Iterable[dict],
                     incidents: Sequence, outcomes: Iterable, seconds: float) -> None:
        """`incidents`: the violations' incidents (violations.incidents), each counted once with its fine."""
        self.events_consumed.inc(consumed)
        self.events_processed.inc(processed)
        for reason, n in Tally(rejects).items():
            self.dead_letters.labels(reason).inc(n)
        for key, n in Tally((v["platform"], v["category"], v["severity"], v["rule_id"]) for v in violations).items():
            self.violations.labels(*key).inc(n)
        by_category: Tally[tuple[str, str]] = Tally()
        fines: Tally[str] = Tally()
        for i in incidents:
            by_category[i.platform, i.category] += 1
            fines[i.platform] += i.fine_cny
        for (platform, category), n in by_category.items():
            self.incidents.labels(platform, category).inc(n)
        for platform, fine in fines.items():
            self.incident_fines.labels(platform).inc(fine)
        turns: Tally[tuple[str, str]] = Tally()
        missed: Tally[str] = Tally()
        late: Tally[str] = Tally()
        responses: list[tuple[str, float]] = []
        for o in outcomes:
            if o.kind in TURN_OUTCOMES:
                turns[o.platform, o.kind] += 1
                if o.replied_ts is not None:
                    responses.append((o.platform, (o.replied_ts - o.opened_ts) / 1000))
            elif o.kind == "reply_missed":
                missed[o.platform] += 1
            elif o.kind == "late_event":
                late[o.platform] += 1
        for (platform, kind), n in turns.items():
            self.reply_turns.labels(platform, kind).inc(n)
        for platform, n in missed.items():
            self.reply_missed.labels(platform).inc(n)
        for platform, n in late.items():
            self.late_events.labels(platform).inc(n)
        with self._lock:
            for platform, seconds_taken in responses:
                buckets = self._response.get(platform)
                if buckets is None:
                    buckets = self._response[platform] = _Buckets(RESPONSE_BUCKETS)
                buckets.add(seconds_taken)
            if consumed:
                # every event of a batch waited for the whole batch
                self._latency.add(seconds, consumed)
                self._batch_sizes.add(consumed)

    def set_pack_versions(self, versions: dict[str, str], contract: str) -> None:
        self.pack_info.clear()
        for platform, version in versions.items():
            self.pack_info.labels(platform, version, contract).set(1)

    def publish_shops(self, rows: Iterable[dict], open_turns: int) -> None:
        """Replace the exported per-shop figures with the latest local day of each shop."""
        rows = [r for r in rows if r["consults"]]
        latest = max((r["day"] for r in rows), default="")
        # idle shops go: a shop whose latest day is older than the day before the newest day seen
        recent = [r for r in rows if _days_apart(r["day"], latest) <= 1]
        risk = {r["platform"]: 0 for r in recent}  # zero, not absent, for platforms with no shop at risk
        for r in recent:
            risk[r["platform"]] += r["penalty_risk"]
        recent.sort(key=lambda r: (r["rate"], -r["consults"], r["platform"], r["shop_id"]))
        kept = tuple(recent[: self.shop_series_cap])
        with self._lock:
            self._shop_rows = kept
            self._risk = risk
            self._open_turns = open_turns
            self._shops_dropped = len(recent) - len(kept)

    def serve(self, port: int, addr: str = "127.0.0.1", health: Health | None = None):
        """Serve /metrics (and /healthz, /readyz) over HTTP in a background thread; returns
        (server, thread). Port 0 picks a free port: `server.server_port` tells which."""
        registry, checks = self.registry, health or Health()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/readyz"):
                    ok, why = checks.alive() if path == "/healthz" else checks.ready()
                    self._reply(200 if ok else 503, (why + "\n").encode(), "text/plain; charset=utf-8")
                else:
                    self._reply(404, b"/metrics, /healthz, /readyz\n", "text/plain; charset=utf-8")

            def _reply(self, status, body, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # scrapes every few seconds are not news
                pass

        try:
            server = ThreadingHTTPServer((addr, port), Handler)
        except OSError as exc:  # one line that names the port, for the command to print
            raise OSError(f"cannot serve metrics on {addr}:{port} (--metrics-port, --metrics-addr): "
                          f"{exc.strerror or exc}") from None
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
        thread.start()
        return server, thread


class Health:
    """What /healthz (alive: the process makes progress) and /readyz (ready: serving its
    partitions) answer. `scan` is always both; the worker beats from its event loop and says
    when it has joined its group and restored its state."""

    def __init__(self, stale_after_s: float | None = None):  # None: no heartbeat to watch
        self.stale_after_s = stale_after_s
        self._beat = time.monotonic()
        self._ready = True
        self._why = "ok"

    def beat(self) -> None:
        self._beat = time.monotonic()

    def set_ready(self, ready: bool, why: str) -> None:
        self._ready, self._why = ready, why

    def alive(self) -> tuple[bool, str]:
        silent = time.monotonic() - self._beat
        if self.stale_after_s is not None and silent > self.stale_after_s:
            return False, f"event loop silent for {silent:.0f} s"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        alive, why = self.alive()
        if not alive:
            return False, why
        return self._ready, self._why


def _days_apart(day: str, latest: str) -> int:
    return (date.fromisoformat(latest) - date.fromisoformat(day)).days


class _Collector:
    """The figures kept as plain numbers, exported at scrape time."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self):
        m = self.metrics
        with m._lock:
            rows = m._shop_rows
            risk = dict(m._risk)
            response = {p: b.exported() for p, b in m._response.items()}
            latency = m._latency.exported()
            sizes = m._batch_sizes.exported()
            open_turns, dropped = m._open_turns, m._shops_dropped
        hist = HistogramMetricFamily(PREFIX + "reply_response_seconds",
                                     "Time from a buyer's first waiting message to the qualifying reply",
                                     labels=["platform"])
        for platform, (buckets, total) in sorted(response.items()):
            hist.add_metric([platform], buckets, total)
        yield hist
        for name, doc, (buckets, total) in (
            ("processing_seconds", "Time an event spent in its batch's processing", latency),
            ("batch_size_events", "Events per processed batch", sizes),
        ):
            family = HistogramMetricFamily(PREFIX + name, doc)
            family.add_metric([], buckets, total)
            yield family
        rate = GaugeMetricFamily(PREFIX + "shop_reply_rate",
                                 "Valid-reply rate of a shop's latest local day (capped, worst first)",
                                 labels=["platform", "shop_id"])
        consults = GaugeMetricFamily(PREFIX + "shop_consults", "Counted consults of a shop's latest local day",
                                     labels=["platform", "shop_id"])
        valid = GaugeMetricFamily(PREFIX + "shop_valid_replies",
                                  "Validly answered consults of a shop's latest local day",
                                  labels=["platform", "shop_id"])
        shop_risk = GaugeMetricFamily(PREFIX + "shop_penalty_risk",
                                      "1 when a shop's latest local day is over its platform's penalty line "
                                      "(only platforms with a reply-rate penalty have one)",
                                      labels=["platform", "shop_id"])
        for row in rows:
            key = [row["platform"], row["shop_id"]]
            rate.add_metric(key, row["rate"])
            consults.add_metric(key, row["consults"])
            valid.add_metric(key, row["valid"])
            shop_risk.add_metric(key, int(row["penalty_risk"]))
        yield rate
        yield consults
        yield valid
        yield shop_risk
        at_risk = GaugeMetricFamily(PREFIX + "shops_at_penalty_risk",
                                    "Shops whose latest day is over the platform's penalty line",
                                    labels=["platform"])
        for platform, n in sorted(risk.items()):
            at_risk.add_metric([platform], n)
        yield at_risk
        yield GaugeMetricFamily(PREFIX + "reply_open_turns", "Buyers waiting for a reply now", value=open_turns)
        yield GaugeMetricFamily(PREFIX + "shop_series_dropped",
                                "Active shops left out of the per-shop series by the cap", value=dropped)
