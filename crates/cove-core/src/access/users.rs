//! Console users: creation, passwords (Argon2id) and sign-in with lockout and throttling.

use super::Role;
use crate::audit::{self, Actor};
use crate::clock::{self, Micros, MINUTE, SECOND};
use crate::config::AuthConfig;
use crate::db::{new_id, Db};
use crate::error::{Error, Result};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub store_id: Option<String>,
    pub reseller_id: Option<String>,
    pub locale: String,
    /// When the user was disabled; disabled users cannot sign in.
    pub disabled_at: Option<Micros>,
    pub created_at: Micros,
    pub last_login_at: Option<Micros>,
}

const USER_COLUMNS: &str =
    "id, email, name, role, store_id, reseller_id, locale, disabled_at, created_at, last_login_at";

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password: String,
    pub role: Role,
    pub store_id: Option<String>,
    pub reseller_id: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
}

pub(super) fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(Error::invalid(
            "invalid_email",
            "enter a valid email address",
        ))
    }
}

/// Hashes with Argon2id on a blocking thread (it is deliberately slow).
pub async fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < 10 {
        return Err(Error::invalid(
            "weak_password",
            "passwords need at least 10 characters",
        ));
    }
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(anyhow::anyhow!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(e.into()))?
}

async fn verify_password(password: &str, hash: Option<String>) -> bool {
    let password = password.to_owned();
    let exists = hash.is_some();
    tokio::task::spawn_blocking(move || {
        // Without a user, verify against a throwaway hash anyway so the
        // response time does not reveal which emails exist.
        let hash = hash.unwrap_or_else(|| {
            Argon2::default()
                .hash_password(b"no such user", &SaltString::generate(&mut OsRng))
                .map(|h| h.to_string())
                .unwrap_or_default()
        });
        let ok = PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        exists && ok
    })
    .await
    .unwrap_or(false)
}

pub async fn create_user(db: &Db, actor: &Actor, new: NewUser) -> Result<User> {
    let email = normalize_email(&new.email)?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid(
            "invalid_name",
            "a name of 1 to 100 characters is required",
        ));
    }
    match (new.role, &new.store_id, &new.reseller_id) {
        (Role::StoreStaff, None, _) => {
            return Err(Error::invalid("store_required", "store staff need a store"))
        }
        (Role::Reseller, _, None) => {
            return Err(Error::invalid(
                "reseller_required",
                "reseller users need a reseller",
            ))
        }
        _ => {}
    }
    let locale = match new.locale.as_deref() {
        None | Some("zh") => "zh",
        Some("en") => "en",
        Some(other) => {
            return Err(Error::invalid(
                "invalid_locale",
                format!("unknown locale '{other}' (zh or en)"),
            ))
        }
    };
    let hash = hash_password(&new.password).await?;
    let id = new_id();
    let now = clock::now();
    let mut tx = db.begin().await?;
    let store_id = if new.role.is_scoped() {
        new.store_id.clone()
    } else {
        None
    };
    let reseller_id = if new.role == Role::Reseller {
        new.reseller_id.clone()
    } else {
        None
    };
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, role, store_id, reseller_id, locale, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(&email)
    .bind(name)
    .bind(&hash)
    .bind(new.role.as_str())
    .bind(&store_id)
    .bind(&reseller_id)
    .bind(locale)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(|e| match Error::from(e) {
        Error::Conflict { .. } => Error::conflict("email_taken", format!("a user with email {email} already exists")),
        other => other,
    })?;
    audit::record(
        &mut tx,
        actor,
        "user.create",
        "user",
        Some(&id),
        serde_json::json!({ "email": email, "role": new.role }),
    )
    .await?;
    tx.commit().await?;
    get_user(db, &id).await
}

pub async fn get_user(db: &Db, id: &str) -> Result<User> {
    sqlx::query_as::<_, User>(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(Error::not_found("user"))
}

pub async fn list_users(db: &Db) -> Result<Vec<User>> {
    Ok(sqlx::query_as::<_, User>(&format!(
        "SELECT {USER_COLUMNS} FROM users ORDER BY role, email"
    ))
    .fetch_all(db.read())
    .await?)
}

/// Sets a new password (and clears any lockout).
pub async fn set_password(db: &Db, actor: &Actor, user_id: &str, password: &str) -> Result<()> {
    let hash = hash_password(password).await?;
    let mut tx = db.begin().await?;
    let n = sqlx::query(
        "UPDATE users SET password_hash = $1, failed_logins = 0, locked_until = NULL WHERE id = $2",
    )
    .bind(hash)
    .bind(user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::not_found("user"));
    }
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        "user.password_set",
        "user",
        Some(user_id),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

const IP_WINDOW: Micros = 15 * MINUTE;
const IP_MAX_FAILURES: i64 = 30;

/// Checks a sign-in. Repeated failures lock the account for a while, and
/// many failures from one address throttle that address, on every node.
pub async fn authenticate(
    db: &Db,
    cfg: &AuthConfig,
    email: &str,
    password: &str,
    ip: &str,
) -> Result<User> {
    let now = clock::now();
    let window = now - now.rem_euclid(IP_WINDOW);
    let ip_failures: Option<i64> = sqlx::query_scalar(
        "SELECT failures FROM login_failures WHERE ip = $1 AND window_start = $2",
    )
    .bind(ip)
    .bind(window)
    .fetch_optional(db.pool())
    .await?;
    if ip_failures.unwrap_or(0) >= IP_MAX_FAILURES {
        return Err(Error::RateLimited {
            code: "too_many_attempts",
            message: "too many failed sign-ins from this address; try again later".into(),
            retry_after_secs: ((window + IP_WINDOW - now) / SECOND).max(1) as u64,
        });
    }
    let email = email.trim().to_lowercase();
    let row: Option<(String, String, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT id, password_hash, disabled_at, locked_until FROM users WHERE email = $1",
    )
    .bind(&email)
    .fetch_optional(db.pool())
    .await?;
    if let Some((_, _, _, Some(until))) = &row {
        if *until > now {
            return Err(Error::RateLimited {
                code: "account_locked",
                message: "this account is locked after repeated failed sign-ins; try again later"
                    .into(),
                retry_after_secs: ((until - now) / SECOND).max(1) as u64,
            });
        }
    }
    let ok = verify_password(password, row.as_ref().map(|r| r.1.clone())).await;
    let mut tx = db.begin().await?;
    match row {
        Some((id, _, None, _)) if ok => {
            sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            let actor = Actor {
                kind: "user",
                id: Some(id.clone()),
                label: email.clone(),
                ip: Some(ip.to_owned()),
            };
            audit::record(
                &mut tx,
                &actor,
                "auth.sign_in",
                "user",
                Some(&id),
                serde_json::json!({}),
            )
            .await?;
            tx.commit().await?;
            get_user(db, &id).await
        }
        row => {
            sqlx::query(
                "INSERT INTO login_failures (ip, window_start, failures) VALUES ($1, $2, 1) \
                 ON CONFLICT (ip, window_start) DO UPDATE SET failures = login_failures.failures + 1",
            )
            .bind(ip)
            .bind(window)
            .execute(&mut *tx)
            .await?;
            if let Some((id, ..)) = &row {
                sqlx::query(
                    "UPDATE users SET failed_logins = failed_logins + 1, \
                     locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END WHERE id = $3",
                )
                .bind(cfg.max_failed_logins)
                .bind(now + cfg.lockout_secs * SECOND)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE users SET failed_logins = 0 WHERE id = $1 AND locked_until IS NOT NULL AND locked_until > $2")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let actor = Actor {
                    kind: "user",
                    id: Some(id.clone()),
                    label: email.clone(),
                    ip: Some(ip.to_owned()),
                };
                audit::record(
                    &mut tx,
                    &actor,
                    "auth.sign_in_failed",
                    "user",
                    Some(id),
                    serde_json::json!({}),
                )
                .await?;
            }
            tx.commit().await?;
            Err(Error::Invalid {
                code: "invalid_credentials".into(),
                message: "wrong email or password".into(),
            })
        }
    }
}
