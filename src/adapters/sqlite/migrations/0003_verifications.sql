-- Codes sent to prove an extra number belongs to its user: one pending code
-- per number, stored hashed.
CREATE TABLE sms_phone_verifications (
    phone_id   INTEGER PRIMARY KEY REFERENCES user_phone_mappings (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
