//! `POST /users/{id}/messages`: a message to a user, through the outbox.

use std::marker::PhantomData;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::AdminAuth;
use super::failures::SendMessageFailed;
use crate::adapters::http::ApiTags;
use crate::adapters::http::text::{Text, field};
use crate::domain::admin::Admin;
use crate::domain::user::UserId;
use crate::ports::AdminStore;
use crate::ports::{OutboxEntry, OutboxStatus};

/// A message to text a user.
#[derive(Object)]
#[oai(example)]
pub struct SendMessageRequest {
    /// The text: 1 to 1600 characters.
    pub body: Text<field::Body>,
}

/// Where a message in the outbox stands.
#[derive(Enum, Clone, Copy)]
#[oai(rename_all = "lowercase")]
pub enum OutboxStatusDto {
    Pending,
    Sending,
    Sent,
    Failed,
    /// Sent or not, nobody can tell: not repeated.
    Unknown,
}

/// A message in the outbox: never its text.
#[derive(Object)]
pub struct OutboxMessageDto {
    /// The outbox item's id.
    pub id: i64,
    /// The user it is for; null when the user was deleted since.
    #[oai(nullable)]
    pub user_id: Option<i64>,
    /// E.164.
    pub to: String,
    pub status: OutboxStatusDto,
    /// Sends tried so far.
    pub attempts: u32,
    /// Twilio's id, once sent.
    #[oai(nullable)]
    pub message_sid: Option<String>,
    /// When it was queued, RFC 3339 in UTC.
    pub created_at: String,
}

impl From<OutboxEntry> for OutboxMessageDto {
    fn from(e: OutboxEntry) -> Self {
        OutboxMessageDto {
            id: e.id.0,
            user_id: e.user_id.map(|u| u.0),
            to: e.to.to_string(),
            status: match e.status {
                OutboxStatus::Pending => OutboxStatusDto::Pending,
                OutboxStatus::Sending => OutboxStatusDto::Sending,
                OutboxStatus::Sent => OutboxStatusDto::Sent,
                OutboxStatus::Failed => OutboxStatusDto::Failed,
                OutboxStatus::Unknown => OutboxStatusDto::Unknown,
            },
            attempts: e.attempts,
            message_sid: e.message_sid,
            created_at: e.created_at,
        }
    }
}

#[derive(ApiResponse)]
pub enum MessageAccepted {
    /// In the outbox; it is sent shortly.
    #[oai(status = 202)]
    Accepted(Json<OutboxMessageDto>),
}

pub struct MessagesApi<AP>(PhantomData<fn() -> AP>);

impl<AP> Default for MessagesApi<AP> {
    fn default() -> Self {
        MessagesApi(PhantomData)
    }
}

#[OpenApi(prefix_path = "/sms-router/admin", tag = "ApiTags::Admin")]
impl<AP: AdminStore> MessagesApi<AP> {
    /// Send a message to a user
    ///
    /// 409 when the user is inactive, opted out or has no number; 503 when
    /// Twilio's REST settings are not configured.
    #[oai(path = "/users/:id/messages", method = "post", operation_id = "send_user_message")]
    async fn send_user_message(
        &self,
        _auth: AdminAuth,
        id: Path<i64>,
        body: Json<SendMessageRequest>,
        admin: Data<&Admin<AP>>,
    ) -> Result<MessageAccepted, SendMessageFailed> {
        let entry = admin.send_user_message(UserId(id.0), &body.body).await?;
        Ok(MessageAccepted::Accepted(Json(entry.into())))
    }
}

impl poem_openapi::types::Example for SendMessageRequest {
    fn example() -> Self {
        SendMessageRequest {
            body: "Your report is ready.".into(),
        }
    }
}
