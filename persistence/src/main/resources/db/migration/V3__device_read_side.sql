-- The device read side: one row per device session plus one row per attribute, kept by the
-- registry's projection from the journal. Lists, filters and stats read these tables; a single
-- device's fresh state is read from its actor instead.

CREATE TABLE device_session (
  device_session_id UUID PRIMARY KEY,
  rae_serial VARCHAR(64) NOT NULL,
  connection VARCHAR(16) NOT NULL DEFAULT 'UNKNOWN',
  test_state VARCHAR(64),
  last_update_at TIMESTAMPTZ,
  -- journal position of the last event applied here, for "how far behind is this view"
  journal_sequence_number BIGINT NOT NULL,
  projected_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX device_session_rae_idx ON device_session (rae_serial, device_session_id);
CREATE INDEX device_session_state_idx ON device_session (test_state);

CREATE TABLE device_session_attribute (
  device_session_id UUID NOT NULL REFERENCES device_session (device_session_id) ON DELETE CASCADE,
  name VARCHAR(128) NOT NULL,
  value TEXT,
  reported_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (device_session_id, name)
);

-- "any attribute equality" filters: WHERE name = ? AND value = ?
CREATE INDEX device_session_attribute_value_idx ON device_session_attribute (name, value);
