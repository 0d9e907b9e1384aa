//! Users and numbers in SQLite.

use anyhow::Context;
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, is_conflict};
use crate::domain::phone::{PhoneNumber, Region};
use crate::domain::user::{NewUser, NumberSource, Recipient, User, UserId};
use crate::ports::{CreateUserError, StoreError, UserDirectory};

const USER_COLUMNS: &str = "id, full_name, email, phone_number, is_active, created_at";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    let phone: Option<String> = row.get(3)?;
    Ok(User {
        id: UserId(row.get(0)?),
        full_name: row.get(1)?,
        email: row.get(2)?,
        // Stored numbers were E.164 when written; one that no longer parses
        // (older metadata) is shown as absent rather than failing the read.
        phone_number: phone.and_then(|p| PhoneNumber::parse(&p, Region::default()).ok()),
        is_active: row.get(4)?,
        created_at: row.get(5)?,
    })
}

impl UserDirectory for SqliteStore {
    async fn recipient(&self, number: &PhoneNumber) -> Result<Option<Recipient>, StoreError> {
        let number = number.to_string();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, is_active, 1 FROM users WHERE phone_number = ?1
                 UNION ALL
                 SELECT u.id, u.is_active, 0 FROM user_phone_mappings m JOIN users u ON u.id = m.user_id
                 WHERE m.phone_number = ?1
                 LIMIT 1",
            )?;
            let found = stmt
                .query_row([&number], |row| {
                    Ok(Recipient {
                        user_id: UserId(row.get(0)?),
                        is_active: row.get(1)?,
                        source: if row.get::<_, bool>(2)? {
                            NumberSource::Primary
                        } else {
                            NumberSource::Mapping
                        },
                    })
                })
                .optional()
                .context("failed to look up a number")?;
            Ok(found)
        })
        .await
    }

    async fn create_user(&self, user: NewUser) -> Result<User, CreateUserError> {
        let inserted = self
            .run(move |conn| {
                let result = conn.query_row(
                    &format!(
                        "INSERT INTO users (full_name, email, phone_number, is_active) VALUES (?1, ?2, ?3, ?4)
                         RETURNING {USER_COLUMNS}"
                    ),
                    params![
                        user.full_name.as_ref(),
                        user.email.as_ref().map(|e| e.as_ref().to_owned()),
                        user.phone_number.as_ref().map(ToString::to_string),
                        user.is_active
                    ],
                    user_from_row,
                );
                match result {
                    Ok(user) => Ok(Ok(user)),
                    Err(e) if is_conflict(&e) => Ok(Err(conflict_subject(&e, &user))),
                    Err(e) => Err(anyhow::Error::new(e).context("failed to create a user")),
                }
            })
            .await?;
        inserted.map_err(CreateUserError::Conflict)
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))?;
            let users = stmt.query_map([], user_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(users)
        })
        .await
    }

    async fn version(&self) -> Result<i64, StoreError> {
        self.run(|conn| {
            Ok(conn
                .prepare_cached("SELECT version FROM sms_directory_version WHERE id = 1")?
                .query_row([], |row| row.get(0))?)
        })
        .await
    }
}

/// Names what a conflicting insert collided on.
fn conflict_subject(err: &rusqlite::Error, user: &NewUser) -> String {
    let text = err.to_string();
    match (&user.email, &user.phone_number) {
        (Some(email), _) if text.contains("users.email") => format!("e-mail address {}", email.as_ref()),
        (_, Some(number)) => format!("phone number {number}"),
        _ => "a unique value".to_owned(),
    }
}
