-- The usage log's rows of each number, for the log filtered by number (the
-- console's timeline of a number). The log's own index on phone_number put
-- each message's two rows at a random place of it, in two commits (the claim,
-- then the reply): pages written to the write-ahead log a message, a tenth of
-- the server's work a webhook. These entries are written by the log writer in
-- batches, sorted, so that a page takes many at once (`by_number.rs`); the
-- rows past `upto` are read from the log itself.
DROP INDEX sms_usage_logs_phone_number;
CREATE TABLE sms_usage_by_number (
    phone_number TEXT NOT NULL,
    log_id       INTEGER NOT NULL, -- sms_usage_logs.id
    PRIMARY KEY (phone_number, log_id)
) STRICT, WITHOUT ROWID;
-- The last usage-log row with its entry; every row after it has none.
CREATE TABLE sms_usage_by_number_upto (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    upto INTEGER NOT NULL
) STRICT;
INSERT INTO sms_usage_by_number (phone_number, log_id)
    SELECT phone_number, id FROM sms_usage_logs WHERE phone_number IS NOT NULL ORDER BY phone_number, id;
INSERT INTO sms_usage_by_number_upto (one, upto) VALUES (1, coalesce((SELECT max(id) FROM sms_usage_logs), 0));
