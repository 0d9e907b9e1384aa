//! Run-time settings in PostgreSQL; the cache in front keeps them in memory.

use chrono::{DateTime, Utc};

use super::{PgStore, failed, stamp};
use crate::domain::settings::{SettingKey, Settings};
use crate::ports::{SettingsStore, StoreError, StoredSetting};

/// A stored row whose key this sms-router knows; others are skipped.
fn stored_from_row(row: &tokio_postgres::Row) -> Option<StoredSetting> {
    let key = SettingKey::parse(row.get(0)).ok()?;
    Some(StoredSetting {
        key,
        value: row.get(1),
        description: row.get(2),
        updated_at: stamp(row.get::<_, DateTime<Utc>>(3)),
    })
}

impl SettingsStore for PgStore {
    async fn current(&self) -> Result<Settings, StoreError> {
        Ok(crate::adapters::rows::settings(&self.stored().await?))
    }

    async fn stored(&self) -> Result<Vec<StoredSetting>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT key, value, description, updated_at FROM sms_router_configs ORDER BY key")
            .await
            .map_err(failed("failed to read the settings"))?;
        let rows = client
            .query(&statement, &[])
            .await
            .map_err(failed("failed to read the settings"))?;
        Ok(rows.iter().filter_map(stored_from_row).collect())
    }

    async fn put(&self, key: SettingKey, value: &str, description: Option<&str>) -> Result<StoredSetting, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "INSERT INTO sms_router_configs (key, value, description) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                    description = coalesce(excluded.description, sms_router_configs.description),
                    updated_at = now()
                 RETURNING key, value, description, updated_at",
                &[&key.name(), &value, &description],
            )
            .await
            .map_err(failed("failed to write a setting"))?;
        Ok(StoredSetting {
            key,
            value: row.get(1),
            description: row.get(2),
            updated_at: stamp(row.get::<_, DateTime<Utc>>(3)),
        })
    }

    async fn delete(&self, key: SettingKey) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let deleted = client
            .execute("DELETE FROM sms_router_configs WHERE key = $1", &[&key.name()])
            .await
            .map_err(failed("failed to delete a setting"))?;
        Ok(deleted > 0)
    }
}
