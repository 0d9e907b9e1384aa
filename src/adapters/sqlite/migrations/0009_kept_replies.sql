-- The agent's reply to a message, kept only as long as Twilio may retry
-- the message (minutes), so that a retry whose first answer was lost on
-- the wire gets the same reply after a crash; then erased. With the
-- outbox, the only place a reply's text is stored.
CREATE TABLE sms_kept_replies (
    message_sid TEXT PRIMARY KEY,
    messages    TEXT NOT NULL, -- a JSON array of the messages sent
    media       TEXT,          -- the files sent with the first, one URL a line
    kept_until  TEXT NOT NULL
) STRICT;
CREATE INDEX sms_kept_replies_until ON sms_kept_replies (kept_until);
