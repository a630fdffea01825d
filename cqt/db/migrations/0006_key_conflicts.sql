-- Natural-key conflicts with a differing payload: a row arrived for a key already stored (or twice in one
-- batch) with other values, and ON CONFLICT DO NOTHING kept the stored row. The storage writer records
-- them here, one row per (table, key), so the dropped version is not lost and the checks can FAIL on it.
-- Which columns count as payload is decided per table in cqt/store/tables.py (never recv_ts).
CREATE TABLE key_conflicts (
    table_name  text        NOT NULL,
    key         text        NOT NULL,                -- e.g. exchange=binance symbol=BTCUSDT trade_id=42
    first_seen  timestamptz NOT NULL DEFAULT now(),  -- database clock, like the checks' window
    last_seen   timestamptz NOT NULL DEFAULT now(),
    conflicts   bigint      NOT NULL,                -- differing rows received for this key
    differing   text[]      NOT NULL,                -- payload columns that differed, latest conflict
    stored      jsonb       NOT NULL,                -- the row kept
    incoming    jsonb       NOT NULL,                -- the latest row not stored
    PRIMARY KEY (table_name, key)
);
CREATE INDEX key_conflicts_last_seen ON key_conflicts (last_seen);
