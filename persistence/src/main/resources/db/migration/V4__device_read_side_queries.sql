-- What the device read side's queries need beyond V3: the reported connection and since when,
-- the last time anything was heard (liveness is computed in SQL from these, with the same rule as
-- domain/Liveness), the journal position of the last applied event, and each attribute's value
-- as JSON beside its text form.
--
-- Nothing wrote these tables before this version (the projection arrives with it), and they are
-- derived from the journal: emptying them is harmless and makes the NOT NULL columns safe. The
-- projection, starting without an offset, rebuilds every row.
TRUNCATE device_session_attribute, device_session;

ALTER TABLE device_session
  -- the connection as last reported (CONNECTED or DISCONNECTED) and when that was first heard
  ADD COLUMN connection_as_of TIMESTAMPTZ NOT NULL,
  -- receive time (bridge clock) of the last message of any kind: silence turns CONNECTED into UNKNOWN
  ADD COLUMN last_heard_at TIMESTAMPTZ NOT NULL,
  -- events applied to this row; equals the session's own count (a duplicate would show here)
  ADD COLUMN applied_messages BIGINT NOT NULL,
  -- global journal ordering of the last applied event (the projection's offset is one of these)
  ADD COLUMN journal_ordering BIGINT NOT NULL,
  ALTER COLUMN last_update_at SET NOT NULL;

-- Keyset paging: one index per sort key, the id breaking ties.
CREATE INDEX device_session_last_update_idx ON device_session (last_update_at, device_session_id);
CREATE INDEX device_session_last_heard_idx ON device_session (last_heard_at, device_session_id);

ALTER TABLE device_session_attribute
  -- the value exactly as reported (any JSON); V3's "value" holds the text form used by equality
  -- filters: a JSON string unquoted, anything else as compact JSON, NULL when too long to index
  ADD COLUMN value_json JSONB NOT NULL,
  -- when the registry applied the message that set this value (reported_at is the device's clock)
  ADD COLUMN received_at TIMESTAMPTZ NOT NULL;
