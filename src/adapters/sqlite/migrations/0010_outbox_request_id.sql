-- The request that queued a message (a late reply's webhook), so that the
-- outbound log row of its send joins its message's row. NULL for messages
-- queued by an administrator or at a start.
ALTER TABLE sms_outbox ADD COLUMN request_id TEXT;
