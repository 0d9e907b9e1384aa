//! Run-time settings in SQLite; the cache in front keeps them in memory.

use super::SqliteStore;
use crate::domain::settings::{SettingKey, Settings};
use crate::ports::{SettingsStore, StoreError, StoredSetting};

type Row = (String, String, Option<String>, String);

fn stored_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

impl SettingsStore for SqliteStore {
    async fn current(&self) -> Result<Settings, StoreError> {
        Ok(crate::adapters::rows::settings(&self.stored().await?))
    }

    async fn stored(&self) -> Result<Vec<StoredSetting>, StoreError> {
        let rows = self
            .read("settings", |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT key, value, description, updated_at FROM sms_router_configs ORDER BY key",
                )?;
                let rows = stmt.query_map([], stored_from_row)?.collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, value, description, updated_at)| {
                SettingKey::parse(&key).ok().map(|key| StoredSetting {
                    key,
                    value,
                    description,
                    updated_at,
                })
            })
            .collect())
    }

    async fn put(&self, key: SettingKey, value: &str, description: Option<&str>) -> Result<StoredSetting, StoreError> {
        let (value, description) = (value.to_owned(), description.map(str::to_owned));
        let row = self
            .run(move |conn| {
                // A transaction makes a failed commit an error: `query_row`
                // does not report one from an autocommit RETURNING.
                let tx = conn.transaction()?;
                let row = tx.query_row(
                    "INSERT INTO sms_router_configs (key, value, description) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                        description = coalesce(excluded.description, description),
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                     RETURNING key, value, description, updated_at",
                    rusqlite::params![key.name(), value, description],
                    stored_from_row,
                )?;
                tx.commit()?;
                Ok(row)
            })
            .await?;
        Ok(StoredSetting {
            key,
            value: row.1,
            description: row.2,
            updated_at: row.3,
        })
    }

    async fn delete(&self, key: SettingKey) -> Result<bool, StoreError> {
        let deleted = self
            .run(move |conn| Ok(conn.execute("DELETE FROM sms_router_configs WHERE key = ?1", [key.name()])?))
            .await?;
        Ok(deleted > 0)
    }
}
