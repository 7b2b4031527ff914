-- Device-state predicates (http-api, DevicePredicates): "95% of devices in state available",
-- "every session of RAE X reports firmware F". The evaluator counts the device read side
-- (device_session, V3/V4) and emits one signal each time a predicate turns from false to true.
--
-- A table, not an entity: predicates are listed, looked up by id and name, and updated by one
-- evaluator with compare-and-set on (satisfied, generation); nothing needs an actor's ordering.
CREATE TABLE device_state_predicate (
  predicate_id VARCHAR(64) PRIMARY KEY,
  name VARCHAR(128) NOT NULL UNIQUE,
  -- The name of the signals it emits.
  signal_name VARCHAR(128) NOT NULL,
  -- JSON object text: scope, match, quantifier, threshold, minDevices (see DevicePredicate).
  definition TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  -- Whether the predicate held at the last evaluation that changed it; false until the first crossing.
  satisfied BOOLEAN NOT NULL DEFAULT false,
  -- Crossings so far: the signal of crossing n has id "predicate:<predicate_id>:<n>".
  generation INT NOT NULL DEFAULT 0,
  -- Outbox: the params of crossing `generation` while its signal is not known to be published
  -- (JSON object text), NULL once it is. Re-published on every evaluation until it goes through;
  -- the signal id makes a repeat a no-op.
  pending_signal TEXT,
  -- What the last evaluation saw, for GET (not used for decisions).
  last_total BIGINT,
  last_matching BIGINT,
  last_evaluated_at TIMESTAMPTZ,
  last_crossed_at TIMESTAMPTZ
);
