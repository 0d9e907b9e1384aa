//! The use cases that text someone on an administrator's word: a code
//! that verifies an extra number, and a message to a user. Both need
//! sending configured, and neither texts a number that opted out.

use super::{Admin, ConfirmError, Invalid, NotConfigured, Refusal, SendMessageError, StartVerificationError};
use crate::domain::reply::MAX_MESSAGE_UNITS;
use crate::domain::settings::{CONTROL_CHARACTERS, has_control_characters};
use crate::domain::usage::Outcome;
use crate::domain::user::{Phone, PhoneId, UserId};
use crate::domain::verification::{CODE_LIFETIME, PendingVerification, VerificationCode};
use crate::ports::{AdminStore, CodeAttempt, NewOutboxItem, OutboxEntry, PageRequest, StoreError};

impl<S: AdminStore> Admin<S> {
    /// Texts a fresh 6-digit code to an extra number; the code is kept
    /// hashed and expires after ten minutes.
    pub async fn start_phone_verification(&self, id: PhoneId) -> Result<PendingVerification, StartVerificationError> {
        self.require_outbound().map_err(StartVerificationError::NotConfigured)?;
        let phone = self.store.get_phone(id).await?;
        if self.store.is_opted_out(&phone.phone_number).await? {
            return Err(StartVerificationError::Refused(Refusal::OptedOut(phone.phone_number)));
        }
        let code = self.random.verification_code();
        let expires_at = self.clock.now()
            + chrono::Duration::from_std(CODE_LIFETIME).unwrap_or_else(|_| chrono::Duration::minutes(10));
        let pending = PendingVerification {
            phone_id: id,
            code_hash: code.hash_for(id),
            expires_at,
            attempts: 0,
        };
        self.store.save(&pending).await?;
        let body = format!("Your verification code is {}. It expires in 10 minutes.", code.as_str());
        let item = NewOutboxItem {
            user_id: Some(phone.user_id),
            to: phone.phone_number,
            body,
            media: Vec::new(),
            outcome: Outcome::Proactive,
            request_id: None,
            in_reply_to: None,
        };
        self.store.enqueue(vec![item]).await?;
        Ok(pending)
    }

    /// Marks an extra number verified by SMS when `code` is its pending code.
    pub async fn confirm_phone_verification(&self, id: PhoneId, code: &str) -> Result<Phone, ConfirmError> {
        let code = VerificationCode::parse(code).map_err(|e| ConfirmError::Invalid(Invalid::new("code", e)))?;
        self.store.get_phone(id).await?;
        let wrong = |why: &str| ConfirmError::Invalid(Invalid::new("code", why));
        match self.store.try_code(id, &code, self.clock.now()).await? {
            CodeAttempt::Verified(phone) => Ok(phone),
            CodeAttempt::NotPending => Err(wrong("has not been sent to this number, or was used")),
            CodeAttempt::Wrong => Err(wrong("is wrong")),
            CodeAttempt::Expired => Err(wrong("has expired: start a new verification")),
            CodeAttempt::TooManyAttempts => Err(ConfirmError::TooManyAttempts),
        }
    }

    fn require_outbound(&self) -> Result<(), NotConfigured> {
        if self.outbound_enabled {
            Ok(())
        } else {
            Err(NotConfigured)
        }
    }

    /// Puts a message to a user into the outbox.
    pub async fn send_user_message(&self, id: UserId, body: &str) -> Result<OutboxEntry, SendMessageError> {
        self.require_outbound().map_err(SendMessageError::NotConfigured)?;
        if body.trim().is_empty() {
            return Err(SendMessageError::Invalid(Invalid::new("body", "may not be empty")));
        }
        if has_control_characters(body) {
            return Err(SendMessageError::Invalid(Invalid::new("body", CONTROL_CHARACTERS)));
        }
        if body.encode_utf16().count() > MAX_MESSAGE_UNITS {
            return Err(SendMessageError::Invalid(Invalid::new(
                "body",
                "may hold at most 1600 characters",
            )));
        }
        let user = self.store.get_user(id).await?;
        if !user.is_active {
            return Err(SendMessageError::Refused(Refusal::Inactive(id)));
        }
        let number = match user.phone_number {
            Some(number) => number,
            None => {
                let phones = self
                    .store
                    .list_phones(
                        id,
                        PageRequest {
                            after: None,
                            limit: 500,
                        },
                    )
                    .await?;
                phones
                    .items
                    .into_iter()
                    .find(|p| p.is_primary)
                    .map(|p| p.phone_number)
                    .ok_or(SendMessageError::Refused(Refusal::NoNumber(id)))?
            }
        };
        if self.store.is_opted_out(&number).await? {
            return Err(SendMessageError::Refused(Refusal::OptedOut(number)));
        }
        let item = NewOutboxItem {
            user_id: Some(id),
            to: number,
            body: body.to_owned(),
            media: Vec::new(),
            outcome: Outcome::Proactive,
            request_id: None,
            in_reply_to: None,
        };
        let mut entries = self.store.enqueue(vec![item]).await?;
        entries
            .pop()
            .ok_or_else(|| SendMessageError::Store(StoreError::new("the outbox stored nothing")))
    }
}
