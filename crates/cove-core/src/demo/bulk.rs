//! Multi-row inserts: many rows per statement, within the bind-parameter
//! limits of both databases (SQLite 32766, PostgreSQL 65535).

use crate::db::Tx;
use sqlx::query_builder::Separated;
use sqlx::{Any, QueryBuilder};

/// Bind parameters per statement, below SQLite's limit.
const MAX_PARAMS: usize = 30_000;

/// Inserts `rows` with `head` (`INSERT INTO t (a, b) `) and `columns` binds per
/// row, as few statements as the parameter limit allows.
pub async fn insert<'a, T>(
    tx: &mut Tx,
    head: &str,
    columns: usize,
    rows: &'a [T],
    mut bind: impl FnMut(&mut Separated<'_, 'a, Any, &'static str>, &'a T),
) -> anyhow::Result<()> {
    let per_statement = (MAX_PARAMS / columns.max(1)).max(1);
    for chunk in rows.chunks(per_statement) {
        let mut builder = QueryBuilder::<Any>::new(head);
        builder.push_values(chunk, |mut b, row| bind(&mut b, row));
        builder.build().execute(&mut **tx).await?;
    }
    Ok(())
}
