-- Files an agent sends back with a reply that goes out through the outbox:
-- https URLs, one per line; NULL without any. Cleared with the text.
ALTER TABLE sms_outbox ADD COLUMN media TEXT;
