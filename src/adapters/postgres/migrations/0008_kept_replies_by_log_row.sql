-- A kept reply is found by its message's inbound row (the claim's id)
-- rather than by the message's sid: ids grow, so each reply goes at the
-- end of the key's index instead of at a random place, and keeping it no
-- longer reads the row for its sid.
ALTER TABLE sms_kept_replies RENAME TO sms_kept_replies_by_sid;
ALTER INDEX sms_kept_replies_until RENAME TO sms_kept_replies_by_sid_until;
CREATE TABLE sms_kept_replies (
    log_id     BIGINT PRIMARY KEY, -- the inbound row of the message (sms_usage_logs.id)
    messages   TEXT NOT NULL,      -- a JSON array of the messages sent
    media      TEXT,               -- the files sent with the first, one URL a line
    kept_until TIMESTAMPTZ NOT NULL
);
INSERT INTO sms_kept_replies (log_id, messages, media, kept_until)
    SELECT l.id, k.messages, k.media, k.kept_until
    FROM sms_kept_replies_by_sid k
    JOIN sms_usage_logs l ON l.message_sid = k.message_sid AND l.direction = 'inbound';
DROP TABLE sms_kept_replies_by_sid;
CREATE INDEX sms_kept_replies_until ON sms_kept_replies (kept_until);
