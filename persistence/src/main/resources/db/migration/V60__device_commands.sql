-- Commands sent to devices over the operator API (http-api, io.fleetplane.http.commands).
--
-- A table rather than node memory: an asynchronous command (POST ...?async=true) is polled later,
-- possibly through another node or after this one restarted, so its state must outlive the node
-- that sent it. Every node's replies consumer updates a row from the reply record; the update only
-- moves a row out of 'pending', so applying the same reply twice (redelivery, several nodes) is
-- harmless. Rows are deleted retention after creation (fleetplane.node.commands.retention).
CREATE TABLE device_command (
  command_id VARCHAR(128) PRIMARY KEY,
  device_session_id VARCHAR(36) NOT NULL,
  rae_serial VARCHAR(64) NOT NULL,
  name VARCHAR(64) NOT NULL,
  -- The params object as sent (JSON text).
  params TEXT NOT NULL,
  timeout_ms BIGINT NOT NULL,
  -- The client's idempotency key: the same key for the same session names the same command.
  request_id VARCHAR(128),
  -- The token subject that sent it, for audit.
  issued_by VARCHAR(256) NOT NULL,
  -- pending, succeeded, failed, rejected, timed-out
  status VARCHAR(16) NOT NULL,
  -- The device's result (JSON text), when it sent one.
  result TEXT,
  error_code VARCHAR(128),
  error_message TEXT,
  -- Who decided the final status: device, bridge, or node (the node's own deadline passed
  -- without any reply, e.g. the bridge crashed while the command was pending).
  reply_source VARCHAR(16),
  device_ts BIGINT,
  created_at TIMESTAMPTZ NOT NULL,
  deadline TIMESTAMPTZ NOT NULL,
  completed_at TIMESTAMPTZ
);

CREATE UNIQUE INDEX device_command_request_id ON device_command (device_session_id, request_id)
  WHERE request_id IS NOT NULL;
-- Expiry deletes by age.
CREATE INDEX device_command_created_at ON device_command (created_at);
-- The node's own deadline sweep looks at pending rows only.
CREATE INDEX device_command_pending_deadline ON device_command (deadline) WHERE status = 'pending';
