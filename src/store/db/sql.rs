//! The few things the store asks of a SQL database, for SQLite (rusqlite)
//! and PostgreSQL (postgres) alike, so the cases and the chain are written
//! once (docs/store.md, *Schema*).
//!
//! Statements are written with PostgreSQL's `$1, $2, …` placeholders; for
//! SQLite they become `?1, ?2, …` (the same numbering). Integers are 64-bit
//! (`BIGINT`), text is UTF-8 (`TEXT`).

use rusqlite::types::ValueRef;

use crate::store::StoreError;

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    /// A 64-bit integer, or NULL.
    Int(Option<i64>),
    /// Text, or NULL.
    Text(Option<&'a str>),
}

/// A column value read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// NULL.
    Null,
    /// A 64-bit integer.
    Int(i64),
    /// Text.
    Text(String),
}

impl Value {
    /// The integer, `None` for NULL or text.
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }
    /// The text, `None` for NULL or an integer.
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    /// The text, taken out.
    pub fn into_text(self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// A connection or transaction of either database. Errors are
/// [`StoreError::Database`] naming `what` was being done.
pub trait Sql {
    /// Runs a statement; returns the rows it changed.
    fn exec(&mut self, what: &str, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError>;

    /// Runs a query and hands each row to `row` as it arrives (memory stays
    /// flat however many rows there are); `row` may stop the query with an
    /// error.
    fn each(
        &mut self,
        what: &str,
        sql: &str,
        params: &[Param<'_>],
        row: &mut dyn FnMut(Vec<Value>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// The first row of a query, if any.
    fn first(
        &mut self,
        what: &str,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Option<Vec<Value>>, StoreError> {
        let mut found = None;
        self.each(what, sql, params, &mut |r| {
            if found.is_none() {
                found = Some(r);
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// The first column of the first row, if any row.
    fn value(
        &mut self,
        what: &str,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Option<Value>, StoreError> {
        Ok(self
            .first(what, sql, params)?
            .and_then(|r| r.into_iter().next()))
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Database {
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// `$1` → `?1`: SQLite's spelling of the same numbered parameter.
fn sqlite_placeholders(sql: &str) -> std::borrow::Cow<'_, str> {
    if sql.contains('$') {
        sql.replace('$', "?").into()
    } else {
        sql.into()
    }
}

/// SQLite through rusqlite: a connection, or a transaction (which derefs to one).
pub struct Sqlite<'c>(pub &'c rusqlite::Connection);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Param::Int(n) => n.to_sql(),
            Param::Text(t) => t.to_sql(),
        }
    }
}

impl Sql for Sqlite<'_> {
    fn exec(&mut self, what: &str, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let mut stmt = self
            .0
            .prepare_cached(&sqlite_placeholders(sql))
            .map_err(|e| failed(what, e))?;
        stmt.execute(rusqlite::params_from_iter(params.iter()))
            .map(|n| n as u64)
            .map_err(|e| failed(what, e))
    }

    fn each(
        &mut self,
        what: &str,
        sql: &str,
        params: &[Param<'_>],
        row: &mut dyn FnMut(Vec<Value>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self
            .0
            .prepare_cached(&sqlite_placeholders(sql))
            .map_err(|e| failed(what, e))?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(|e| failed(what, e))?;
        while let Some(r) = rows.next().map_err(|e| failed(what, e))? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match r.get_ref(i).map_err(|e| failed(what, e))? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Real(f) => Value::Int(f as i64),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        // Valid UTF-8 (all we write) is copied as it is;
                        // the lossy path only for anything else.
                        Value::Text(match std::str::from_utf8(t) {
                            Ok(text) => text.to_owned(),
                            Err(_) => String::from_utf8_lossy(t).into_owned(),
                        })
                    }
                });
            }
            row(values)?;
        }
        Ok(())
    }
}

/// PostgreSQL through the `postgres` crate: a client or a transaction.
pub struct Postgres<'c, C: postgres::GenericClient>(pub &'c mut C);

fn pg_params<'a>(params: &'a [Param<'a>]) -> Vec<&'a (dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::Int(n) => n as &(dyn postgres::types::ToSql + Sync),
            Param::Text(t) => t as &(dyn postgres::types::ToSql + Sync),
        })
        .collect()
}

impl<C: postgres::GenericClient> Sql for Postgres<'_, C> {
    fn exec(&mut self, what: &str, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        self.0
            .execute(sql, &pg_params(params))
            .map_err(|e| failed(what, pg_message(&e)))
    }

    fn each(
        &mut self,
        what: &str,
        sql: &str,
        params: &[Param<'_>],
        row: &mut dyn FnMut(Vec<Value>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        use postgres::fallible_iterator::FallibleIterator;
        use postgres::types::Type;
        let args = pg_params(params);
        let mut rows = self
            .0
            .query_raw(sql, args.iter().copied())
            .map_err(|e| failed(what, pg_message(&e)))?;
        while let Some(r) = rows.next().map_err(|e| failed(what, pg_message(&e)))? {
            let mut values = Vec::with_capacity(r.len());
            for (i, column) in r.columns().iter().enumerate() {
                let v = match *column.type_() {
                    Type::INT8 => r.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int)),
                    Type::INT4 => r
                        .try_get::<_, Option<i32>>(i)
                        .map(|v| v.map(|n| Value::Int(n.into()))),
                    Type::BOOL => r
                        .try_get::<_, Option<bool>>(i)
                        .map(|v| v.map(|b| Value::Int(b.into()))),
                    _ => r
                        .try_get::<_, Option<String>>(i)
                        .map(|v| v.map(Value::Text)),
                }
                .map_err(|e| failed(what, pg_message(&e)))?;
                values.push(v.unwrap_or(Value::Null));
            }
            row(values)?;
        }
        Ok(())
    }
}

/// A PostgreSQL error with the server's own message when there is one.
pub fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}
