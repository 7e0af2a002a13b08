//! Storage: SQLite (embedded default) or PostgreSQL, behind one handle.
//!
//! Queries are written once in the SQL both databases share and run through
//! sqlx's `Any` driver: ids are UUIDv7 text, times are `i64` microseconds,
//! money is `i64` fen, and `$1`-style placeholders work on both.
//!
//! SQLite allows one writer at a time; rather than let concurrent write
//! transactions fail with `SQLITE_BUSY`, all writes go through a pool of one
//! connection and reads use a separate pool. On PostgreSQL both are one pool.

use crate::config::Config;
use crate::error::{Error, Result};
use anyhow::Context;
use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Arguments, ConnectOptions, Executor};
use std::fmt::Write;
use std::str::FromStr;
use std::time::Duration;

pub type Tx = sqlx::Transaction<'static, Any>;
pub type Conn = sqlx::AnyConnection;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    backend: Backend,
    write: AnyPool,
    read: AnyPool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Db {
    /// Opens the database the configuration names (SQLite under the data dir by default).
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        match &config.database_url {
            Some(url) => Self::connect_url(url.expose()).await,
            None => {
                std::fs::create_dir_all(&config.data_dir).with_context(|| {
                    format!("cannot create data dir {}", config.data_dir.display())
                })?;
                let path = config.data_dir.join("cove.db");
                Self::connect_url(&format!("sqlite://{}?mode=rwc", path.display())).await
            }
        }
    }

    pub async fn connect_url(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        // Statements are not logged: a slow multi-row insert would log thousands of
        // placeholders, and statement text is no place to look for personal data.
        // Latency per route is in /metrics.
        let options = AnyConnectOptions::from_str(url)
            .context("invalid database URL")?
            .disable_statement_logging();
        if url.starts_with("sqlite:") {
            let pool = |max: u32| {
                AnyPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options.clone())
            };
            let write = pool(1).await.context("cannot open the SQLite database")?;
            let read = pool(8).await.context("cannot open the SQLite database")?;
            Ok(Self {
                backend: Backend::Sqlite,
                write,
                read,
            })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await
                .context("cannot connect to PostgreSQL")?;
            Ok(Self {
                backend: Backend::Postgres,
                write: pool.clone(),
                read: pool,
            })
        } else {
            anyhow::bail!("unsupported database URL: use sqlite:// or postgres://")
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Brings the schema up to date; safe to run on every start and from several nodes.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.write)
            .await
            .context("migration failed")?;
        Ok(())
    }

    /// The pool for writes and for reads that must see the latest writes.
    pub fn pool(&self) -> &AnyPool {
        &self.write
    }

    /// The pool for reads (listings, reports); on SQLite it never waits for the writer.
    pub fn read(&self) -> &AnyPool {
        &self.read
    }

    pub async fn begin(&self) -> Result<Tx> {
        Ok(self.write.begin().await?)
    }

    /// Row locking for claim queries: PostgreSQL skips rows other nodes hold;
    /// SQLite has a single writer, so there is nothing to skip.
    pub fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Is the database reachable right now?
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.read).await.is_ok()
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// A new time-ordered id (UUIDv7) as stored in the database.
/// The backend a connection talks to (for SQL that differs, such as row locks).
/// A PostgreSQL deadlock or serialization failure: the transaction was
/// aborted only because another ran beside it, and may simply be retried.
pub fn is_retryable(e: &crate::error::Error) -> bool {
    let crate::error::Error::Internal(cause) = e else {
        return false;
    };
    cause
        .downcast_ref::<sqlx::Error>()
        .and_then(|e| match e {
            sqlx::Error::Database(d) => d.code(),
            _ => None,
        })
        .is_some_and(|c| c == "40P01" || c == "40001")
}

pub fn backend_of(conn: &Conn) -> Backend {
    if conn.backend_name().eq_ignore_ascii_case("sqlite") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    }
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) fn bind_error(e: sqlx::error::BoxDynError) -> Error {
    Error::Internal(anyhow::anyhow!("cannot bind a value: {e}"))
}

// Statements whose SQL holds a list of values (`IN ($2, $3, …)`) are built
// per list length. On PostgreSQL they run unprepared, planned with their
// values: after five runs a prepared statement may switch to a generic plan,
// and one chosen while a table was small scans it whole once it has grown.
// SQLite plans alike either way and gains from its statement cache.

/// A statement with a list of values; see above.
pub(crate) fn list_query(
    backend: Backend,
    sql: &str,
) -> sqlx::query::Query<'_, Any, AnyArguments<'_>> {
    sqlx::query(sql).persistent(backend == Backend::Sqlite)
}

/// [`list_query`] returning one column.
pub(crate) fn list_query_scalar<O>(
    backend: Backend,
    sql: &str,
) -> sqlx::query::QueryScalar<'_, Any, O, AnyArguments<'_>>
where
    (O,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    sqlx::query_scalar(sql).persistent(backend == Backend::Sqlite)
}

/// [`list_query`] returning rows of `O`.
pub(crate) fn list_query_as<O>(
    backend: Backend,
    sql: &str,
) -> sqlx::query::QueryAs<'_, Any, O, AnyArguments<'_>>
where
    O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    sqlx::query_as(sql).persistent(backend == Backend::Sqlite)
}

/// PostgreSQL gets numbered placeholders; SQLite anonymous ones, which it
/// binds in order without looking names up (much faster in long statements).
/// `$from, $from+1, …` for `n` values: a list for `IN (…)` that both
/// databases bind by position.
pub(crate) fn numbered(from: usize, n: usize) -> String {
    let mut sql = String::new();
    for i in from..from + n {
        if i > from {
            sql.push_str(", ");
        }
        let _ = write!(sql, "${i}");
    }
    sql
}

pub(crate) fn push_placeholder(backend: Backend, sql: &mut String, n: usize) {
    match backend {
        Backend::Postgres => {
            let _ = write!(sql, "${n}");
        }
        Backend::Sqlite => sql.push('?'),
    }
}

/// A multi-row `INSERT … VALUES (…), (…)` being built: one statement for
/// many rows, with values bound as they are added.
pub struct Multi {
    backend: Backend,
    sql: String,
    args: AnyArguments<'static>,
    rows: usize,
    error: Option<sqlx::error::BoxDynError>,
}

pub struct RowBinder<'m> {
    multi: &'m mut Multi,
    first: bool,
}

impl RowBinder<'_> {
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'static + sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        if !self.first {
            self.multi.sql.push_str(", ");
        }
        self.first = false;
        if let Err(e) = self.multi.args.add(value) {
            self.multi.error.get_or_insert(e);
        }
        let n = self.multi.args.len();
        push_placeholder(self.multi.backend, &mut self.multi.sql, n);
        self
    }
}

impl Multi {
    pub fn new(backend: Backend, head: &str) -> Self {
        Multi {
            backend,
            sql: head.to_owned(),
            args: AnyArguments::default(),
            rows: 0,
            error: None,
        }
    }

    pub fn row(&mut self, bind: impl FnOnce(&mut RowBinder<'_>)) {
        if self.rows > 0 {
            self.sql.push_str(", ");
        }
        self.rows += 1;
        self.sql.push('(');
        let mut binder = RowBinder {
            multi: self,
            first: true,
        };
        bind(&mut binder);
        self.sql.push(')');
    }

    /// Runs the statement, whose `tail` ends in `RETURNING` one text column;
    /// returns that column for the rows written.
    pub async fn returning(self, conn: &mut Conn, tail: &str) -> Result<Vec<String>> {
        if self.rows == 0 {
            return Ok(Vec::new());
        }
        if let Some(e) = self.error {
            return Err(bind_error(e));
        }
        let sql = format!("{}{tail}", self.sql);
        Ok(sqlx::query_scalar_with(&sql, self.args)
            .fetch_all(&mut *conn)
            .await?)
    }

    /// Runs the statement (nothing when no row was added); returns rows affected.
    pub async fn execute(self, conn: &mut Conn, tail: &str) -> Result<u64> {
        if self.rows == 0 {
            return Ok(0);
        }
        if let Some(e) = self.error {
            return Err(bind_error(e));
        }
        let sql = format!("{}{tail}", self.sql);
        Ok(sqlx::query_with(&sql, self.args)
            .execute(&mut *conn)
            .await?
            .rows_affected())
    }
}
