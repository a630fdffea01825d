"""Prometheus metrics of the bot on `127.0.0.1:<port>/metrics`.

Values are read from the live objects at scrape time (a custom collector), so nothing has to be
updated on the hot path. Last-message age is given on both clocks: `clock="exchange"` is now minus the
newest event time the venue stamped (includes the venue's and the network's delay), `clock="receive"` is
now minus when this process last received anything on the connection.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from cqt.bot.supervisor import Supervisor
from cqt.collect.collection import Collection

Metric = GaugeMetricFamily | CounterMetricFamily


@dataclass
class PredictionProbe:
    """What the prediction loop exposes: the newest decision time predicted and settled counts."""

    last_t0: datetime | None = None
    predictions: int = 0
    settled: int = 0


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels or [])


def _counter(name: str, doc: str, labels: list[str] | None = None) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=labels or [])


class BotCollector(Collector):
    """Reads the collection, the supervisor and the prediction loop at scrape time."""

    def __init__(
        self, collection: Collection, supervisor: Supervisor, prediction: PredictionProbe,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.col = collection
        self.sup = supervisor
        self.pred = prediction
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        yield from self._streams(now)
        yield from self._storage()
        yield from self._pipeline(now)

    def _streams(self, now: float) -> Iterator[Metric]:
        msgs = _counter("cqt_stream_messages", "Messages received per stream.", ["exchange", "stream"])
        bad = _counter(
            "cqt_malformed_frames", "Malformed or unexpected frames skipped.", ["exchange", "stream"]
        )
        age = _gauge("cqt_stream_last_message_age_seconds", "Age of the newest message.",
                     ["exchange", "stream", "clock"])  # fmt: skip
        reconnects = _counter("cqt_ws_reconnects", "WebSocket reconnects.", ["session"])
        stalls = _counter("cqt_ws_stalls", "Connections closed for silence.", ["session"])
        rotations = _counter("cqt_ws_rotations", "Proactive connection rotations.", ["session"])
        for exchange, coll in (("upbit", self.col.upbit), ("binance", self.col.binance)):
            if coll is None:
                continue
            for stream, n in coll.messages.items():
                msgs.add_metric([exchange, stream], n)
            for stream, n in coll.malformed.items():
                bad.add_metric([exchange, stream], n)
            for stream, ms in coll.last_event_ms.items():
                age.add_metric([exchange, stream, "exchange"], now - ms / 1000)
            for session in coll.sessions:
                st = session.stats
                if st.last_recv is not None:
                    age.add_metric([exchange, session.name, "receive"], now - st.last_recv.timestamp())
                reconnects.add_metric([session.name], st.reconnects)
                stalls.add_metric([session.name], st.stalls)
                rotations.add_metric([session.name], st.rotations)
        yield from (msgs, bad, age, reconnects, stalls, rotations)
        gaps = _counter("cqt_gaps", "Gap-ledger entries by outcome.", ["status"])
        counts = self.col.ledger.counts
        gaps.add_metric(["opened"], counts.opened)
        gaps.add_metric(["filled"], counts.filled)
        gaps.add_metric(["unfillable"], counts.unfillable)
        yield gaps
        open_gaps = _gauge("cqt_gaps_open", "Gaps detected and not closed yet.")
        open_gaps.add_metric([], len(self.col.ledger.open_gaps))
        yield open_gaps
        if self.col.binance_poller is not None:
            rest = self.col.binance_poller.client.stats
            calls = _counter("cqt_binance_rest_calls", "Binance REST calls by outcome.", ["outcome"])
            for outcome, n in (("sent", rest.calls), ("http_429", rest.http_429), ("http_418", rest.http_418),
                               ("error", rest.errors), ("throttled_wait", rest.throttled_waits)):  # fmt: skip
                calls.add_metric([outcome], n)
            yield calls
        if self.col.coinglass is not None:
            cg = _counter("cqt_coinglass_calls", "Coinglass calls (ok = HTTP 200 and code 0).", ["ok"])
            cg.add_metric(["true"], self.col.coinglass.calls_ok)
            cg.add_metric(["false"], self.col.coinglass.calls_failed)
            yield cg

    def _storage(self) -> Iterator[Metric]:
        m = self.col.writer.metrics
        latency = _gauge("cqt_write_latency_seconds", "Storage batch commit latency.", ["stat"])
        latency.add_metric(["last"], m.last_batch_latency_s)
        latency.add_metric(["max"], m.max_batch_latency_s)
        yield latency
        for name, doc, value in (
            ("cqt_write_batch_rows", "Rows in the last committed batch.", m.last_batch_rows),
            ("cqt_spool_depth_batches", "Batches waiting in the on-disk spool.", m.spool_depth),
            ("cqt_spool_bytes", "Bytes in the on-disk spool.", m.spool_bytes),
            ("cqt_db_connected", "1 while the writer is connected to PostgreSQL.", int(m.connected)),
            ("cqt_write_backlog_rows", "Rows buffered in memory, not yet written or spooled.",
             self.col.writer.backlog_rows),
            ("cqt_spool_failing", "1 while the spool refuses batches (full, disk full, not writable).",
             int(m.spool_error is not None)),
        ):  # fmt: skip
            g = _gauge(name, doc)
            g.add_metric([], value)
            yield g
        for name, doc, value in (
            ("cqt_rows_written", "Rows sent to PostgreSQL (including duplicates).", m.rows_written),
            ("cqt_rows_inserted", "Rows that were new (duplicates absorbed by natural keys excluded).",
             m.rows_inserted),
            ("cqt_spool_full_alarms", "Times the spool was full (rows held in memory).", m.spool_full_alarms),
            ("cqt_spool_write_errors", "Spool writes, listings or probes that failed (disk full, permissions).",
             m.spool_write_errors),
            ("cqt_write_backlog_alarms", "Times the rows held in memory went over the writer's bound.",
             m.backlog_alarms),
            ("cqt_rejected_batches", "Batches PostgreSQL rejected for their content (kept aside).",
             m.rejected_batches),
        ):  # fmt: skip
            c = _counter(name, doc)
            c.add_metric([], value)
            yield c
        conflicts = _counter(
            "cqt_key_conflicts",
            "Rows not stored: their natural key is stored with another payload.",
            ["table"],
        )
        for table, n in sorted(m.key_conflicts.items()):
            conflicts.add_metric([table], n)
        yield conflicts

    def _pipeline(self, now: float) -> Iterator[Metric]:
        lag = _gauge("cqt_bar_lag_seconds", "Now minus the newest bar end written.", ["exchange", "symbol"])
        for (exchange, symbol), ts in self.col.bars.last_bar_ts.items():
            lag.add_metric([exchange, symbol], now - ts.timestamp())
        yield lag
        late = _counter("cqt_late_trades", "Trades too late for their live bar (repaired from storage).")
        late.add_metric([], self.col.bars.late_dropped)
        yield late
        pred = _gauge("cqt_prediction_lag_seconds", "Now minus the newest decision time predicted.")
        if self.pred.last_t0 is not None:
            pred.add_metric([], now - self.pred.last_t0.timestamp())
        yield pred
        for name, doc, value in (
            ("cqt_predictions", "Predictions written by this run.", self.pred.predictions),
            ("cqt_predictions_settled", "Predictions settled by this run.", self.pred.settled),
        ):
            c = _counter(name, doc)
            c.add_metric([], value)
            yield c
        crashes = _counter("cqt_task_crashes", "Supervised task crashes.", ["component"])
        restarts = _counter("cqt_task_restarts", "Supervised task restarts.", ["component"])
        for comp in self.col.components:
            crashes.add_metric([comp.name], self.sup.crashes[comp.name])
            restarts.add_metric([comp.name], self.sup.restarts[comp.name])
        yield crashes
        yield restarts


class MetricsPortError(OSError):
    """`/metrics` cannot listen on the configured port; the message is the one line a user needs."""


class MetricsServer:
    """`/metrics` on 127.0.0.1 in a background thread (port 0 picks a free port)."""

    def __init__(self, collector: BotCollector, port: int) -> None:
        registry = CollectorRegistry()
        registry.register(collector)
        try:
            self._server, self._thread = start_http_server(port, addr="127.0.0.1", registry=registry)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise MetricsPortError(
                    f"port {port} is in use; set METRICS_PORT (0 = any free port)"
                ) from None
            raise MetricsPortError(
                f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); set METRICS_PORT (0 = any free port)"
            ) from None
        self.port = int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
