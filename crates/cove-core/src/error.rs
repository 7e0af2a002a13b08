//! The one error type of the domain. Each variant carries a stable
//! machine-readable code; the HTTP edge maps variants to status codes.

use std::borrow::Cow;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is malformed or breaks a rule (400/422).
    #[error("{message}")]
    Invalid {
        code: Cow<'static, str>,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(Cow<'static, str>),
    /// The request conflicts with current state: duplicate, illegal transition (409).
    #[error("{message}")]
    Conflict {
        code: Cow<'static, str>,
        message: String,
    },
    #[error("sign-in required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    #[error("{message}")]
    RateLimited {
        code: &'static str,
        message: String,
        retry_after_secs: u64,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code: Cow::Borrowed(code),
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code: Cow::Borrowed(code),
            message: message.into(),
        }
    }

    pub fn not_found(what: &'static str) -> Self {
        Self::NotFound(Cow::Borrowed(what))
    }

    /// The stable code clients branch on.
    pub fn code(&self) -> Cow<'static, str> {
        match self {
            Error::Invalid { code, .. } | Error::Conflict { code, .. } => code.clone(),
            Error::NotFound(what) => Cow::Owned(format!("{}_not_found", what.replace(' ', "_"))),
            Error::Unauthenticated => Cow::Borrowed("unauthenticated"),
            Error::Forbidden(_) => Cow::Borrowed("forbidden"),
            Error::RateLimited { code, .. } => Cow::Borrowed(code),
            Error::Internal(_) => Cow::Borrowed("internal"),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return Error::conflict("duplicate", "a record with the same key already exists");
            }
        }
        Error::Internal(anyhow::Error::new(e))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(anyhow::Error::new(e))
    }
}
