-- Events for the agents: what became of a reply (from Twilio's status
-- callbacks and the outbox), and a user's number opting out or back in.
-- Queued where they happen, sent at least once, each with a key the agent
-- dedupes on. A reply sent later remembers the message it answers, and so
-- does its outbound log row, which the status callbacks find.
ALTER TABLE sms_outbox ADD COLUMN in_reply_to TEXT;
ALTER TABLE sms_usage_logs ADD COLUMN in_reply_to TEXT;

CREATE TABLE sms_agent_events (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone_number    TEXT NOT NULL,
    message_sid     TEXT,
    reply_sid       TEXT,
    status          TEXT,
    error_code      INTEGER,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'declined', 'given_up')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_error      TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX sms_agent_events_due ON sms_agent_events (next_attempt_at) WHERE state = 'pending';
CREATE INDEX sms_agent_events_user_id ON sms_agent_events (user_id);
