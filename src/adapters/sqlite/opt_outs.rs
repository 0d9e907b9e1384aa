//! Opted-out numbers in SQLite.

use super::SqliteStore;
use crate::domain::phone::PhoneNumber;
use crate::ports::{OptOut, OptOutRegistry, Page, PageRequest, StoreError};

impl OptOutRegistry for SqliteStore {
    async fn is_opted_out(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        let number = number.to_string();
        self.read("opt_out", move |conn| {
            Ok(conn
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM sms_opt_outs WHERE phone_number = ?1)")?
                .query_row([number], |row| row.get(0))?)
        })
        .await
    }

    async fn opt_out(&self, number: &PhoneNumber) -> Result<(), StoreError> {
        let number = number.to_string();
        self.run_synced(move |conn| {
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

    async fn list(&self, page: PageRequest) -> Result<Page<OptOut>, StoreError> {
        let rows = self
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT rowid, phone_number, opted_out_at FROM sms_opt_outs WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
                )?;
                let rows = stmt
                    .query_map(rusqlite::params![page.after.unwrap_or(0), i64::from(page.limit) + 1], |row| {
                        Ok(OptOut { position: row.get(0)?, phone_number: row.get(1)?, opted_out_at: row.get(2)? })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        Ok(Page::from_rows(rows, page.limit, |o| o.position))
    }
}
