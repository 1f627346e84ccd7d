//! `django.contrib.sessions.backends.db`: the `django_session` table.
//!
//! Rows are `(session_key, session_data, expire_date)` with `session_data` the signed, compressed JSON of
//! `SessionBase.encode`. Django's update is `UPDATE … WHERE session_key = %s` (zero rows: `UpdateError`);
//! here it also requires `session_data` to be the text that was loaded and the row not to have expired, so
//! a concurrent writer is detected and a deleted or expired session is never written again.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{Raw, SessionBackend, Stored, Update, corrupted};
use crate::connections::{Database, StoreError};
use crate::schema::django_session as ds;
use crate::session::{self, Expiry, SessionData};
use crate::signing::Keys;

/// Sessions in `django_session`, signed with `SECRET_KEY` and verified with its fallbacks too.
#[derive(Clone, Debug)]
pub struct DbSessions {
    db: Database,
    keys: Keys,
}

/// A live row: the session, and the `expire_date` `cached_db` refills its cache with.
pub(crate) struct Row {
    pub stored: Stored,
    pub expire_date: DateTime<Utc>,
}

impl DbSessions {
    /// The `db` engine on `db`'s pool, encoding with `keys` (`SECRET_KEY`, then its fallbacks to verify).
    pub fn new(db: Database, keys: Keys) -> DbSessions {
        DbSessions { db, keys }
    }

    /// The PostgreSQL pool the `django_session` rows are read and written through.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// `_get_session_from_db()`: the row if it has not expired. A row that fails to decode is Django's
    /// "Session data corrupted": the session keeps its key with an empty dict.
    pub(crate) async fn load_row(&self, session_key: &str) -> Result<Option<Row>, StoreError> {
        let key = session_key.to_string();
        let now = Utc::now();
        let row: Option<(String, DateTime<Utc>)> = self
            .db
            .run(move |conn| {
                Box::pin(async move {
                    ds::table
                        .filter(ds::session_key.eq(key))
                        .filter(ds::expire_date.gt(now))
                        .select((ds::session_data, ds::expire_date))
                        .first(conn)
                        .await
                        .optional()
                })
            })
            .await?;
        Ok(row.map(|(text, expire_date)| {
            let data = match session::decode_db(&text, &self.keys) {
                Ok((data, _which)) => data,
                Err(e) => {
                    corrupted("db", &e);
                    SessionData::new()
                }
            };
            Row {
                stored: Stored {
                    data,
                    raw: Raw::Text(text),
                    expire_date: Some(expire_date),
                },
                expire_date,
            }
        }))
    }

    fn encode(&self, data: &SessionData) -> Result<String, StoreError> {
        Ok(session::encode_db(data, &self.keys)?)
    }
}

impl SessionBackend for DbSessions {
    async fn load(&self, session_key: &str) -> Result<Option<Stored>, StoreError> {
        Ok(self.load_row(session_key).await?.map(|row| row.stored))
    }

    /// `save(must_create=True)`: an `INSERT`; a taken key (even an expired row's) is a collision.
    async fn create(
        &self,
        session_key: &str,
        data: &SessionData,
        expiry: &Expiry,
    ) -> Result<Option<Stored>, StoreError> {
        let text = self.encode(data)?;
        let (key, value, date) = (session_key.to_string(), text.clone(), expiry.date);
        let inserted = self
            .db
            .run(move |conn| {
                Box::pin(async move {
                    diesel::insert_into(ds::table)
                        .values((
                            ds::session_key.eq(key),
                            ds::session_data.eq(value),
                            ds::expire_date.eq(date),
                        ))
                        .on_conflict_do_nothing()
                        .execute(conn)
                        .await
                })
            })
            .await?;
        Ok((inserted == 1).then(|| Stored::new(data.clone(), Raw::Text(text))))
    }

    async fn update(
        &self,
        session_key: &str,
        expected: &Stored,
        data: &SessionData,
        expiry: &Expiry,
    ) -> Result<Update, StoreError> {
        // The text to compare with: what was loaded, or, for a session read from elsewhere (cached_db's
        // cache), the current row's if it still holds the same dict.
        let expected_text = match &expected.raw {
            Raw::Text(text) => text.clone(),
            Raw::Bytes(_) | Raw::Nothing => match SessionBackend::load(self, session_key).await? {
                None => return Ok(Update::Missing),
                Some(current) if current.data == expected.data => match current.raw {
                    Raw::Text(text) => text,
                    _ => return Ok(Update::Conflict(current)),
                },
                Some(current) => return Ok(Update::Conflict(current)),
            },
        };
        let text = self.encode(data)?;
        let (key, value, date, now) = (
            session_key.to_string(),
            text.clone(),
            expiry.date,
            Utc::now(),
        );
        let updated = self
            .db
            .run(move |conn| {
                Box::pin(async move {
                    diesel::update(
                        ds::table
                            .filter(ds::session_key.eq(key))
                            .filter(ds::session_data.eq(expected_text))
                            .filter(ds::expire_date.gt(now)),
                    )
                    .set((ds::session_data.eq(value), ds::expire_date.eq(date)))
                    .execute(conn)
                    .await
                })
            })
            .await?;
        if updated == 1 {
            return Ok(Update::Saved(Stored::new(data.clone(), Raw::Text(text))));
        }
        Ok(match SessionBackend::load(self, session_key).await? {
            Some(current) => Update::Conflict(current),
            None => Update::Missing,
        })
    }

    async fn delete(&self, session_key: &str) -> Result<bool, StoreError> {
        let key = session_key.to_string();
        let deleted = self
            .db
            .run(move |conn| {
                Box::pin(async move {
                    diesel::delete(ds::table.filter(ds::session_key.eq(key)))
                        .execute(conn)
                        .await
                })
            })
            .await?;
        Ok(deleted > 0)
    }

    /// Django's `exists` looks for the row, expired or not.
    async fn exists(&self, session_key: &str) -> Result<bool, StoreError> {
        let key = session_key.to_string();
        self.db
            .run(move |conn| {
                Box::pin(async move {
                    diesel::select(diesel::dsl::exists(
                        ds::table.filter(ds::session_key.eq(key)),
                    ))
                    .get_result(conn)
                    .await
                })
            })
            .await
    }

    /// `DELETE FROM django_session WHERE expire_date < now()` (`manage.py clearsessions`).
    async fn clear_expired(&self) -> Result<u64, StoreError> {
        let now = Utc::now();
        let deleted = self
            .db
            .run(move |conn| {
                Box::pin(async move {
                    diesel::delete(ds::table.filter(ds::expire_date.lt(now)))
                        .execute(conn)
                        .await
                })
            })
            .await?;
        Ok(deleted as u64)
    }
}
