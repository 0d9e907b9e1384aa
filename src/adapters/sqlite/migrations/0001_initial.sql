-- Users and their numbers. A number belongs to at most one user, across
-- users.phone_number and user_phone_mappings: unique indexes within each
-- table, triggers across them (SQLite runs writers one at a time, so two
-- concurrent writers cannot both pass a trigger).
CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    full_name    TEXT NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
    email        TEXT COLLATE NOCASE UNIQUE,
    phone_number TEXT UNIQUE CHECK (phone_number GLOB '+[1-9]*'),
    is_active    INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE user_phone_mappings (
    id                  INTEGER PRIMARY KEY,
    user_id             INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone_number        TEXT NOT NULL UNIQUE CHECK (phone_number GLOB '+[1-9]*'),
    is_primary          INTEGER NOT NULL DEFAULT 0 CHECK (is_primary IN (0, 1)),
    is_verified         INTEGER NOT NULL DEFAULT 0 CHECK (is_verified IN (0, 1)),
    verification_method TEXT CHECK (verification_method IN ('sms', 'manual', 'oauth')),
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX user_phone_mappings_user_id ON user_phone_mappings (user_id);
CREATE UNIQUE INDEX user_phone_mappings_one_primary ON user_phone_mappings (user_id) WHERE is_primary = 1;

CREATE TRIGGER users_number_not_mapped_on_insert
BEFORE INSERT ON users
WHEN NEW.phone_number IS NOT NULL
 AND EXISTS (SELECT 1 FROM user_phone_mappings WHERE phone_number = NEW.phone_number)
BEGIN
    SELECT RAISE(ABORT, 'phone number taken');
END;

CREATE TRIGGER users_number_not_mapped_on_update
BEFORE UPDATE OF phone_number ON users
WHEN NEW.phone_number IS NOT NULL
 AND EXISTS (SELECT 1 FROM user_phone_mappings WHERE phone_number = NEW.phone_number)
BEGIN
    SELECT RAISE(ABORT, 'phone number taken');
END;

CREATE TRIGGER mappings_number_not_primary_on_insert
BEFORE INSERT ON user_phone_mappings
WHEN EXISTS (SELECT 1 FROM users WHERE phone_number = NEW.phone_number)
BEGIN
    SELECT RAISE(ABORT, 'phone number taken');
END;

CREATE TRIGGER mappings_number_not_primary_on_update
BEFORE UPDATE OF phone_number ON user_phone_mappings
WHEN EXISTS (SELECT 1 FROM users WHERE phone_number = NEW.phone_number)
BEGIN
    SELECT RAISE(ABORT, 'phone number taken');
END;

-- Bumped by every change to users or numbers, by any process, so that the
-- in-process cache can notice changes it did not make.
CREATE TABLE sms_directory_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;
INSERT INTO sms_directory_version (id, version) VALUES (1, 0);

CREATE TRIGGER users_changed_insert AFTER INSERT ON users
BEGIN UPDATE sms_directory_version SET version = version + 1; END;
CREATE TRIGGER users_changed_update AFTER UPDATE ON users
BEGIN UPDATE sms_directory_version SET version = version + 1; END;
CREATE TRIGGER users_changed_delete AFTER DELETE ON users
BEGIN UPDATE sms_directory_version SET version = version + 1; END;
CREATE TRIGGER mappings_changed_insert AFTER INSERT ON user_phone_mappings
BEGIN UPDATE sms_directory_version SET version = version + 1; END;
CREATE TRIGGER mappings_changed_update AFTER UPDATE ON user_phone_mappings
BEGIN UPDATE sms_directory_version SET version = version + 1; END;
CREATE TRIGGER mappings_changed_delete AFTER DELETE ON user_phone_mappings
BEGIN UPDATE sms_directory_version SET version = version + 1; END;

-- One row per message in and per message out. Never the text: only its
-- length and segment count. Unknown senders are logged too (user_id null),
-- and a deleted user's rows stay with user_id null.
CREATE TABLE sms_usage_logs (
    id                 INTEGER PRIMARY KEY,
    user_id            INTEGER REFERENCES users (id) ON DELETE SET NULL,
    phone_number       TEXT,
    direction          TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    outcome            TEXT NOT NULL,
    message_sid        TEXT,
    message_length     INTEGER NOT NULL DEFAULT 0,
    segments           INTEGER NOT NULL DEFAULT 0,
    processing_time_ms INTEGER,
    success            INTEGER NOT NULL DEFAULT 0 CHECK (success IN (0, 1)),
    error_message      TEXT,
    metadata           TEXT,
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    delivery_status    TEXT,
    error_code         INTEGER
) STRICT;

-- The claim: a message sid is seen once, whatever the process.
CREATE UNIQUE INDEX sms_usage_logs_inbound_sid ON sms_usage_logs (message_sid) WHERE direction = 'inbound';
CREATE UNIQUE INDEX sms_usage_logs_outbound_sid ON sms_usage_logs (message_sid)
    WHERE direction = 'outbound' AND message_sid IS NOT NULL;
CREATE INDEX sms_usage_logs_created_at ON sms_usage_logs (created_at, id);
CREATE INDEX sms_usage_logs_user_id ON sms_usage_logs (user_id, id);
CREATE INDEX sms_usage_logs_phone_number ON sms_usage_logs (phone_number, id);
CREATE INDEX sms_usage_logs_processing ON sms_usage_logs (outcome) WHERE outcome = 'processing';

CREATE TABLE sms_router_configs (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    description TEXT,
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE sms_opt_outs (
    phone_number  TEXT PRIMARY KEY,
    opted_out_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
