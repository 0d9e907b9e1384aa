//! The administration use cases: users and numbers, settings, opt-outs and
//! the routing preview of a number. Invariants that need the store (unique
//! numbers, one primary) are kept by the store; this layer adds the rules
//! that need several ports or the domain's own knowledge.

use std::sync::Arc;

use super::phone::PhoneNumber;
use super::policy::{self, Facts, FirstLook};
use super::report::{SummaryQuery, UsageFilter, UsageLogEntry, UsageSummary};
use super::settings::{CONTROL_CHARACTERS, SettingError, SettingKey, Settings, has_control_characters};
use super::usage::Outcome;
use super::user::{
    AgentToken, AgentUrl, NewPhone, NewUser, NumberSource, Phone, PhoneId, PhonePatch, User, UserFilter, UserId,
    UserPatch,
};
use crate::ports::{
    AdminStore, ChangeError, Clock, CreateError, Missing, OptOut, Page, PageRequest, Random, RateLimiter, StoreError,
};

mod errors;
mod sending;
#[cfg(test)]
mod tests;

pub use errors::{
    ConfirmError, Invalid, NotConfigured, PutSettingError, Refusal, ReportError, SendMessageError,
    StartVerificationError, UpdateUserError,
};

/// The store is what deployments and tests replace; the rest has one
/// implementation each.
#[derive(Clone)]
pub struct Admin<S> {
    pub store: S,
    pub limiter: Arc<dyn RateLimiter>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    /// Whether messages can be sent through the provider's API at all.
    pub outbound_enabled: bool,
}

/// What becomes of a user's agent token when their agent URL goes from
/// `before` to `after` and the update says `token` of it: a token set needs
/// a URL; a URL moved to another origin (scheme, host, port) loses the old
/// token unless the update sets one.
///
/// # Errors
/// `Invalid` naming `agent_token` for a token without a URL.
pub fn agent_token_after(
    before: Option<&AgentUrl>,
    after: Option<&AgentUrl>,
    token: Option<Option<AgentToken>>,
) -> Result<Option<Option<AgentToken>>, Invalid> {
    match (token, after) {
        (Some(Some(_)), None) => Err(Invalid::new("agent_token", "needs an `agent_url`")),
        (None, Some(after)) if before.is_some_and(|before| !before.same_origin(after)) => Ok(Some(None)),
        (token, _) => Ok(token),
    }
}

/// What the next ordinary message from a number would meet.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub phone_number: PhoneNumber,
    pub owner: Option<(User, NumberSource)>,
    /// `routed`, `opted_out`, `rate_limited`, `unknown_user` or `inactive_user`.
    pub reason: Outcome,
}

impl Lookup {
    pub fn would_route(&self) -> bool {
        self.reason == Outcome::Routed
    }
}

/// A setting as an administrator sees it: its effective value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingView {
    pub key: SettingKey,
    pub value: String,
    pub description: Option<String>,
    pub is_default: bool,
    pub updated_at: Option<String>,
}

impl<S: AdminStore> Admin<S> {
    pub async fn create_user(&self, user: NewUser) -> Result<User, CreateError> {
        self.store.create_user(user).await
    }

    pub async fn get_user(&self, id: UserId) -> Result<User, Missing> {
        self.store.get_user(id).await
    }

    pub async fn list_users(&self, filter: UserFilter, page: PageRequest) -> Result<Page<User>, StoreError> {
        self.store.list_users(filter, page).await
    }

    /// Changes a user. A token goes with one server: an update that moves
    /// the user's agent to another origin (scheme, host or port) clears its
    /// token unless it sets one, and a token needs a URL to go to.
    ///
    /// # Errors
    /// `Invalid` for a token without an agent URL; else the store's.
    pub async fn update_user(&self, id: UserId, mut patch: UserPatch) -> Result<User, UpdateUserError> {
        if patch.agent_url.is_some() || matches!(patch.agent_token, Some(Some(_))) {
            let current = self.store.get_user(id).await.map_err(|e| match e {
                Missing::NotFound => UpdateUserError::Change(ChangeError::NotFound),
                Missing::Store(e) => UpdateUserError::Change(ChangeError::Store(e)),
            })?;
            let url_after = match &patch.agent_url {
                Some(url) => url.as_ref(),
                None => current.agent_url.as_ref(),
            };
            patch.agent_token = agent_token_after(current.agent_url.as_ref(), url_after, patch.agent_token)?;
        }
        Ok(self.store.update_user(id, patch).await?)
    }

    pub async fn delete_user(&self, id: UserId) -> Result<(), Missing> {
        self.store.delete_user(id).await
    }

    pub async fn list_phones(&self, user: UserId, page: PageRequest) -> Result<Page<Phone>, Missing> {
        self.store.list_phones(user, page).await
    }

    pub async fn add_phone(&self, user: UserId, phone: NewPhone) -> Result<Phone, ChangeError> {
        self.store.add_phone(user, phone).await
    }

    pub async fn update_phone(&self, id: PhoneId, patch: PhonePatch) -> Result<Phone, Missing> {
        self.store.update_phone(id, patch).await
    }

    pub async fn delete_phone(&self, id: PhoneId) -> Result<(), Missing> {
        self.store.delete_phone(id).await
    }

    /// The routing preview: what the policy says the next ordinary message
    /// from the number gets, from what the router would read. It takes no
    /// rate-limit token.
    pub async fn lookup(&self, number: PhoneNumber) -> Result<Lookup, StoreError> {
        let settings = self.store.current().await?;
        let facts = Facts {
            keyword: None,
            opted_out: self.store.is_opted_out(&number).await?,
            recipient: self.store.recipient(&number).await?,
            code_for: None,
        };
        let verdict = match policy::first_look(&facts, &settings) {
            FirstLook::Decided(verdict) => verdict,
            FirstLook::UnlessLimited(rest) => rest.decide(self.limiter.is_limited(number.as_ref()).await?),
        };
        let owner = self.store.owner_of(&number).await?;
        Ok(Lookup {
            phone_number: number,
            owner,
            reason: verdict.outcome(),
        })
    }

    /// Every known setting with its effective value.
    pub async fn list_settings(&self) -> Result<Vec<SettingView>, StoreError> {
        let stored = self.store.stored().await?;
        Ok(SettingKey::ALL
            .into_iter()
            .map(|key| match stored.iter().find(|s| s.key == key) {
                Some(s) => SettingView {
                    key,
                    value: s.value.clone(),
                    description: s.description.clone(),
                    is_default: false,
                    updated_at: Some(s.updated_at.clone()),
                },
                None => default_view(key),
            })
            .collect())
    }

    /// `NotFound` for a key that is not a known setting.
    pub async fn get_setting(&self, key: &str) -> Result<SettingView, Missing> {
        let key = SettingKey::parse(key).map_err(|_| Missing::NotFound)?;
        let all = self.list_settings().await?;
        all.into_iter().find(|s| s.key == key).ok_or(Missing::NotFound)
    }

    /// Stores a value that keeps its key's rule.
    pub async fn put_setting(
        &self,
        key: &str,
        value: &str,
        description: Option<&str>,
    ) -> Result<SettingView, PutSettingError> {
        let key = SettingKey::parse(key).map_err(|_| PutSettingError::UnknownKey)?;
        Settings::default().apply(key, value).map_err(|e| {
            PutSettingError::Invalid(Invalid::new(
                "value",
                match e {
                    SettingError::InvalidValue { why, .. } => why.to_owned(),
                    other => other.to_string(),
                },
            ))
        })?;
        if description.is_some_and(|d| d.chars().count() > 500) {
            return Err(PutSettingError::Invalid(Invalid::new(
                "description",
                "may hold at most 500 characters",
            )));
        }
        if description.is_some_and(has_control_characters) {
            return Err(PutSettingError::Invalid(Invalid::new(
                "description",
                CONTROL_CHARACTERS,
            )));
        }
        let stored = self.store.put(key, value, description).await?;
        Ok(SettingView {
            key,
            value: stored.value,
            description: stored.description,
            is_default: false,
            updated_at: Some(stored.updated_at),
        })
    }

    /// Restores the default; answers the setting as it is now.
    /// `NotFound` for a key that is not a known setting.
    pub async fn delete_setting(&self, key: &str) -> Result<SettingView, Missing> {
        let key = SettingKey::parse(key).map_err(|_| Missing::NotFound)?;
        self.store.delete(key).await?;
        Ok(default_view(key))
    }

    /// Log rows, newest first.
    pub async fn list_usage_logs(
        &self,
        filter: UsageFilter,
        page: PageRequest,
    ) -> Result<Page<UsageLogEntry>, ReportError> {
        check_range(filter.since.as_ref(), filter.until.as_ref()).map_err(ReportError::Invalid)?;
        Ok(self.store.list_usage_logs(filter, page).await?)
    }

    pub async fn usage_summary(&self, query: SummaryQuery) -> Result<UsageSummary, ReportError> {
        check_range(query.since.as_ref(), query.until.as_ref()).map_err(ReportError::Invalid)?;
        Ok(self.store.summarize(query).await?)
    }

    pub async fn list_opt_outs(&self, page: PageRequest) -> Result<Page<OptOut>, StoreError> {
        self.store.list(page).await
    }

    /// Clears a number's opt-out, as its texting START would: for an opt-out
    /// made by mistake, once its owner has said so. Twilio keeps its own
    /// block on a number that texted STOP until it texts START.
    /// `NotFound` when the number has not opted out.
    pub async fn clear_opt_out(&self, number: &PhoneNumber) -> Result<(), Missing> {
        if !self.store.is_opted_out(number).await? {
            return Err(Missing::NotFound);
        }
        self.store.opt_in(number).await?;
        Ok(())
    }
}

fn check_range<T: PartialOrd>(since: Option<&T>, until: Option<&T>) -> Result<(), Invalid> {
    match (since, until) {
        (Some(since), Some(until)) if since > until => Err(Invalid::new("until", "is before `since`")),
        _ => Ok(()),
    }
}

fn default_view(key: SettingKey) -> SettingView {
    SettingView {
        key,
        value: key.default_value().to_owned(),
        description: None,
        is_default: true,
        updated_at: None,
    }
}
