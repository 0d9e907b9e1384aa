//! Pending number verifications in PostgreSQL.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::registry::{PHONE_COLUMNS, phone_from_row};
use super::{PgStore, failed};
use crate::domain::phone::PhoneNumber;
use crate::domain::user::PhoneId;
use crate::domain::verification::{Check, PendingVerification, VerificationCode};
use crate::ports::{CodeAttempt, StoreError, Verifications};

fn pending_from_row(row: &Row) -> PendingVerification {
    PendingVerification {
        phone_id: PhoneId(row.get(0)),
        code_hash: row.get(1),
        expires_at: row.get::<_, DateTime<Utc>>(2),
        attempts: u32::try_from(row.get::<_, i32>(3)).unwrap_or(u32::MAX),
    }
}

impl Verifications for PgStore {
    async fn save(&self, pending: &PendingVerification) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO sms_phone_verifications (phone_id, code_hash, expires_at, attempts) VALUES ($1, $2, $3, 0)
                 ON CONFLICT (phone_id) DO UPDATE SET code_hash = excluded.code_hash,
                    expires_at = excluded.expires_at, attempts = 0, created_at = now()",
                &[&pending.phone_id.0, &pending.code_hash, &pending.expires_at],
            )
            .await
            .map_err(failed("failed to save a verification"))?;
        Ok(())
    }

    async fn pending_for_number(&self, number: &PhoneNumber) -> Result<Option<PendingVerification>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT v.phone_id, v.code_hash, v.expires_at, v.attempts
                 FROM sms_phone_verifications v JOIN user_phone_mappings m ON m.id = v.phone_id
                 WHERE m.phone_number = $1",
            )
            .await
            .map_err(failed("failed to read a verification"))?;
        let row = client
            .query_opt(&statement, &[&number.as_ref()])
            .await
            .map_err(failed("failed to read a verification"))?;
        Ok(row.as_ref().map(pending_from_row))
    }

    async fn try_code(
        &self,
        phone: PhoneId,
        code: &VerificationCode,
        now: DateTime<Utc>,
    ) -> Result<CodeAttempt, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed("failed to begin"))?;
        // The row locked: concurrent attempts, from any instance, are
        // weighed one after another, each against the count the previous
        // one left.
        let pending = tx
            .query_opt(
                "SELECT phone_id, code_hash, expires_at, attempts FROM sms_phone_verifications
                 WHERE phone_id = $1 FOR UPDATE",
                &[&phone.0],
            )
            .await
            .map_err(failed("failed to read a verification"))?;
        let Some(pending) = pending.as_ref().map(pending_from_row) else {
            return Ok(CodeAttempt::NotPending);
        };
        let attempt = match pending.check(code, now) {
            Check::Confirmed => {
                tx.execute("DELETE FROM sms_phone_verifications WHERE phone_id = $1", &[&phone.0])
                    .await
                    .map_err(failed("failed to clear a verification"))?;
                let row = tx
                    .query_opt(
                        &format!(
                            "UPDATE user_phone_mappings SET is_verified = TRUE, verification_method = 'sms',
                                    updated_at = now()
                             WHERE id = $1 RETURNING {PHONE_COLUMNS}"
                        ),
                        &[&phone.0],
                    )
                    .await
                    .map_err(failed("failed to verify a number"))?;
                match row {
                    Some(row) => CodeAttempt::Verified(phone_from_row(&row)?),
                    None => CodeAttempt::NotPending,
                }
            }
            Check::Wrong => {
                tx.execute(
                    "UPDATE sms_phone_verifications SET attempts = attempts + 1 WHERE phone_id = $1",
                    &[&phone.0],
                )
                .await
                .map_err(failed("failed to count a wrong code"))?;
                CodeAttempt::Wrong
            }
            Check::Expired => CodeAttempt::Expired,
            Check::TooManyAttempts => CodeAttempt::TooManyAttempts,
        };
        tx.commit().await.map_err(failed("failed to commit a code attempt"))?;
        Ok(attempt)
    }
}
