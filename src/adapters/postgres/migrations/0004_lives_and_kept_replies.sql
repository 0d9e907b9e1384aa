-- Each instance holds a session-level advisory lock (namespace, lock_key)
-- on a connection of its own while its process lives: when the process
-- dies, the connection closes and the lock frees, so the others know at
-- once (the lease remains for what a lock cannot see).
CREATE SEQUENCE sms_instance_lock_keys AS INTEGER CYCLE;
ALTER TABLE sms_instances ADD COLUMN lock_key INTEGER NOT NULL DEFAULT nextval('sms_instance_lock_keys');

-- The agent's reply to a message, kept only as long as Twilio may retry
-- the message (minutes), so that a retry whose first answer was lost on
-- the wire gets the same reply, at whichever instance; then erased. With
-- the outbox, the only place a reply's text is stored.
CREATE TABLE sms_kept_replies (
    message_sid TEXT PRIMARY KEY,
    messages    TEXT NOT NULL, -- a JSON array of the messages sent
    media       TEXT,          -- the files sent with the first, one URL a line
    kept_until  TIMESTAMPTZ NOT NULL
);
CREATE INDEX sms_kept_replies_until ON sms_kept_replies (kept_until);
