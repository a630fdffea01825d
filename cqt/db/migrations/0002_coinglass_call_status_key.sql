-- coinglass_call_status rows go through the batch writer like every other row, which needs a natural key:
-- one call per (instant, symbol, endpoint).
CREATE UNIQUE INDEX coinglass_call_status_natural ON coinglass_call_status (ts, symbol, endpoint);
