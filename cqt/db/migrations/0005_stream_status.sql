-- What the collectors saw, sampled with every bot heartbeat (5 s), so a separate process (the checks, the
-- gates, the dashboard) can judge reconnects, malformed frames and the storage path without Prometheus.
-- Counters are cumulative since the run started: the change over a window is last - first of the run.
CREATE TABLE stream_status (
    run_id         bigint      NOT NULL REFERENCES bot_runs (run_id),
    ts             timestamptz NOT NULL,   -- snapshot time, local clock
    exchange       text        NOT NULL,   -- 'upbit' | 'binance'
    stream         text        NOT NULL,   -- e.g. trade, orderbook, aggTrade, bookTicker, markPrice@1s
    connection     text        NOT NULL,   -- the WebSocket carrying it, e.g. binance/market
    messages       bigint      NOT NULL,
    malformed      bigint      NOT NULL,
    reconnects     bigint      NOT NULL,   -- of the connection
    stalls         bigint      NOT NULL,   -- of the connection
    last_event_ts  timestamptz,            -- newest event time seen on the stream (source clock)
    last_recv_ts   timestamptz,            -- newest frame on the connection (local clock)
    PRIMARY KEY (run_id, exchange, stream, ts)
);
CREATE INDEX stream_status_ts ON stream_status (ts);

CREATE TABLE writer_status (
    run_id         bigint           NOT NULL REFERENCES bot_runs (run_id),
    ts             timestamptz      NOT NULL,
    rows_inserted  bigint           NOT NULL,
    spool_depth    integer          NOT NULL,   -- batches waiting on disk for PostgreSQL
    db_up          boolean          NOT NULL,   -- false also before the writer first connected
    last_batch_ms  double precision,
    max_batch_ms   double precision,
    PRIMARY KEY (run_id, ts)
);
CREATE INDEX writer_status_ts ON writer_status (ts);
