-- What happened to the bot's supervised tasks during a run: crashes (with the exception) and restarts.
-- The ALT gates and the dashboard read these next to bot_runs.
CREATE TABLE bot_events (
    id         bigserial   PRIMARY KEY,
    run_id     bigint      NOT NULL REFERENCES bot_runs (run_id),
    ts         timestamptz NOT NULL DEFAULT now(),
    component  text        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('crash', 'restart', 'gave_up')),
    detail     text
);
CREATE INDEX bot_events_run ON bot_events (run_id, ts);
