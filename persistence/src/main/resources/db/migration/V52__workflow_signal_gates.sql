-- Step gates and signal lineage (job-actors, io.fleetplane.jobs.workflow.signal).
--
-- A gated step registers one row here when it starts waiting. WorkflowSignals.publish reads the
-- open rows of a signal's name to wake the waiting instances at once (a slow poll in the instance
-- is the safety net). The instance claims a matching signal with a conditional UPDATE, so a gate
-- is opened by exactly one recorded signal even when checks race or the node crashes between the
-- claim and the journal write (the next check finds the claim and uses it).
-- Key: (instance, step); retries of a step do not wait again once its gate opened.
CREATE TABLE workflow_signal_gate (
  instance_id VARCHAR(255) NOT NULL,
  step_id VARCHAR(64) NOT NULL,
  workflow_id VARCHAR(128) NOT NULL,
  signal_name VARCHAR(128) NOT NULL,
  -- Signals received at or after this count (the instance's run time minus the gate's lookback).
  since TIMESTAMPTZ NOT NULL,
  registered_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  -- NULL while waiting; the signal that opened the gate afterwards.
  signal_id VARCHAR(200),
  opened_at TIMESTAMPTZ,
  PRIMARY KEY (instance_id, step_id)
);
-- Waiting gates by signal name: what publish looks up for every signal.
CREATE INDEX workflow_signal_gate_waiting ON workflow_signal_gate (signal_name) WHERE signal_id IS NULL;
-- Lineage, signal -> the steps it opened.
CREATE INDEX workflow_signal_gate_by_signal ON workflow_signal_gate (signal_id) WHERE signal_id IS NOT NULL;

-- History lookups of gates: by name and arrival.
CREATE INDEX workflow_signal_by_name_received ON workflow_signal (name, received_at);

-- Lineage, signal -> the workflow step that published it (signal steps only). One row per signal:
-- a re-dispatched step publishes the same signal id and finds its row there.
CREATE TABLE workflow_signal_origin (
  signal_id VARCHAR(200) PRIMARY KEY,
  instance_id VARCHAR(255) NOT NULL,
  workflow_id VARCHAR(128) NOT NULL,
  step_id VARCHAR(64) NOT NULL,
  recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX workflow_signal_origin_by_instance ON workflow_signal_origin (instance_id);
