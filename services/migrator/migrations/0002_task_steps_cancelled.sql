-- transactional: false
-- A step in flight when its task is cancelled ends `cancelled`: it did not fail, and it did not
-- just not run (`skipped`). The rule is replaced by a wider one in one statement, added NOT
-- VALID (no scan under the table lock), then validated on its own, outside that statement's
-- transaction (hence transactional: false), which lets reads and writes go on.
ALTER TABLE task_steps
    -- Widening a CHECK removes no guarantee a client relies on.
    -- squawk-ignore ban-drop-constraint
    DROP CONSTRAINT task_steps_status_valid,
    ADD CONSTRAINT task_steps_status_valid CHECK (
        status IN ('pending', 'running', 'completed', 'failed', 'skipped', 'cancelled')
    ) NOT VALID;
-- squawk assumes one transaction per file (.squawk.toml); this file runs without one.
-- squawk-ignore constraint-missing-not-valid
ALTER TABLE task_steps VALIDATE CONSTRAINT task_steps_status_valid;
