-- What a message's sender was told when its webhook answer could not carry
-- the reply. `deferred`: the webhook answered empty and the reply goes out
-- through the outbox. `sender_told`: after the process stopped while
-- answering it, the sender was sent `error_reply`, in a retry's answer or
-- through the outbox; at most once.
ALTER TABLE sms_usage_logs ADD COLUMN deferred INTEGER NOT NULL DEFAULT 0 CHECK (deferred IN (0, 1));
ALTER TABLE sms_usage_logs ADD COLUMN sender_told INTEGER NOT NULL DEFAULT 0 CHECK (sender_told IN (0, 1));

-- The few interrupted messages whose sender was not told yet, read at start.
CREATE INDEX sms_usage_logs_untold ON sms_usage_logs (id) WHERE outcome = 'interrupted' AND sender_told = 0;
