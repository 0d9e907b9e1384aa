//! Users and their extra numbers in PostgreSQL. A number's uniqueness across
//! both tables is kept by the schema (`sms_numbers_taken`); changes to one
//! user's numbers are serialized by locking the user's row.
//!
//! Over 300 lines: the registry port's eleven operations, each a statement or a
//! short transaction; split by table they would part the rule they share (a
//! number belongs to one user across both tables).

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{PgStore, broken_unique, failed, stamp};
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

/// Numbers are stored in E.164 (the schema checks their shape); one that
/// does not read back is shown as absent.
fn stored_number(text: Option<String>) -> Option<PhoneNumber> {
    text.and_then(|t| PhoneNumber::from_stored(&t).ok())
}

fn user_from_row(row: &Row) -> User {
    User {
        id: UserId(row.get(0)),
        full_name: row.get(1),
        email: row.get(2),
        phone_number: stored_number(row.get(3)),
        is_active: row.get(4),
        created_at: stamp(row.get::<_, DateTime<Utc>>(5)),
        updated_at: stamp(row.get::<_, DateTime<Utc>>(6)),
        agent_url: row.get::<_, Option<&str>>(7).and_then(|u| AgentUrl::parse(u).ok()),
        has_agent_token: row.get(8),
    }
}

pub(super) fn phone_from_row(row: &Row) -> Result<Phone, StoreError> {
    let number: String = row.get(2);
    Ok(Phone {
        id: PhoneId(row.get(0)),
        user_id: UserId(row.get(1)),
        phone_number: stored_number(Some(number))
            .ok_or_else(|| StoreError::new("a stored extra number is not in E.164"))?,
        is_primary: row.get(3),
        is_verified: row.get(4),
        verification_method: row.get::<_, Option<&str>>(5).and_then(VerificationMethod::parse),
        created_at: stamp(row.get::<_, DateTime<Utc>>(6)),
        updated_at: stamp(row.get::<_, DateTime<Utc>>(7)),
    })
}

/// A write's failure in the registry's words: a broken uniqueness rule names
/// the value that collided; anything else is the store's failure.
fn taken_or_failed(
    err: tokio_postgres::Error,
    email: Option<&EmailAddress>,
    number: Option<&PhoneNumber>,
) -> Result<Taken, StoreError> {
    match (broken_unique(&err), email, number) {
        (Some("users_email"), Some(email), _) => Ok(Taken::Email(email.clone())),
        (Some(_), _, Some(number)) => Ok(Taken::Number(number.clone())),
        _ => Err(failed("failed to write users or numbers")(err)),
    }
}

impl UserRegistry for PgStore {
    async fn create_user(&self, user: NewUser) -> Result<User, CreateError> {
        let client = self.client().await?;
        let created = client
            .query_one(
                &format!(
                    "INSERT INTO users (full_name, email, phone_number, is_active, agent_url, agent_token)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     RETURNING {USER_COLUMNS}"
                ),
                &[
                    &user.full_name.as_ref(),
                    &user.email.as_ref().map(AsRef::<str>::as_ref),
                    &user.phone_number.as_ref().map(AsRef::<str>::as_ref),
                    &user.is_active,
                    &user.agent.as_ref().map(|a| a.url.as_str()),
                    &user.agent.as_ref().and_then(|a| a.token.as_ref()).map(|t| t.expose()),
                ],
            )
            .await;
        match created {
            Ok(row) => Ok(user_from_row(&row)),
            Err(e) => Err(CreateError::Taken(taken_or_failed(
                e,
                user.email.as_ref(),
                user.phone_number.as_ref(),
            )?)),
        }
    }

    async fn get_user(&self, id: UserId) -> Result<User, Missing> {
        let client = self.client().await?;
        let row = client
            .query_opt(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"), &[&id.0])
            .await
            .map_err(failed("failed to read a user"))?;
        row.map(|r| user_from_row(&r)).ok_or(Missing::NotFound)
    }

    async fn list_users(&self, filter: UserFilter, page: PageRequest) -> Result<Page<User>, StoreError> {
        let client = self.client().await?;
        let number = filter.phone_number.as_ref().map(AsRef::<str>::as_ref);
        let email = filter.email.as_ref().map(AsRef::<str>::as_ref);
        let name = filter.name.as_ref().map(AsRef::<str>::as_ref);
        let params: [&(dyn ToSql + Sync); 6] = [
            &page.after.unwrap_or(0),
            &number,
            &email,
            &filter.is_active,
            &(i64::from(page.limit) + 1),
            &name,
        ];
        let rows = client
            .query(
                &format!(
                    "SELECT {USER_COLUMNS} FROM users
                     WHERE id > $1
                       AND ($2::text IS NULL OR phone_number = $2
                            OR id IN (SELECT user_id FROM user_phone_mappings WHERE phone_number = $2))
                       AND ($3::text IS NULL OR lower(email) = lower($3))
                       AND ($4::boolean IS NULL OR is_active = $4)
                       AND ($6::text IS NULL OR strpos(lower(full_name), lower($6)) > 0)
                     ORDER BY id LIMIT $5"
                ),
                &params,
            )
            .await
            .map_err(failed("failed to list users"))?;
        let users = rows.iter().map(user_from_row).collect();
        Ok(Page::from_rows(users, page.limit, |u| u.id.0))
    }

    async fn update_user(&self, id: UserId, patch: UserPatch) -> Result<User, ChangeError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed("failed to begin"))?;
        let Some(row) = tx
            .query_opt(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE"),
                &[&id.0],
            )
            .await
            .map_err(failed("failed to read a user"))?
        else {
            return Err(ChangeError::NotFound);
        };
        let user = user_from_row(&row);
        let email = patch.email.clone().flatten();
        let number = patch.phone_number.clone().flatten();
        let updated = tx
            .query_one(
                &format!(
                    "UPDATE users SET full_name = $2, email = $3, phone_number = $4, is_active = $5,
                        agent_url = CASE WHEN $6 THEN $7 ELSE agent_url END,
                        agent_token = CASE WHEN $8 THEN $9 WHEN $6 AND $7::text IS NULL THEN NULL ELSE agent_token END,
                        updated_at = now()
                     WHERE id = $1 RETURNING {USER_COLUMNS}"
                ),
                &[
                    &id.0,
                    &patch.full_name.as_ref().map_or(user.full_name.as_str(), |n| n.as_ref()),
                    &patch.email.map_or(user.email, |e| e.map(|e| e.as_ref().to_owned())),
                    &patch
                        .phone_number
                        .map_or(user.phone_number, |n| n)
                        .map(|n| n.as_ref().to_owned()),
                    &patch.is_active.unwrap_or(user.is_active),
                    &patch.agent_url.is_some(),
                    &patch.agent_url.as_ref().and_then(|u| u.as_ref()).map(AgentUrl::as_str),
                    &patch.agent_token.is_some(),
                    &patch
                        .agent_token
                        .as_ref()
                        .and_then(|t| t.as_ref())
                        .map(AgentToken::expose),
                ],
            )
            .await;
        match updated {
            Ok(row) => {
                tx.commit().await.map_err(failed("failed to commit a user"))?;
                Ok(user_from_row(&row))
            }
            Err(e) => Err(ChangeError::Taken(taken_or_failed(e, email.as_ref(), number.as_ref())?)),
        }
    }

    async fn delete_user(&self, id: UserId) -> Result<(), Missing> {
        let client = self.client().await?;
        let deleted = client
            .execute("DELETE FROM users WHERE id = $1", &[&id.0])
            .await
            .map_err(failed("failed to delete a user"))?;
        if deleted == 0 { Err(Missing::NotFound) } else { Ok(()) }
    }

    async fn list_phones(&self, user: UserId, page: PageRequest) -> Result<Page<Phone>, Missing> {
        let client = self.client().await?;
        let exists: bool = client
            .query_one("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", &[&user.0])
            .await
            .map_err(failed("failed to read a user"))?
            .get(0);
        if !exists {
            return Err(Missing::NotFound);
        }
        let rows = client
            .query(
                &format!(
                    "SELECT {PHONE_COLUMNS} FROM user_phone_mappings WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3"
                ),
                &[&user.0, &page.after.unwrap_or(0), &(i64::from(page.limit) + 1)],
            )
            .await
            .map_err(failed("failed to list numbers"))?;
        let phones = rows.iter().map(phone_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(phones, page.limit, |p| p.id.0))
    }

    async fn add_phone(&self, user: UserId, phone: NewPhone) -> Result<Phone, ChangeError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed("failed to begin"))?;
        let locked = tx
            .query_opt("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&user.0])
            .await
            .map_err(failed("failed to read a user"))?;
        if locked.is_none() {
            return Err(ChangeError::NotFound);
        }
        if phone.is_primary {
            tx.execute(
                "UPDATE user_phone_mappings SET is_primary = FALSE, updated_at = now() WHERE user_id = $1 AND is_primary",
                &[&user.0],
            )
            .await
            .map_err(failed("failed to demote a primary number"))?;
        }
        let added = tx
            .query_one(
                &format!(
                    "INSERT INTO user_phone_mappings (user_id, phone_number, is_primary, is_verified, verification_method)
                     VALUES ($1, $2, $3, $4, $5) RETURNING {PHONE_COLUMNS}"
                ),
                &[
                    &user.0,
                    &phone.phone_number.as_ref(),
                    &phone.is_primary,
                    &phone.is_verified,
                    &phone.verification_method.map(VerificationMethod::name),
                ],
            )
            .await;
        match added {
            Ok(row) => {
                let added = phone_from_row(&row)?;
                tx.commit().await.map_err(failed("failed to commit a number"))?;
                Ok(added)
            }
            // Only the number is unique here, whichever rule says so.
            Err(e) => Err(ChangeError::Taken(taken_or_failed(e, None, Some(&phone.phone_number))?)),
        }
    }

    async fn get_phone(&self, id: PhoneId) -> Result<Phone, Missing> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {PHONE_COLUMNS} FROM user_phone_mappings WHERE id = $1"),
                &[&id.0],
            )
            .await
            .map_err(failed("failed to read a number"))?;
        Ok(phone_from_row(&row.ok_or(Missing::NotFound)?)?)
    }

    async fn update_phone(&self, id: PhoneId, patch: PhonePatch) -> Result<Phone, Missing> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed("failed to begin"))?;
        // The owner's row first: changes to one user's numbers go one at a
        // time, so that two cannot both become primary.
        let row = tx
            .query_opt(
                "SELECT m.user_id FROM user_phone_mappings m JOIN users u ON u.id = m.user_id
                 WHERE m.id = $1 FOR UPDATE OF u, m",
                &[&id.0],
            )
            .await
            .map_err(failed("failed to read a number"))?
            .ok_or(Missing::NotFound)?;
        let user: i64 = row.get(0);
        if patch.is_primary == Some(true) {
            tx.execute(
                "UPDATE user_phone_mappings SET is_primary = FALSE, updated_at = now()
                 WHERE user_id = $1 AND id != $2 AND is_primary",
                &[&user, &id.0],
            )
            .await
            .map_err(failed("failed to demote a primary number"))?;
        }
        let method_given = patch.verification_method.is_some();
        let method = patch.verification_method.flatten().map(VerificationMethod::name);
        let updated = tx
            .query_one(
                &format!(
                    "UPDATE user_phone_mappings SET
                        is_primary = coalesce($2, is_primary),
                        is_verified = coalesce($3, is_verified),
                        verification_method = CASE WHEN $4 THEN $5 ELSE verification_method END,
                        updated_at = now()
                     WHERE id = $1 RETURNING {PHONE_COLUMNS}"
                ),
                &[&id.0, &patch.is_primary, &patch.is_verified, &method_given, &method],
            )
            .await
            .map_err(failed("failed to update a number"))?;
        let phone = phone_from_row(&updated)?;
        tx.commit().await.map_err(failed("failed to commit a number"))?;
        Ok(phone)
    }

    async fn delete_phone(&self, id: PhoneId) -> Result<(), Missing> {
        let client = self.client().await?;
        let deleted = client
            .execute("DELETE FROM user_phone_mappings WHERE id = $1", &[&id.0])
            .await
            .map_err(failed("failed to delete a number"))?;
        if deleted == 0 { Err(Missing::NotFound) } else { Ok(()) }
    }

    async fn owner_of(&self, number: &PhoneNumber) -> Result<Option<(User, NumberSource)>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {USER_COLUMNS}, TRUE FROM users WHERE phone_number = $1
                     UNION ALL
                     SELECT {USER_COLUMNS}, FALSE FROM users
                     WHERE id = (SELECT user_id FROM user_phone_mappings WHERE phone_number = $1)
                     LIMIT 1"
                ),
                &[&number.as_ref()],
            )
            .await
            .map_err(failed("failed to look up a number"))?;
        Ok(row.map(|row| {
            // The flag after the user's columns.
            let source = if row.get(9) {
                NumberSource::Primary
            } else {
                NumberSource::Mapping
            };
            (user_from_row(&row), source)
        }))
    }
}
