-- Foreach iterations read side (job-actors, io.fleetplane.jobs.workflow.IterationReadSide).
--
-- A parent instance keeps O(1) counters per foreach, never a list of its children; this table is
-- where GET .../steps/{stepId}/iterations pages them. It is derived data: a projection of the
-- parents' IterationsProgressed events (tag workflow-iterations), written exactly once with the
-- projection's offset. An iteration not launched yet has no row.
CREATE TABLE workflow_iteration (
  parent_instance_id VARCHAR(255) NOT NULL,
  step_id VARCHAR(128) NOT NULL,
  attempt INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  -- running | succeeded | failed
  state VARCHAR(16) NOT NULL,
  started_at TIMESTAMPTZ NOT NULL,
  finished_at TIMESTAMPTZ,
  PRIMARY KEY (parent_instance_id, step_id, attempt, idx)
);

-- Pages filtered by state, in index order.
CREATE INDEX workflow_iteration_by_state ON workflow_iteration (parent_instance_id, step_id, attempt, state, idx);
