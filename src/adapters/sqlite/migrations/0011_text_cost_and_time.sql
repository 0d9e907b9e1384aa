-- What each logged text cost on the air: its encoding and, when UCS-2, the
-- code point of the first character that forced it (never the text). And
-- where an inbound message's time went: the router's own and the agent's.
-- NULL on rows written before.
ALTER TABLE sms_usage_logs ADD COLUMN encoding TEXT CHECK (encoding IN ('gsm7', 'ucs2'));
ALTER TABLE sms_usage_logs ADD COLUMN ucs2_code_point INTEGER;
ALTER TABLE sms_usage_logs ADD COLUMN router_time_ms INTEGER;
ALTER TABLE sms_usage_logs ADD COLUMN agent_time_ms INTEGER;
