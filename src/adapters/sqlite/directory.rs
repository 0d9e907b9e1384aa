//! Who owns a number, in SQLite: the routing read path.

use anyhow::Context;
use rusqlite::OptionalExtension;

use super::SqliteStore;
use crate::domain::phone::PhoneNumber;
use crate::domain::user::{AgentEndpoint, NumberSource, Recipient, UserId};
use crate::ports::{StoreError, UserDirectory};

impl UserDirectory for SqliteStore {
    async fn recipient(&self, number: &PhoneNumber) -> Result<Option<Recipient>, StoreError> {
        let number = number.to_string();
        self.read("recipient", move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, is_active, 1, 1, agent_url, agent_token FROM users WHERE phone_number = ?1
                 UNION ALL
                 SELECT u.id, u.is_active, 0, m.is_verified, u.agent_url, u.agent_token
                 FROM user_phone_mappings m JOIN users u ON u.id = m.user_id
                 WHERE m.phone_number = ?1
                 LIMIT 1",
            )?;
            let found = stmt
                .query_row([&number], |row| {
                    Ok(Recipient {
                        user_id: UserId(row.get(0)?),
                        is_active: row.get(1)?,
                        source: if row.get::<_, bool>(2)? {
                            NumberSource::Primary
                        } else {
                            NumberSource::Mapping
                        },
                        verified: row.get(3)?,
                        agent: AgentEndpoint::from_stored(
                            row.get::<_, Option<String>>(4)?.as_deref(),
                            row.get::<_, Option<String>>(5)?.as_deref(),
                        ),
                    })
                })
                .optional()
                .context("failed to look up a number")?;
            Ok(found)
        })
        .await
    }

    async fn version(&self) -> Result<i64, StoreError> {
        self.read("directory_version", |conn| {
            Ok(conn
                .prepare_cached("SELECT version FROM sms_directory_version WHERE id = 1")?
                .query_row([], |row| row.get(0))?)
        })
        .await
    }
}
