//! Run-time settings in SQLite, read at most once a second.

use std::time::{Duration, Instant};

use super::SqliteStore;
use crate::domain::settings::{SettingKey, Settings};
use crate::ports::{SettingsStore, StoreError};

/// How stale the settings may be: changes by another process show within it.
const FRESH_FOR: Duration = Duration::from_secs(1);

impl SettingsStore for SqliteStore {
    async fn current(&self) -> Result<Settings, StoreError> {
        if let Ok(cache) = self.settings_cache.lock()
            && let Some((read_at, settings)) = cache.as_ref()
            && read_at.elapsed() < FRESH_FOR
        {
            return Ok(settings.clone());
        }
        let rows = self
            .run(|conn| {
                let mut stmt = conn.prepare_cached("SELECT key, value FROM sms_router_configs")?;
                let rows = stmt
                    .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        let mut settings = Settings::default();
        for (key, value) in rows {
            let applied = SettingKey::parse(&key).and_then(|key| settings.apply(key, &value));
            if let Err(e) = applied {
                tracing::warn!(error = %e, "ignoring a stored setting");
            }
        }
        if let Ok(mut cache) = self.settings_cache.lock() {
            *cache = Some((Instant::now(), settings.clone()));
        }
        Ok(settings)
    }
}
