//! Who owns a number, in SQLite: the routing read path.

use anyhow::Context;
use rusqlite::OptionalExtension;

use super::SqliteStore;
use crate::domain::phone::PhoneNumber;
use crate::domain::user::{AgentEndpoint, AgentToken, AgentUrl, NumberSource, Recipient, UserId};
use crate::ports::{StoreError, UserDirectory};

/// A user's own agent from its stored URL and token; a URL that does not
/// read (written by hand) is no agent of theirs.
pub(crate) fn agent_of(url: Option<String>, token: Option<String>) -> Option<AgentEndpoint> {
    let url = AgentUrl::parse(&url?).ok()?;
    Some(AgentEndpoint {
        url,
        token: token.and_then(|t| AgentToken::parse(&t).ok()),
    })
}

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
                        agent: agent_of(row.get(4)?, row.get(5)?),
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
