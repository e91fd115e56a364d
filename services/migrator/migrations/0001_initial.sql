-- The whole domain: users and tokens, chats and messages, tasks with their steps and events,
-- and the documents of the local knowledge base. Rules live here, not only in code.

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_name_key UNIQUE (name),
    CONSTRAINT users_name_format CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
);

-- Tokens are stored only as SHA-256 hashes; `prefix` lets a person tell them apart.
CREATE TABLE api_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL,
    prefix text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT api_tokens_hash_length CHECK (octet_length(token_hash) = 32),
    CONSTRAINT api_tokens_prefix_length CHECK (char_length(prefix) BETWEEN 4 AND 16)
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

CREATE TABLE chats (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chats_title_length CHECK (char_length(title) <= 200)
);
CREATE INDEX chats_user_id_created_at_idx ON chats (user_id, created_at DESC, id DESC);

CREATE TABLE tasks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'queued',
    phase text,
    stop_reason text,
    plan jsonb,
    result jsonb,
    error jsonb,
    attempt bigint NOT NULL DEFAULT 0,
    -- The seq of the task's newest event: events take the next one under the row lock.
    last_seq bigint NOT NULL DEFAULT 0,
    usage jsonb NOT NULL DEFAULT '{}',
    model text,
    idempotency_key text,
    request_hash bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    deadline_at timestamptz,
    CONSTRAINT tasks_status_valid CHECK (
        status IN ('queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled')
    ),
    CONSTRAINT tasks_phase_valid CHECK (phase IN ('triage', 'planning', 'executing')),
    CONSTRAINT tasks_stop_reason_valid CHECK (
        stop_reason IN (
            'completed', 'not_actionable', 'user_cancelled', 'budget_exceeded', 'max_retries', 'error'
        )
    ),
    -- A task has a stop reason and a finish time exactly when its status is final,
    -- and the reason fits the status.
    CONSTRAINT tasks_final_has_reason CHECK (
        (status IN ('succeeded', 'failed', 'cancelled')) = (stop_reason IS NOT NULL)
        AND (status IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL)
    ),
    CONSTRAINT tasks_reason_fits_status CHECK (
        stop_reason IS NULL
        OR (status = 'succeeded' AND stop_reason IN ('completed', 'not_actionable'))
        OR (status = 'failed' AND stop_reason IN ('budget_exceeded', 'max_retries', 'error'))
        OR (status = 'cancelled' AND stop_reason = 'user_cancelled')
    ),
    CONSTRAINT tasks_attempt_valid CHECK (attempt >= 0),
    CONSTRAINT tasks_last_seq_valid CHECK (last_seq >= 0),
    CONSTRAINT tasks_idempotency_key_length CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    CONSTRAINT tasks_idempotency_pair CHECK ((idempotency_key IS NULL) = (request_hash IS NULL)),
    CONSTRAINT tasks_user_id_idempotency_key_key UNIQUE (user_id, idempotency_key)
);
CREATE INDEX tasks_chat_id_created_at_idx ON tasks (chat_id, created_at DESC, id DESC);
CREATE INDEX tasks_user_id_status_idx ON tasks (user_id, status);
-- The dispatcher and the deadline sweeper look only at unfinished tasks.
CREATE INDEX tasks_unfinished_idx ON tasks (updated_at)
    WHERE status IN ('queued', 'running', 'cancelling');

-- A final status is never left again.
CREATE FUNCTION tasks_keep_final_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('succeeded', 'failed', 'cancelled') AND NEW.status <> OLD.status THEN
        RAISE EXCEPTION 'task % is already %', OLD.id, OLD.status USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER tasks_keep_final_status BEFORE UPDATE OF status ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_keep_final_status();

-- One user message starts a task; at most one assistant message answers it.
CREATE TABLE messages (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    task_id uuid REFERENCES tasks (id) ON DELETE CASCADE,
    role text NOT NULL,
    content text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT messages_role_valid CHECK (role IN ('user', 'assistant')),
    CONSTRAINT messages_content_length CHECK (char_length(content) BETWEEN 1 AND 200000),
    CONSTRAINT messages_task_id_role_key UNIQUE (task_id, role)
);
CREATE INDEX messages_chat_id_created_at_idx ON messages (chat_id, created_at, id);

-- Each planned step's state; re-runs upsert by (task_id, step_index).
CREATE TABLE task_steps (
    task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    step_index bigint NOT NULL,
    title text NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    output text,
    sources jsonb NOT NULL DEFAULT '[]',
    started_at timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (task_id, step_index),
    CONSTRAINT task_steps_index_valid CHECK (step_index >= 0),
    CONSTRAINT task_steps_status_valid CHECK (
        status IN ('pending', 'running', 'completed', 'failed', 'skipped')
    )
);

-- The durable event log: seq counts 1, 2, 3, ... per task. `dedupe_key` names the fact an event
-- records (e.g. "step.completed:2"), so a job that runs again never records it twice.
CREATE TABLE task_events (
    task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq bigint NOT NULL,
    chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    type text NOT NULL,
    attempt bigint NOT NULL DEFAULT 0,
    data jsonb NOT NULL DEFAULT '{}',
    dedupe_key text,
    ts timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, seq),
    CONSTRAINT task_events_task_id_dedupe_key_key UNIQUE (task_id, dedupe_key),
    CONSTRAINT task_events_seq_valid CHECK (seq >= 1),
    CONSTRAINT task_events_type_valid CHECK (
        type IN (
            'task.created', 'task.queued', 'triage.completed', 'plan.created', 'task.started',
            'step.started', 'step.completed', 'step.failed', 'tool_call.started',
            'tool_call.completed', 'tool_call.failed', 'progress', 'message.created',
            'task.retrying', 'task.cancel_requested', 'task.succeeded', 'task.failed',
            'task.cancelled'
        )
    )
);
CREATE INDEX task_events_chat_id_ts_idx ON task_events (chat_id, ts);
-- Exactly one final event per task.
CREATE UNIQUE INDEX task_events_one_final_idx ON task_events (task_id)
    WHERE type IN ('task.succeeded', 'task.failed', 'task.cancelled');

-- The local knowledge base. user_id NULL: shared with every user (loaded by `jarvis docs add`).
CREATE TABLE documents (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid REFERENCES users (id) ON DELETE CASCADE,
    title text NOT NULL,
    body text NOT NULL,
    source text,
    created_at timestamptz NOT NULL DEFAULT now(),
    search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', body), 'B')
    ) STORED,
    CONSTRAINT documents_title_length CHECK (char_length(title) BETWEEN 1 AND 500),
    -- tsvector holds at most 1 MB; longer texts are split into several documents.
    CONSTRAINT documents_body_length CHECK (char_length(body) BETWEEN 1 AND 200000)
);
CREATE INDEX documents_search_idx ON documents USING gin (search);
CREATE INDEX documents_user_id_created_at_idx ON documents (user_id, created_at DESC, id DESC);
-- Adding the same source again replaces it instead of duplicating it.
CREATE UNIQUE INDEX documents_owner_source_idx
    ON documents (coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid), source)
    WHERE source IS NOT NULL;
