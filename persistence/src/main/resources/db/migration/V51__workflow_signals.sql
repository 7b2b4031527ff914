-- Workflow signals (job-actors, io.fleetplane.jobs.workflow.signal).
--
-- Signals are facts ("table orders partition 2026-11-23 landed") that start workflows through
-- subscriptions. Tables rather than entities: signals are looked up by id and by name and time
-- (history), subscriptions by signal name; neither needs an actor's ordering. Exactly-once per
-- signal id does not rest on these tables: the engine derives the instance id from
-- (workflow, "signal:<signal id>:<subscription id>"), so a signal processed again is the same instance.
CREATE TABLE workflow_signal (
  signal_id VARCHAR(200) PRIMARY KEY,
  name VARCHAR(128) NOT NULL,
  -- JSON object text.
  params TEXT NOT NULL,
  -- When the fact happened, as the source says.
  signal_time TIMESTAMPTZ NOT NULL,
  -- Where it came from: http, kafka, ...
  source VARCHAR(128) NOT NULL,
  received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX workflow_signal_by_name ON workflow_signal (name, signal_time);

CREATE TABLE workflow_signal_subscription (
  subscription_id VARCHAR(64) PRIMARY KEY,
  workflow_id VARCHAR(128) NOT NULL,
  signal_name VARCHAR(128) NOT NULL,
  -- CEL over the signal (params, now = signal time); empty = every signal of that name.
  condition TEXT NOT NULL,
  -- Workflow param -> template over the signal (JSON object text; CEL templates as in step params).
  param_mapping TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX workflow_signal_subscription_by_name ON workflow_signal_subscription (signal_name);
CREATE INDEX workflow_signal_subscription_by_workflow ON workflow_signal_subscription (workflow_id);

-- Lineage: which instance a signal started through which subscription. One row per (signal,
-- subscription); the primary key makes re-processing a no-op.
CREATE TABLE workflow_signal_trigger (
  signal_id VARCHAR(200) NOT NULL,
  subscription_id VARCHAR(64) NOT NULL,
  workflow_id VARCHAR(128) NOT NULL,
  instance_id VARCHAR(255) NOT NULL,
  triggered_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (signal_id, subscription_id)
);
CREATE INDEX workflow_signal_trigger_by_instance ON workflow_signal_trigger (instance_id);
