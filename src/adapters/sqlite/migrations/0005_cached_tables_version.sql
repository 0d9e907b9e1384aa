-- The message path keeps settings and opt-outs in memory too: a change to
-- them, by any process, bumps the same version that users and numbers do,
-- so that the cache notices it.
CREATE TRIGGER configs_changed_insert AFTER INSERT ON sms_router_configs
BEGIN UPDATE sms_directory_version SET version = version + 1; END;
CREATE TRIGGER configs_changed_update AFTER UPDATE ON sms_router_configs
BEGIN UPDATE sms_directory_version SET version = version + 1; END;
CREATE TRIGGER configs_changed_delete AFTER DELETE ON sms_router_configs
BEGIN UPDATE sms_directory_version SET version = version + 1; END;
CREATE TRIGGER opt_outs_changed_insert AFTER INSERT ON sms_opt_outs
BEGIN UPDATE sms_directory_version SET version = version + 1; END;
CREATE TRIGGER opt_outs_changed_delete AFTER DELETE ON sms_opt_outs
BEGIN UPDATE sms_directory_version SET version = version + 1; END;
