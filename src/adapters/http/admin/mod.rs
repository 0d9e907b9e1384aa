//! The admin API: bearer-authenticated JSON operations over the domain's
//! `Admin` use cases.

mod failures;
mod lookup;
mod messages;
mod phones;
mod reports;
mod settings;
mod users;
mod verification;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, SecurityScheme};
use subtle::ConstantTimeEq;

use super::errors::ErrorBody;
use crate::ports::{Page, PageRequest};

pub use lookup::LookupApi;
pub use messages::MessagesApi;
pub use phones::PhonesApi;
pub use reports::UsageApi;
pub use settings::ConfigsApi;
pub use users::UsersApi;
pub use verification::VerificationApi;

/// The configured admin token; `None`: every admin call is refused.
#[derive(Clone)]
pub struct AdminToken(pub Option<String>);

impl AdminToken {
    /// Whether `token` is the admin token, compared in constant time.
    fn is(&self, token: &str) -> bool {
        self.0
            .as_ref()
            .is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(token.as_bytes())))
    }

    /// Whether an `Authorization` header value carries the admin token as
    /// a bearer token.
    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        let Some((scheme, token)) = authorization.and_then(|v| v.trim().split_once(' ')) else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer") && self.is(token.trim())
    }
}

/// `Authorization: Bearer <SMS_ROUTER_ADMIN_TOKEN>`
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_admin_token")]
pub struct AdminAuth(());

async fn check_admin_token(req: &Request, bearer: Bearer) -> Option<()> {
    req.data::<AdminToken>()?.is(&bearer.token).then_some(())
}

#[derive(ApiResponse)]
pub enum DeletedOk {
    /// Deleted.
    #[oai(status = 204)]
    Deleted,
}

/// Why a page request cannot be read: a malformed cursor (400) or a limit
/// outside 1–500 (422).
enum PageError {
    Cursor,
    Limit,
}

/// Reads `limit` (default 50, 1–500) and the opaque `after` cursor.
fn page_request(limit: Option<i64>, after: Option<&str>) -> Result<PageRequest, PageError> {
    let limit = limit.unwrap_or(50);
    let limit = u32::try_from(limit)
        .ok()
        .filter(|l| (1..=500).contains(l))
        .ok_or(PageError::Limit)?;
    let after = after.map(decode_cursor).transpose()?;
    Ok(PageRequest { after, limit })
}

fn decode_cursor(cursor: &str) -> Result<i64, PageError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| PageError::Cursor)?;
    let text = String::from_utf8(bytes).map_err(|_| PageError::Cursor)?;
    text.strip_prefix("p1:")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or(PageError::Cursor)
}

fn encode_cursor(position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("p1:{position}"))
}

impl PageError {
    fn body(&self) -> Json<ErrorBody> {
        match self {
            PageError::Cursor => ErrorBody::json("bad_request", "`after` is not a cursor this server gave"),
            PageError::Limit => ErrorBody::json("unprocessable_entity", "`limit` must be from 1 to 500"),
        }
    }
}

/// A page's items as DTOs and its next cursor.
fn page_parts<T, D>(page: Page<T>, to_dto: impl Fn(T) -> D) -> (Vec<D>, Option<String>) {
    (
        page.items.into_iter().map(to_dto).collect(),
        page.next_after.map(encode_cursor),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)).ok(), Some(42));
        for junk in ["", "xyz", "cDE6LTE", "!!"] {
            assert!(decode_cursor(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(page_request(None, None).ok().map(|p| p.limit), Some(50));
        assert!(matches!(page_request(Some(0), None), Err(PageError::Limit)));
        assert!(matches!(page_request(Some(501), None), Err(PageError::Limit)));
        assert!(page_request(Some(500), None).is_ok());
    }
}
