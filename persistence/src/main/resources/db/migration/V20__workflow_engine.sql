-- Workflow engine (job-actors, io.fleetplane.jobs.workflow).
--
-- Definitions are immutable versions: a table rather than an entity because they are read by id
-- and version, listed, and never change once written; the primary key serializes concurrent
-- "next version" inserts without an actor in between.
CREATE TABLE workflow_definition (
  workflow_id VARCHAR(128) NOT NULL,
  version INTEGER NOT NULL,
  owner VARCHAR(256) NOT NULL,
  description TEXT NOT NULL,
  -- The text as submitted (yaml or json), so a user gets back exactly what they stored.
  source_format VARCHAR(8) NOT NULL,
  source TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (workflow_id, version)
);

-- Top-level instances that have not finished. Written before an instance is started and deleted
-- when it finishes, so a node that starts wakes every instance whose journal says it was mid-run
-- (timers, HTTP calls and child instances are re-armed from the journal on recovery). Child
-- instances (foreach iterations, sub-workflows) are woken by their parents, so they are not here.
CREATE TABLE workflow_instance_active (
  instance_id VARCHAR(255) PRIMARY KEY,
  workflow_id VARCHAR(128) NOT NULL,
  started_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
