//! `/sms-router/admin/configs`: the run-time settings.

use std::marker::PhantomData;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::failures::{ConfigMissing, ListConfigsFailed, PutConfigFailed};
use super::{AdminAuth, DeletedOk};
use crate::adapters::http::ApiTags;
use crate::adapters::http::text::{Text, field};
use crate::domain::admin::{Admin, SettingView};
use crate::domain::settings::SettingKey;
use crate::ports::AdminStore;

/// The known settings.
#[derive(Enum, Clone, Copy)]
#[oai(rename_all = "snake_case")]
pub enum SettingKeyDto {
    HelpReply,
    UnknownUserReply,
    InactiveUserReply,
    ErrorReply,
    MaxReplyMessages,
    MaxReplySegments,
    SmartEncoding,
    AgentEvents,
    RequireVerifiedNumbers,
    UsageLogRetentionDays,
}

impl From<SettingKey> for SettingKeyDto {
    fn from(key: SettingKey) -> Self {
        match key {
            SettingKey::HelpReply => SettingKeyDto::HelpReply,
            SettingKey::UnknownUserReply => SettingKeyDto::UnknownUserReply,
            SettingKey::InactiveUserReply => SettingKeyDto::InactiveUserReply,
            SettingKey::ErrorReply => SettingKeyDto::ErrorReply,
            SettingKey::MaxReplyMessages => SettingKeyDto::MaxReplyMessages,
            SettingKey::MaxReplySegments => SettingKeyDto::MaxReplySegments,
            SettingKey::SmartEncoding => SettingKeyDto::SmartEncoding,
            SettingKey::AgentEvents => SettingKeyDto::AgentEvents,
            SettingKey::RequireVerifiedNumbers => SettingKeyDto::RequireVerifiedNumbers,
            SettingKey::UsageLogRetentionDays => SettingKeyDto::UsageLogRetentionDays,
        }
    }
}

/// A setting and its effective value.
#[derive(Object)]
pub struct ConfigDto {
    pub key: SettingKeyDto,
    /// The effective value: the stored one, or the default.
    pub value: String,
    /// What an administrator wrote about it; null when nothing.
    #[oai(nullable)]
    pub description: Option<String>,
    /// True when no value is stored and the default applies.
    pub is_default: bool,
    /// When the stored value was last written; null for a default.
    #[oai(nullable)]
    pub updated_at: Option<String>,
    /// The value that applies when none is stored.
    pub default_value: String,
    /// What a value must be, in the words a refusal uses.
    pub rule: String,
}

impl From<SettingView> for ConfigDto {
    fn from(s: SettingView) -> Self {
        ConfigDto {
            key: s.key.into(),
            value: s.value,
            description: s.description,
            is_default: s.is_default,
            updated_at: s.updated_at,
            default_value: s.key.default_value().to_owned(),
            rule: s.key.rule().to_owned(),
        }
    }
}

/// A value for a setting.
#[derive(Object)]
#[oai(example)]
pub struct PutConfigRequest {
    /// Text; `max_reply_messages` takes an integer 1–10, `help_reply` may not be empty.
    pub value: Text<field::Value>,
    /// A note for administrators; null for none.
    #[oai(nullable)]
    pub description: Option<Text<field::Description>>,
}

/// Every known setting with its effective value.
#[derive(Object)]
pub struct ConfigList {
    /// Every known setting.
    pub items: Vec<ConfigDto>,
    /// Always null: every setting fits one page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum ConfigOk {
    /// The setting as it is now.
    #[oai(status = 200)]
    Found(Json<ConfigDto>),
}

#[derive(ApiResponse)]
pub enum ConfigListOk {
    /// Every known setting with its effective value.
    #[oai(status = 200)]
    List(Json<ConfigList>),
}

pub struct ConfigsApi<AP>(PhantomData<fn() -> AP>);

impl<AP> Default for ConfigsApi<AP> {
    fn default() -> Self {
        ConfigsApi(PhantomData)
    }
}

#[OpenApi(prefix_path = "/sms-router/admin", tag = "ApiTags::Admin")]
impl<AP: AdminStore> ConfigsApi<AP> {
    /// List every setting with its effective value
    #[oai(path = "/configs", method = "get", operation_id = "list_configs")]
    async fn list_configs(&self, _auth: AdminAuth, admin: Data<&Admin<AP>>) -> Result<ConfigListOk, ListConfigsFailed> {
        let items = admin.list_settings().await?.into_iter().map(ConfigDto::from).collect();
        Ok(ConfigListOk::List(Json(ConfigList {
            items,
            next_cursor: None,
        })))
    }

    /// Get a setting
    #[oai(path = "/configs/:key", method = "get", operation_id = "get_config")]
    async fn get_config(
        &self,
        _auth: AdminAuth,
        key: Path<String>,
        admin: Data<&Admin<AP>>,
    ) -> Result<ConfigOk, ConfigMissing> {
        Ok(ConfigOk::Found(Json(admin.get_setting(&key).await?.into())))
    }

    /// Set a setting; it applies to the next message
    #[oai(path = "/configs/:key", method = "put", operation_id = "put_config")]
    async fn put_config(
        &self,
        _auth: AdminAuth,
        key: Path<String>,
        body: Json<PutConfigRequest>,
        admin: Data<&Admin<AP>>,
    ) -> Result<ConfigOk, PutConfigFailed> {
        Ok(ConfigOk::Found(Json(
            admin
                .put_setting(&key, &body.value, body.description.as_deref())
                .await?
                .into(),
        )))
    }

    /// Restore a setting's default
    #[oai(path = "/configs/:key", method = "delete", operation_id = "delete_config")]
    async fn delete_config(
        &self,
        _auth: AdminAuth,
        key: Path<String>,
        admin: Data<&Admin<AP>>,
    ) -> Result<DeletedOk, ConfigMissing> {
        admin.delete_setting(&key).await?;
        Ok(DeletedOk::Deleted)
    }
}

impl poem_openapi::types::Example for PutConfigRequest {
    fn example() -> Self {
        PutConfigRequest {
            value: "3".into(),
            description: Some("let long answers take three messages".into()),
        }
    }
}
