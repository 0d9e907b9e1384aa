//! Who owns a number, in PostgreSQL: the routing read path.

use super::{PgStore, failed};
use crate::domain::phone::PhoneNumber;
use crate::domain::user::{AgentEndpoint, NumberSource, Recipient, UserId};
use crate::ports::{StoreError, UserDirectory};

impl UserDirectory for PgStore {
    async fn recipient(&self, number: &PhoneNumber) -> Result<Option<Recipient>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT id, is_active, TRUE, TRUE, agent_url, agent_token FROM users WHERE phone_number = $1
                 UNION ALL
                 SELECT u.id, u.is_active, FALSE, m.is_verified, u.agent_url, u.agent_token
                 FROM user_phone_mappings m JOIN users u ON u.id = m.user_id
                 WHERE m.phone_number = $1
                 LIMIT 1",
            )
            .await
            .map_err(failed("failed to look up a number"))?;
        let row = client
            .query_opt(&statement, &[&number.as_ref()])
            .await
            .map_err(failed("failed to look up a number"))?;
        Ok(row.map(|row| Recipient {
            user_id: UserId(row.get(0)),
            is_active: row.get(1),
            source: if row.get(2) {
                NumberSource::Primary
            } else {
                NumberSource::Mapping
            },
            verified: row.get(3),
            agent: AgentEndpoint::from_stored(row.get(4), row.get(5)),
        }))
    }

    async fn version(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT version FROM sms_directory_version WHERE id = 1")
            .await
            .map_err(failed("failed to read the directory version"))?;
        let row = client
            .query_one(&statement, &[])
            .await
            .map_err(failed("failed to read the directory version"))?;
        Ok(row.get(0))
    }
}
