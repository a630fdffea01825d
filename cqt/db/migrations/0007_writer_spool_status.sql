-- What the storage writer holds and whether its spool works, with every heartbeat, so the checks can FAIL
-- while the writer is not writing (rows queued, none inserted) or its spool refuses batches (disk full,
-- not writable, not a directory). NULL in the rows written before this migration: not recorded then.
ALTER TABLE writer_status
    ADD COLUMN backlog_rows  bigint,    -- rows held in memory: neither committed nor spooled
    ADD COLUMN spool_failing boolean,   -- the spool's latest write, listing or probe failed
    ADD COLUMN last_error    text;      -- that failure, one line (NULL while the spool works)
-- The writer reports its spool and memory alarms as bot events (cqt/store/writer.py on_event).
ALTER TABLE bot_events DROP CONSTRAINT bot_events_kind_check;
ALTER TABLE bot_events ADD CONSTRAINT bot_events_kind_check CHECK (
    kind IN ('crash', 'restart', 'gave_up', 'spool_failing', 'spool_recovered', 'backlog_over_bound')
);
