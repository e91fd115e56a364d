-- Statements pair with 0001_initial.sql in reverse order.
DROP TABLE documents;
DROP TABLE task_events;
DROP TABLE task_steps;
DROP TABLE messages;
DROP TRIGGER tasks_keep_final_status ON tasks;
DROP FUNCTION tasks_keep_final_status();
DROP TABLE tasks;
DROP TABLE chats;
DROP TABLE api_tokens;
DROP TABLE users;
