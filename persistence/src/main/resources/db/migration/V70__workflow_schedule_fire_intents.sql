-- Schedule fires become durable intents (job-actors WorkflowScheduler).
--
-- Before: a fire row was written after its instance had started, so 1,000 schedules due at the
-- same second waited for 1,000 starts one after another (each start a journal write) before the
-- last one counted as fired. Now the scheduler records every due fire time of a tick in one
-- transaction (the fire: a durable trigger, as Maestro's time trigger publishes to a queue), moves
-- the watermarks past them in the same transaction, and starts the instances afterwards.
--   fired_at    when the fire was recorded (scheduled time -> fired_at is the scheduler's delay)
--   instance_id known at fire time: the engine derives it from (workflow, requestId)
--   started_at  when the engine accepted the start; NULL = not started yet. A scheduler that
--               starts (again) re-drives every row still NULL; starts are idempotent on requestId.
--   start_error why a fire will never start (workflow deleted, params no longer valid, schedule
--               disabled before its start); started_at is set with it so it is not re-driven.
ALTER TABLE workflow_schedule_fire ADD COLUMN started_at TIMESTAMPTZ;
ALTER TABLE workflow_schedule_fire ADD COLUMN start_error VARCHAR(500);
-- Rows written before this migration were written after their start.
UPDATE workflow_schedule_fire SET started_at = fired_at;
CREATE INDEX workflow_schedule_fire_unstarted ON workflow_schedule_fire (scheduled_time) WHERE started_at IS NULL;
