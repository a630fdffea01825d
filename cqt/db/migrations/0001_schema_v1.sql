-- Schema v1: the tables every later part writes or reads.
-- Time rule (DESIGN §2): every stored fact has `ts` (event time on the source's clock, or the END of the
-- period a polled value describes) and `recv_ts` (when this process received it). Both timestamptz, UTC.
-- Natural keys (DESIGN §5) make every write idempotent (INSERT ... ON CONFLICT DO NOTHING).
-- Prices and quantities are double precision: exact for Upbit's KRW ticks and fast to aggregate; the
-- venues' decimal strings are kept to 15 significant digits, far beyond their tick sizes.

-- Trades: Binance aggTrade (trade_id = agg id `a`) and Upbit trade (trade_id = sequential_id).
CREATE TABLE trades (
    exchange    text             NOT NULL,
    symbol      text             NOT NULL,
    trade_id    bigint           NOT NULL,
    ts          timestamptz      NOT NULL,
    recv_ts     timestamptz      NOT NULL,
    price       double precision NOT NULL CHECK (price > 0),
    qty         double precision NOT NULL CHECK (qty > 0),
    side        smallint         NOT NULL CHECK (side IN (-1, 1)),  -- taker side: 1 buy, -1 sell
    PRIMARY KEY (exchange, symbol, trade_id)
);
CREATE INDEX trades_symbol_ts ON trades (exchange, symbol, ts);

-- Best bid/ask updates: Binance bookTicker (seq = update id `u`), Upbit orderbook top level (seq = timestamp ms).
CREATE TABLE quotes (
    exchange    text             NOT NULL,
    symbol      text             NOT NULL,
    seq         bigint           NOT NULL,
    ts          timestamptz      NOT NULL,
    recv_ts     timestamptz      NOT NULL,
    bid_price   double precision NOT NULL,
    bid_qty     double precision NOT NULL,
    ask_price   double precision NOT NULL,
    ask_qty     double precision NOT NULL,
    PRIMARY KEY (exchange, symbol, seq)
);
CREATE INDEX quotes_symbol_ts ON quotes (exchange, symbol, ts);

-- One-second bars, interval [ts - 1 s, ts), stamped at the bar END (DESIGN §3).
-- recv_ts = when the bar was closed (emitted) by this process.
CREATE TABLE market_1s (
    exchange        text             NOT NULL,
    symbol          text             NOT NULL,
    ts              timestamptz      NOT NULL,
    recv_ts         timestamptz      NOT NULL,
    open            double precision,
    high            double precision,
    low             double precision,
    close           double precision,
    volume          double precision NOT NULL DEFAULT 0,
    notional        double precision NOT NULL DEFAULT 0,
    vwap            double precision,
    buy_volume      double precision NOT NULL DEFAULT 0,
    sell_volume     double precision NOT NULL DEFAULT 0,
    n_trades        integer          NOT NULL DEFAULT 0,
    first_trade_ts  timestamptz,
    last_trade_ts   timestamptz,
    bid_open        double precision,
    bid_high        double precision,
    bid_low         double precision,
    bid_close       double precision,
    ask_open        double precision,
    ask_high        double precision,
    ask_low         double precision,
    ask_close       double precision,
    spread_bps      double precision,
    mid_close       double precision,
    imbalance       double precision,
    stale           boolean          NOT NULL DEFAULT false,
    gap             boolean          NOT NULL DEFAULT false,
    revision        integer          NOT NULL DEFAULT 0,
    PRIMARY KEY (exchange, symbol, ts)
);

-- Binance markPrice@1s: mark/index price and the current funding estimate. ts = event time `E`.
CREATE TABLE mark_price (
    exchange            text             NOT NULL DEFAULT 'binance',
    symbol              text             NOT NULL,
    ts                  timestamptz      NOT NULL,
    recv_ts             timestamptz      NOT NULL,
    mark_price          double precision NOT NULL,
    index_price         double precision,
    est_settle_price    double precision,
    funding_rate        double precision,
    next_funding_ts     timestamptz,
    PRIMARY KEY (exchange, symbol, ts)
);

-- Liquidations (Binance forceOrder). The stream has no id; the natural key is the order's content.
CREATE TABLE liquidations (
    exchange    text             NOT NULL,
    symbol      text             NOT NULL,
    ts          timestamptz      NOT NULL,   -- order trade time `o.T`
    recv_ts     timestamptz      NOT NULL,
    side        text             NOT NULL CHECK (side IN ('BUY', 'SELL')),  -- SELL: a long was liquidated
    price       double precision NOT NULL,
    avg_price   double precision NOT NULL,
    qty         double precision NOT NULL,   -- accumulated filled qty `o.z`
    status      text             NOT NULL,
    PRIMARY KEY (exchange, symbol, ts, side, price, qty)
);

-- Polled and pushed scalar series, long format: Binance futures metrics (open interest, ratios, basis,
-- funding history) and Coinglass series. ts = period END for polled periods (DESIGN §2).
CREATE TABLE metrics (
    source      text             NOT NULL,   -- 'binance' | 'coinglass'
    symbol      text             NOT NULL,
    metric      text             NOT NULL,   -- e.g. open_interest, oi_close, global_long_short_ratio
    ts          timestamptz      NOT NULL,
    recv_ts     timestamptz      NOT NULL,
    period_s    integer,                     -- length of the period the value describes; NULL = instant
    value       double precision NOT NULL,
    PRIMARY KEY (source, symbol, metric, ts)
);
CREATE INDEX metrics_metric_ts ON metrics (metric, ts);
CREATE VIEW futures_metrics AS SELECT * FROM metrics WHERE source = 'binance';
CREATE VIEW coinglass_series AS SELECT * FROM metrics WHERE source = 'coinglass';

-- Every Coinglass call, successful or not. ok = HTTP 200 AND body code "0".
CREATE TABLE coinglass_call_status (
    id           bigserial        PRIMARY KEY,
    ts           timestamptz      NOT NULL,
    symbol       text             NOT NULL,
    endpoint     text             NOT NULL,
    ok           boolean          NOT NULL,
    http_status  integer,
    body_code    text,
    error        text,
    latency_ms   double precision
);
CREATE INDEX coinglass_call_status_ts ON coinglass_call_status (ts);

-- Gap ledger: a hole in a stream, detected, then filled from REST or declared unfillable.
CREATE TABLE gaps (
    id            bigserial   PRIMARY KEY,
    exchange      text        NOT NULL,
    symbol        text        NOT NULL,
    stream        text        NOT NULL,     -- e.g. aggTrade, trade
    start_ts      timestamptz NOT NULL,     -- first instant possibly missing
    end_ts        timestamptz NOT NULL,     -- first instant known good again
    from_id       bigint,                   -- first missing id (id-sequenced streams)
    to_id         bigint,                   -- last missing id
    status        text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'filled', 'unfillable')),
    reason        text,
    opened_at     timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz,
    filled_count  integer     NOT NULL DEFAULT 0,
    UNIQUE (exchange, symbol, stream, start_ts, end_ts),
    CHECK (end_ts >= start_ts)
);
CREATE INDEX gaps_open ON gaps (exchange, symbol) WHERE status = 'open';

-- One bot process run: the ALT gates read run-time evidence here.
CREATE TABLE bot_runs (
    run_id        bigserial   PRIMARY KEY,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    stopped_at    timestamptz,
    stop_cause    text CHECK (stop_cause IN ('signal', 'crash', 'duration', 'lost')),
    stop_detail   text,
    source        text        NOT NULL,    -- 'live' | 'sim'
    symbols       text[]      NOT NULL,
    host          text        NOT NULL,
    pid           integer     NOT NULL,
    version       text        NOT NULL
);

-- Predictions made at decision time ts = t0 (a bar end); created_at is when the row was written
-- (the prediction's recv_ts). The settler fills the outcome columns after the horizon.
CREATE TABLE predictions (
    id              bigserial        PRIMARY KEY,
    symbol          text             NOT NULL,
    ts              timestamptz      NOT NULL,
    created_at      timestamptz      NOT NULL DEFAULT now(),
    model           text             NOT NULL,
    horizon_s       integer          NOT NULL CHECK (horizon_s > 0),
    r_t             double precision NOT NULL,
    p_up            double precision NOT NULL CHECK (p_up BETWEEN 0 AND 1),
    p_down          double precision NOT NULL CHECK (p_down BETWEEN 0 AND 1),
    p_none          double precision NOT NULL CHECK (p_none BETWEEN 0 AND 1),
    expected_value  double precision,
    action          text,
    features        jsonb            NOT NULL DEFAULT '{}'::jsonb,
    settled_at      timestamptz,
    y               smallint CHECK (y IN (-1, 0, 1)),
    fwd_return      double precision,
    label_ts        timestamptz,
    touch_ts        timestamptz,
    ambiguous       boolean,
    brier           double precision,
    log_loss        double precision,
    UNIQUE (symbol, ts, model, horizon_s),
    CHECK (label_ts IS NULL OR label_ts >= ts + make_interval(secs => horizon_s))
);
CREATE INDEX predictions_unsettled ON predictions (ts) WHERE settled_at IS NULL;
