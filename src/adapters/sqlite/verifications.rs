//! Pending number verifications in SQLite.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use super::registry::{PHONE_COLUMNS, phone_from_row};
use crate::domain::phone::PhoneNumber;
use crate::domain::user::PhoneId;
use crate::domain::verification::{Check, PendingVerification, VerificationCode};
use crate::ports::{CodeAttempt, StoreError, Verifications};

fn pending_from_row(row: &Row<'_>) -> rusqlite::Result<PendingVerification> {
    let expires_at: String = row.get(2)?;
    Ok(PendingVerification {
        phone_id: PhoneId(row.get(0)?),
        code_hash: row.get(1)?,
        expires_at: DateTime::parse_from_rfc3339(&expires_at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e)))?,
        attempts: row.get(3)?,
    })
}

impl Verifications for SqliteStore {
    async fn save(&self, pending: &PendingVerification) -> Result<(), StoreError> {
        let pending = pending.clone();
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO sms_phone_verifications (phone_id, code_hash, expires_at, attempts) VALUES (?1, ?2, ?3, 0)
                 ON CONFLICT (phone_id) DO UPDATE SET code_hash = excluded.code_hash,
                    expires_at = excluded.expires_at, attempts = 0,
                    created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                params![pending.phone_id.0, pending.code_hash, pending.expires_at.to_rfc3339()],
            )?;
            Ok(())
        })
        .await
    }

    async fn pending_for_number(&self, number: &PhoneNumber) -> Result<Option<PendingVerification>, StoreError> {
        let number = number.to_string();
        self.read("pending_verification", move |conn| {
            Ok(conn
                .query_row(
                    "SELECT v.phone_id, v.code_hash, v.expires_at, v.attempts
                     FROM sms_phone_verifications v JOIN user_phone_mappings m ON m.id = v.phone_id
                     WHERE m.phone_number = ?1",
                    [number],
                    pending_from_row,
                )
                .optional()?)
        })
        .await
    }

    async fn try_code(
        &self,
        phone: PhoneId,
        code: &VerificationCode,
        now: DateTime<Utc>,
    ) -> Result<CodeAttempt, StoreError> {
        let code = code.clone();
        self.run(move |conn| {
            // Begun IMMEDIATE (the pool's setting): concurrent attempts
            // are weighed one after another, each against the count the
            // previous one left.
            let tx = conn.transaction()?;
            let pending = tx
                .query_row(
                    "SELECT phone_id, code_hash, expires_at, attempts FROM sms_phone_verifications WHERE phone_id = ?1",
                    [phone.0],
                    pending_from_row,
                )
                .optional()?;
            let Some(pending) = pending else {
                return Ok(CodeAttempt::NotPending);
            };
            let attempt = match pending.check(&code, now) {
                Check::Confirmed => {
                    tx.execute("DELETE FROM sms_phone_verifications WHERE phone_id = ?1", [phone.0])?;
                    tx.query_row(
                        &format!(
                            "UPDATE user_phone_mappings SET is_verified = 1, verification_method = 'sms',
                                    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                             WHERE id = ?1 RETURNING {PHONE_COLUMNS}"
                        ),
                        [phone.0],
                        phone_from_row,
                    )
                    .optional()?
                    .map_or(CodeAttempt::NotPending, CodeAttempt::Verified)
                }
                Check::Wrong => {
                    tx.execute(
                        "UPDATE sms_phone_verifications SET attempts = attempts + 1 WHERE phone_id = ?1",
                        [phone.0],
                    )?;
                    CodeAttempt::Wrong
                }
                Check::Expired => CodeAttempt::Expired,
                Check::TooManyAttempts => CodeAttempt::TooManyAttempts,
            };
            tx.commit()?;
            Ok(attempt)
        })
        .await
    }
}
