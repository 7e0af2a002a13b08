-- Every event pays for each index of the event log as it arrives. No query
-- reads the log by time alone (timelines, attribution and tag rules go by
-- profile or by event name), so the index on occurred_at is dropped.
DROP INDEX IF EXISTS raw_events_occurred;
