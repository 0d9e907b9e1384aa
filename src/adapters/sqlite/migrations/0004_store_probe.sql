-- One row that /readyz rewrites to prove the store can commit: a write
-- that changes nothing is not written at all, so it cannot prove that.
CREATE TABLE sms_store_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    probes INTEGER NOT NULL
);
