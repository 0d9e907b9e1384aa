-- A user's own agent: its URL and the token it is sent; NULL: the
-- service's agent (SMS_ROUTER_AGENT_URL). The token is never shown.
ALTER TABLE users ADD COLUMN agent_url TEXT;
ALTER TABLE users ADD COLUMN agent_token TEXT;
