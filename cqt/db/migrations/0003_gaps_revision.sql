-- Gap-ledger rows go through the storage writer (so they are spooled like data while PostgreSQL is
-- away). The writer upserts on the natural key and keeps the row with the highest revision:
-- 0 = opened, 1 = closed (filled or unfillable), so a replayed "opened" never reopens a closed gap.
ALTER TABLE gaps ADD COLUMN revision smallint NOT NULL DEFAULT 0;
