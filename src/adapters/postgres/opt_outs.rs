//! Opted-out numbers in PostgreSQL.

use chrono::{DateTime, Utc};

use super::{PgStore, failed, stamp};
use crate::domain::phone::PhoneNumber;
use crate::ports::{OptOut, OptOutRegistry, Page, PageRequest, StoreError};

impl OptOutRegistry for PgStore {
    async fn is_opted_out(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM sms_opt_outs WHERE phone_number = $1)")
            .await
            .map_err(failed("failed to read an opt-out"))?;
        let row = client
            .query_one(&statement, &[&number.as_ref()])
            .await
            .map_err(failed("failed to read an opt-out"))?;
        Ok(row.get(0))
    }

    async fn opt_out(&self, number: &PhoneNumber) -> Result<(), StoreError> {
        // A commit in PostgreSQL waits for its write-ahead log to be flushed
        // (synchronous_commit's default): an opt-out, once answered, stays.
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO sms_opt_outs (phone_number) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&number.as_ref()],
            )
            .await
            .map_err(failed("failed to record an opt-out"))?;
        Ok(())
    }

    async fn opt_in(&self, number: &PhoneNumber) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM sms_opt_outs WHERE phone_number = $1", &[&number.as_ref()])
            .await
            .map_err(failed("failed to record an opt-in"))?;
        Ok(())
    }

    async fn list(&self, page: PageRequest) -> Result<Page<OptOut>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT position, phone_number, opted_out_at FROM sms_opt_outs
                 WHERE position > $1 ORDER BY position LIMIT $2",
                &[&page.after.unwrap_or(0), &(i64::from(page.limit) + 1)],
            )
            .await
            .map_err(failed("failed to list opt-outs"))?;
        let rows = rows
            .iter()
            .map(|row| OptOut {
                position: row.get(0),
                phone_number: row.get(1),
                opted_out_at: stamp(row.get::<_, DateTime<Utc>>(2)),
            })
            .collect();
        Ok(Page::from_rows(rows, page.limit, |o| o.position))
    }
}
