-- Statements pair with 0002_task_steps_cancelled.sql in reverse order. The older rule knows no
-- `cancelled` step: such steps become `failed` first. The older rule comes back NOT VALID: every
-- row fits it after the UPDATE, and it holds for every write from then on.
UPDATE task_steps SET status = 'failed' WHERE status = 'cancelled';
ALTER TABLE task_steps
    -- squawk-ignore ban-drop-constraint
    DROP CONSTRAINT task_steps_status_valid,
    ADD CONSTRAINT task_steps_status_valid CHECK (
        status IN ('pending', 'running', 'completed', 'failed', 'skipped')
    ) NOT VALID;
