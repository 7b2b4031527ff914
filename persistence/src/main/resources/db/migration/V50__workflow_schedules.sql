-- Workflow schedules (job-actors, io.fleetplane.jobs.workflow.schedule).
--
-- A table rather than an event-sourced scheduler: the API lists and edits schedules by workflow,
-- and the scheduler (a cluster singleton) only needs, per schedule, the watermark up to which
-- every fire time is settled. Exactly-once starts do not rest on this table: the engine derives
-- the instance id from (workflow, "schedule:<id>@<fire time>"), so a fire time started twice (a
-- crash between the start and the watermark update, two singletons during a partition) is one
-- instance.
CREATE TABLE workflow_schedule (
  schedule_id VARCHAR(64) PRIMARY KEY,
  workflow_id VARCHAR(128) NOT NULL,
  -- The cron expression (5 or 6 fields) or named period, as given.
  expression VARCHAR(200) NOT NULL,
  time_zone VARCHAR(64) NOT NULL,
  -- skip, latest-once, all-missed
  catch_up VARCHAR(16) NOT NULL,
  max_catch_up INTEGER NOT NULL,
  -- Workflow params of every instance it starts (JSON object text).
  params TEXT NOT NULL,
  enabled BOOLEAN NOT NULL,
  -- Every fire time <= watermark has been started or deliberately skipped. Set to the creation
  -- (or re-enable) time, so a schedule never fires for times before it existed or while disabled.
  watermark TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX workflow_schedule_by_workflow ON workflow_schedule (workflow_id);

-- One row per fire time started: which instance a schedule started when (lineage, and the
-- "fire time - scheduled time" record). The primary key makes a repeated fire a no-op.
CREATE TABLE workflow_schedule_fire (
  schedule_id VARCHAR(64) NOT NULL,
  scheduled_time TIMESTAMPTZ NOT NULL,
  instance_id VARCHAR(255) NOT NULL,
  fired_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (schedule_id, scheduled_time)
);
CREATE INDEX workflow_schedule_fire_by_instance ON workflow_schedule_fire (instance_id);
