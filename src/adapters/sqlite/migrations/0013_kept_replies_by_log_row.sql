-- A kept reply is found by its message's inbound row (the claim's id)
-- rather than by the message's sid: ids grow, so each reply is written at
-- the end of the table, where the others of its commit are, instead of at
-- a random place of an index of sids (a page written to the log per
-- message); and keeping it no longer reads the row for its sid.
ALTER TABLE sms_kept_replies RENAME TO sms_kept_replies_by_sid;
CREATE TABLE sms_kept_replies (
    log_id     INTEGER PRIMARY KEY, -- the inbound row of the message (sms_usage_logs.id)
    messages   TEXT NOT NULL,       -- a JSON array of the messages sent
    media      TEXT,                -- the files sent with the first, one URL a line
    kept_until TEXT NOT NULL
) STRICT;
INSERT INTO sms_kept_replies (log_id, messages, media, kept_until)
    SELECT l.id, k.messages, k.media, k.kept_until
    FROM sms_kept_replies_by_sid k
    JOIN sms_usage_logs l ON l.message_sid = k.message_sid AND l.direction = 'inbound';
DROP TABLE sms_kept_replies_by_sid;
CREATE INDEX sms_kept_replies_until ON sms_kept_replies (kept_until);
