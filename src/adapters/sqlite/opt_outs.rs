//! Opted-out numbers in SQLite.

use super::SqliteStore;
use crate::domain::phone::PhoneNumber;
use crate::ports::{OptOutRegistry, StoreError};

impl OptOutRegistry for SqliteStore {
    async fn is_opted_out(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        let number = number.to_string();
        self.run(move |conn| {
            Ok(conn
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM sms_opt_outs WHERE phone_number = ?1)")?
                .query_row([number], |row| row.get(0))?)
        })
        .await
    }

    async fn opt_out(&self, number: &PhoneNumber) -> Result<(), StoreError> {
        let number = number.to_string();
        self.run(move |conn| {
            conn.prepare_cached("INSERT INTO sms_opt_outs (phone_number) VALUES (?1) ON CONFLICT DO NOTHING")?
                .execute([number])?;
            Ok(())
        })
        .await
    }

    async fn opt_in(&self, number: &PhoneNumber) -> Result<(), StoreError> {
        let number = number.to_string();
        self.run(move |conn| {
            conn.prepare_cached("DELETE FROM sms_opt_outs WHERE phone_number = ?1")?
                .execute([number])?;
            Ok(())
        })
        .await
    }
}
