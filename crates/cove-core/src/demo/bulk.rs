//! Multi-row inserts: many rows per statement, within the bind-parameter
//! limits of both databases (SQLite 32766, PostgreSQL 65535). PostgreSQL gets
//! numbered placeholders (`$1, $2, …`); SQLite gets anonymous ones (`?`),
//! because it looks numbered ones up by name, which is slow in long statements.

use crate::db::{Backend, Tx};
use sqlx::any::AnyArguments;
use sqlx::{Any, Arguments, Encode, Type};
use std::fmt::Write;

/// Bind parameters per statement: far below both limits, and small enough
/// that no single statement runs long.
const MAX_PARAMS: usize = 8_000;

/// One row of a multi-row insert being built.
pub struct Row<'b, 'a> {
    sql: &'b mut String,
    args: &'b mut AnyArguments<'a>,
    first: bool,
    numbered: bool,
    error: &'b mut Option<sqlx::error::BoxDynError>,
}

impl<'a> Row<'_, 'a> {
    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'a + Encode<'a, Any> + Type<Any>,
    {
        if !self.first {
            self.sql.push_str(", ");
        }
        self.first = false;
        if let Err(e) = self.args.add(value) {
            self.error.get_or_insert(e);
        }
        if self.numbered {
            let _ = write!(self.sql, "${}", self.args.len());
        } else {
            self.sql.push('?');
        }
        self
    }
}

/// Inserts `rows` with `head` (`INSERT INTO t (a, b) `) and `columns` binds per
/// row, in as few statements as the parameter limit allows.
pub async fn insert<'a, T>(
    backend: Backend,
    tx: &mut Tx,
    head: &str,
    columns: usize,
    rows: &'a [T],
    mut bind: impl FnMut(&mut Row<'_, 'a>, &'a T),
) -> anyhow::Result<()> {
    let per_statement = (MAX_PARAMS / columns.max(1)).max(1);
    for chunk in rows.chunks(per_statement) {
        let mut sql = String::with_capacity(head.len() + 8 + chunk.len() * columns * 8);
        sql.push_str(head);
        sql.push_str("VALUES ");
        let mut args = AnyArguments::default();
        args.reserve(chunk.len() * columns, 0);
        let mut error = None;
        for (i, item) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            let mut row = Row {
                sql: &mut sql,
                args: &mut args,
                first: true,
                numbered: backend == Backend::Postgres,
                error: &mut error,
            };
            bind(&mut row, item);
            sql.push(')');
        }
        if let Some(e) = error {
            anyhow::bail!("cannot bind a demo row: {e}");
        }
        sqlx::query_with(&sql, args).execute(&mut **tx).await?;
    }
    Ok(())
}
