//! Users and their extra numbers in SQLite, as administrators manage them.
//! Uniqueness of numbers across both tables is kept by the schema.
//!
//! Over 300 lines: the registry port's eleven operations, each a statement or a
//! short transaction; split by table they would part the rule they share (a
//! number belongs to one user across both tables).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, is_conflict};
use crate::domain::phone::PhoneNumber;
use crate::domain::user::{
    AgentToken, AgentUrl, EmailAddress, NewPhone, NewUser, NumberSource, Phone, PhoneId, PhonePatch, User, UserFilter,
    UserId, UserPatch, VerificationMethod,
};
use crate::ports::{ChangeError, CreateError, Missing, Page, PageRequest, StoreError, Taken, UserRegistry};

const USER_COLUMNS: &str =
    "id, full_name, email, phone_number, is_active, created_at, updated_at, agent_url, agent_token IS NOT NULL";
pub(super) const PHONE_COLUMNS: &str =
    "id, user_id, phone_number, is_primary, is_verified, verification_method, created_at, updated_at";
const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// Numbers are stored in E.164; reading one back cannot fail unless the row
/// was written by hand, and then it is shown as absent.
fn stored_number(text: Option<String>) -> Option<PhoneNumber> {
    text.and_then(|t| PhoneNumber::from_stored(&t).ok())
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId(row.get(0)?),
        full_name: row.get(1)?,
        email: row.get(2)?,
        phone_number: stored_number(row.get(3)?),
        is_active: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
        agent_url: row.get::<_, Option<String>>(7)?.and_then(|u| AgentUrl::parse(&u).ok()),
        has_agent_token: row.get(8)?,
    })
}

pub(super) fn phone_from_row(row: &Row<'_>) -> rusqlite::Result<Phone> {
    let number: String = row.get(2)?;
    let method: Option<String> = row.get(5)?;
    Ok(Phone {
        id: PhoneId(row.get(0)?),
        user_id: UserId(row.get(1)?),
        phone_number: stored_number(Some(number.clone())).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, "not an E.164 number".into())
        })?,
        is_primary: row.get(3)?,
        is_verified: row.get(4)?,
        verification_method: method.as_deref().and_then(VerificationMethod::parse),
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

/// Which uniqueness rule a write broke.
enum Collided {
    Email,
    Number,
}

impl Collided {
    /// Names the value that collided, now that we know which field it was.
    fn taken(self, email: Option<&EmailAddress>, number: Option<&PhoneNumber>) -> Result<Taken, StoreError> {
        match (self, email, number) {
            (Collided::Email, Some(email), _) => Ok(Taken::Email(email.clone())),
            (Collided::Number, _, Some(number)) => Ok(Taken::Number(number.clone())),
            _ => Err(StoreError::new(
                "a uniqueness rule broke on a field this write did not set",
            )),
        }
    }
}

/// A write's failure in the registry's words: a broken uniqueness rule says
/// which; anything else is the store's failure.
fn collision(err: rusqlite::Error) -> anyhow::Result<Collided> {
    if !is_conflict(&err) {
        return Err(anyhow::Error::new(err).context("failed to write users or numbers"));
    }
    // SQLite names a broken UNIQUE rule only in its message, by its
    // columns: `UNIQUE constraint failed: users.email`.
    let on_email = matches!(&err, rusqlite::Error::SqliteFailure(_, Some(message))
        if message.strip_prefix("UNIQUE constraint failed: ") == Some("users.email"));
    Ok(if on_email { Collided::Email } else { Collided::Number })
}

fn get_user(conn: &Connection, id: UserId) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([id.0], user_from_row)
        .optional()
}

fn get_phone(conn: &Connection, id: PhoneId) -> rusqlite::Result<Option<Phone>> {
    conn.prepare_cached(&format!(
        "SELECT {PHONE_COLUMNS} FROM user_phone_mappings WHERE id = ?1"
    ))?
    .query_row([id.0], phone_from_row)
    .optional()
}

fn user_exists(conn: &Connection, id: UserId) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)")?
        .query_row([id.0], |r| r.get(0))
}

/// Makes `phone` its user's only primary extra number.
fn demote_others(conn: &Connection, user: UserId, phone: PhoneId) -> rusqlite::Result<()> {
    conn.execute(
        &format!("UPDATE user_phone_mappings SET is_primary = 0, updated_at = {NOW} WHERE user_id = ?1 AND id != ?2 AND is_primary = 1"),
        params![user.0, phone.0],
    )?;
    Ok(())
}

impl UserRegistry for SqliteStore {
    async fn create_user(&self, user: NewUser) -> Result<User, CreateError> {
        let (email, number) = (user.email.clone(), user.phone_number.clone());
        let created = self
            .run(move |conn| {
                // A transaction makes a failed commit an error: `query_row`
                // does not report one from an autocommit RETURNING.
                let tx = conn.transaction()?;
                let result = tx.query_row(
                    &format!(
                        "INSERT INTO users (full_name, email, phone_number, is_active, agent_url, agent_token)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         RETURNING {USER_COLUMNS}"
                    ),
                    params![
                        user.full_name.as_ref(),
                        user.email.as_ref().map(AsRef::<str>::as_ref),
                        user.phone_number.as_ref().map(ToString::to_string),
                        user.is_active,
                        user.agent.as_ref().map(|a| a.url.as_str()),
                        user.agent.as_ref().and_then(|a| a.token.as_ref()).map(|t| t.expose()),
                    ],
                    user_from_row,
                );
                match result {
                    Ok(user) => {
                        tx.commit()?;
                        Ok(Ok(user))
                    }
                    Err(e) => collision(e).map(Err),
                }
            })
            .await?;
        match created {
            Ok(user) => Ok(user),
            Err(collided) => Err(CreateError::Taken(collided.taken(email.as_ref(), number.as_ref())?)),
        }
    }

    async fn get_user(&self, id: UserId) -> Result<User, Missing> {
        self.run(move |conn| Ok(get_user(conn, id)?))
            .await?
            .ok_or(Missing::NotFound)
    }

    async fn list_users(&self, filter: UserFilter, page: PageRequest) -> Result<Page<User>, StoreError> {
        let rows = self
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users
                     WHERE id > ?1
                       AND (?2 IS NULL OR phone_number = ?2
                            OR id IN (SELECT user_id FROM user_phone_mappings WHERE phone_number = ?2))
                       AND (?3 IS NULL OR email = ?3)
                       AND (?4 IS NULL OR is_active = ?4)
                       AND (?6 IS NULL OR instr(lower(full_name), lower(?6)) > 0)
                     ORDER BY id LIMIT ?5"
                ))?;
                let rows = stmt
                    .query_map(
                        params![
                            page.after.unwrap_or(0),
                            filter.phone_number.as_ref().map(ToString::to_string),
                            filter.email.as_ref().map(|e| e.as_ref().to_owned()),
                            filter.is_active,
                            i64::from(page.limit) + 1,
                            filter.name.as_ref().map(|n| n.as_ref().to_owned()),
                        ],
                        user_from_row,
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        Ok(Page::from_rows(rows, page.limit, |u| u.id.0))
    }

    async fn update_user(&self, id: UserId, patch: UserPatch) -> Result<User, ChangeError> {
        let email = patch.email.clone().flatten();
        let number = patch.phone_number.clone().flatten();
        let updated = self
            .run(move |conn| {
                let tx = conn.transaction()?;
                let Some(user) = get_user(&tx, id)? else {
                    return Ok(Err(None));
                };
                let result = tx.query_row(
                    &format!(
                        "UPDATE users SET full_name = ?2, email = ?3, phone_number = ?4, is_active = ?5,
                            agent_url = CASE WHEN ?6 THEN ?7 ELSE agent_url END,
                            agent_token = CASE WHEN ?8 THEN ?9 WHEN ?6 AND ?7 IS NULL THEN NULL ELSE agent_token END,
                            updated_at = {NOW}
                         WHERE id = ?1 RETURNING {USER_COLUMNS}"
                    ),
                    params![
                        id.0,
                        patch.full_name.as_ref().map_or(user.full_name.as_str(), |n| n.as_ref()),
                        patch.email.map_or(user.email, |e| e.map(|e| e.as_ref().to_owned())),
                        patch
                            .phone_number
                            .map_or(user.phone_number, |n| n)
                            .map(|n| n.to_string()),
                        patch.is_active.unwrap_or(user.is_active),
                        patch.agent_url.is_some(),
                        patch.agent_url.as_ref().and_then(|u| u.as_ref()).map(AgentUrl::as_str),
                        patch.agent_token.is_some(),
                        patch
                            .agent_token
                            .as_ref()
                            .and_then(|t| t.as_ref())
                            .map(AgentToken::expose),
                    ],
                    user_from_row,
                );
                match result {
                    Ok(user) => {
                        tx.commit()?;
                        Ok(Ok(user))
                    }
                    Err(e) => collision(e).map(|c| Err(Some(c))),
                }
            })
            .await?;
        match updated {
            Ok(user) => Ok(user),
            Err(None) => Err(ChangeError::NotFound),
            Err(Some(collided)) => Err(ChangeError::Taken(collided.taken(email.as_ref(), number.as_ref())?)),
        }
    }

    async fn delete_user(&self, id: UserId) -> Result<(), Missing> {
        let deleted = self
            .run(move |conn| Ok(conn.execute("DELETE FROM users WHERE id = ?1", [id.0])?))
            .await?;
        if deleted == 0 { Err(Missing::NotFound) } else { Ok(()) }
    }

    async fn list_phones(&self, user: UserId, page: PageRequest) -> Result<Page<Phone>, Missing> {
        let rows = self
            .run(move |conn| {
                if !user_exists(conn, user)? {
                    return Ok(None);
                }
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {PHONE_COLUMNS} FROM user_phone_mappings WHERE user_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
                ))?;
                let rows = stmt
                    .query_map(params![user.0, page.after.unwrap_or(0), i64::from(page.limit) + 1], phone_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some(rows))
            })
            .await?
            .ok_or(Missing::NotFound)?;
        Ok(Page::from_rows(rows, page.limit, |p| p.id.0))
    }

    async fn add_phone(&self, user: UserId, phone: NewPhone) -> Result<Phone, ChangeError> {
        let number = phone.phone_number.clone();
        let added = self
            .run(move |conn| {
                let tx = conn.transaction()?;
                if !user_exists(&tx, user)? {
                    return Ok(Err(None));
                }
                if phone.is_primary {
                    tx.execute(
                        &format!("UPDATE user_phone_mappings SET is_primary = 0, updated_at = {NOW} WHERE user_id = ?1 AND is_primary = 1"),
                        [user.0],
                    )?;
                }
                let result = tx.query_row(
                    &format!(
                        "INSERT INTO user_phone_mappings (user_id, phone_number, is_primary, is_verified, verification_method)
                         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING {PHONE_COLUMNS}"
                    ),
                    params![
                        user.0,
                        phone.phone_number.to_string(),
                        phone.is_primary,
                        phone.is_verified,
                        phone.verification_method.map(VerificationMethod::name),
                    ],
                    phone_from_row,
                );
                match result {
                    Ok(phone) => {
                        tx.commit()?;
                        Ok(Ok(phone))
                    }
                    // Only the number is unique here, whichever rule says so.
                    Err(e) => collision(e).map(|_| Err(Some(Collided::Number))),
                }
            })
            .await?;
        match added {
            Ok(phone) => Ok(phone),
            Err(None) => Err(ChangeError::NotFound),
            Err(Some(collided)) => Err(ChangeError::Taken(collided.taken(None, Some(&number))?)),
        }
    }

    async fn get_phone(&self, id: PhoneId) -> Result<Phone, Missing> {
        self.run(move |conn| Ok(get_phone(conn, id)?))
            .await?
            .ok_or(Missing::NotFound)
    }

    async fn update_phone(&self, id: PhoneId, patch: PhonePatch) -> Result<Phone, Missing> {
        self.run(move |conn| {
            let tx = conn.transaction()?;
            let Some(phone) = get_phone(&tx, id)? else {
                return Ok(Err(Missing::NotFound));
            };
            let is_primary = patch.is_primary.unwrap_or(phone.is_primary);
            if is_primary {
                demote_others(&tx, phone.user_id, id)?;
            }
            let updated = tx.query_row(
                &format!(
                    "UPDATE user_phone_mappings SET is_primary = ?2, is_verified = ?3, verification_method = ?4, updated_at = {NOW}
                     WHERE id = ?1 RETURNING {PHONE_COLUMNS}"
                ),
                params![
                    id.0,
                    is_primary,
                    patch.is_verified.unwrap_or(phone.is_verified),
                    patch.verification_method.unwrap_or(phone.verification_method).map(VerificationMethod::name),
                ],
                phone_from_row,
            )?;
            tx.commit()?;
            Ok(Ok(updated))
        })
        .await?
    }

    async fn delete_phone(&self, id: PhoneId) -> Result<(), Missing> {
        let deleted = self
            .run(move |conn| Ok(conn.execute("DELETE FROM user_phone_mappings WHERE id = ?1", [id.0])?))
            .await?;
        if deleted == 0 { Err(Missing::NotFound) } else { Ok(()) }
    }

    async fn owner_of(&self, number: &PhoneNumber) -> Result<Option<(User, NumberSource)>, StoreError> {
        let number = number.to_string();
        self.run(move |conn| {
            let primary = conn
                .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE phone_number = ?1"))?
                .query_row([&number], user_from_row)
                .optional()?;
            if let Some(user) = primary {
                return Ok(Some((user, NumberSource::Primary)));
            }
            let mapped = conn
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users
                         WHERE id = (SELECT user_id FROM user_phone_mappings WHERE phone_number = ?1)"
                ))?
                .query_row([&number], user_from_row)
                .optional()?;
            Ok(mapped.map(|user| (user, NumberSource::Mapping)))
        })
        .await
    }
}
