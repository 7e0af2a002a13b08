//! Identity and access for the brand's team: users with roles, sessions,
//! API tokens with scopes, sign-in throttling. Every endpoint asks one
//! question through [`Principal::require`]: may this principal do `Access`
//! in `Area`?

use crate::audit::{self, Actor};
use crate::clock::{self, Micros, MINUTE, SECOND};
use crate::config::AuthConfig;
use crate::db::{new_id, Db};
use crate::error::{Error, Result};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The capabilities of Cove, as areas of access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    Commerce,
    Membership,
    Service,
    Channels,
    Audience,
    Journeys,
    Insight,
    Network,
    Privacy,
    /// Users, tokens, audit log, jobs.
    System,
}

impl Area {
    pub const ALL: [Area; 10] = [
        Area::Commerce,
        Area::Membership,
        Area::Service,
        Area::Channels,
        Area::Audience,
        Area::Journeys,
        Area::Insight,
        Area::Network,
        Area::Privacy,
        Area::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::Commerce => "commerce",
            Area::Membership => "membership",
            Area::Service => "service",
            Area::Channels => "channels",
            Area::Audience => "audience",
            Area::Journeys => "journeys",
            Area::Insight => "insight",
            Area::Network => "network",
            Area::Privacy => "privacy",
            Area::System => "system",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    StoreManager,
    MembershipManager,
    Marketing,
    ProductManager,
    DataAnalyst,
    ServiceAgent,
    FieldEngineer,
    /// Works in one offline store; sees only that store's members and orders.
    StoreStaff,
    /// Works for one reseller; sees only that reseller's stores.
    Reseller,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::Admin,
        Role::StoreManager,
        Role::MembershipManager,
        Role::Marketing,
        Role::ProductManager,
        Role::DataAnalyst,
        Role::ServiceAgent,
        Role::FieldEngineer,
        Role::StoreStaff,
        Role::Reseller,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::StoreManager => "store_manager",
            Role::MembershipManager => "membership_manager",
            Role::Marketing => "marketing",
            Role::ProductManager => "product_manager",
            Role::DataAnalyst => "data_analyst",
            Role::ServiceAgent => "service_agent",
            Role::FieldEngineer => "field_engineer",
            Role::StoreStaff => "store_staff",
            Role::Reseller => "reseller",
        }
    }

    /// The most this role may do in `area`; `None` means the area is hidden.
    pub fn grant(self, area: Area) -> Option<Access> {
        use Access::{Read as R, Write as W};
        use Area::*;
        let grant = match (self, area) {
            (Role::Admin, _) => W,
            (Role::StoreManager, Commerce) => W,
            (Role::StoreManager, Network | Insight | Audience | Membership) => R,
            (Role::MembershipManager, Membership) => W,
            (Role::MembershipManager, Audience | Insight | Commerce | Service | Network) => R,
            (Role::Marketing, Audience | Journeys | Channels) => W,
            (Role::Marketing, Insight | Membership | Commerce | Network) => R,
            (
                Role::ProductManager,
                Insight | Audience | Commerce | Journeys | Membership | Service,
            ) => R,
            (Role::DataAnalyst, Insight | Audience | Commerce | Membership | Service | Network) => {
                R
            }
            (Role::ServiceAgent, Service) => W,
            (Role::ServiceAgent, Membership | Commerce) => R,
            (Role::FieldEngineer, Service) => W,
            (Role::StoreStaff, Membership) => W,
            (Role::StoreStaff, Network | Commerce) => R,
            (Role::Reseller, Network | Commerce) => R,
            _ => return None,
        };
        Some(grant)
    }

    /// Store staff and resellers work inside one store or reseller.
    pub fn is_scoped(self) -> bool {
        matches!(self, Role::StoreStaff | Role::Reseller)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::invalid("invalid_role", format!("unknown role '{s}'")))
    }
}

/// A token scope such as `commerce:read` or `audience:write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub area: Area,
    pub access: Access,
}

impl FromStr for Scope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "invalid_scope",
                format!("unknown scope '{s}' (expected AREA:read or AREA:write)"),
            )
        };
        let (area, access) = s.split_once(':').ok_or_else(bad)?;
        let area = Area::ALL
            .into_iter()
            .find(|a| a.as_str() == area)
            .ok_or_else(bad)?;
        let access = match access {
            "read" => Access::Read,
            "write" => Access::Write,
            _ => return Err(bad()),
        };
        Ok(Scope { area, access })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = if self.access == Access::Write {
            "write"
        } else {
            "read"
        };
        write!(f, "{}:{access}", self.area.as_str())
    }
}

/// Who is making a request, and through what.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub store_id: Option<String>,
    pub reseller_id: Option<String>,
    pub locale: String,
    pub via: Via,
}

#[derive(Debug, Clone)]
pub enum Via {
    /// A console session; `csrf` must accompany every unsafe request.
    Session { csrf: String },
    /// An API token, limited to its scopes (and to its owner's role).
    Token { id: String, scopes: Vec<Scope> },
}

impl Principal {
    /// The one access check every endpoint uses.
    pub fn require(&self, area: Area, access: Access) -> Result<()> {
        if self.can(area, access) {
            Ok(())
        } else {
            Err(Error::Forbidden(
                format!(
                    "the {} role may not {} {}",
                    self.role,
                    if access == Access::Write {
                        "change"
                    } else {
                        "view"
                    },
                    area.as_str()
                )
                .into(),
            ))
        }
    }

    pub fn can(&self, area: Area, access: Access) -> bool {
        let role_allows = self.role.grant(area).is_some_and(|g| g >= access);
        let via_allows = match &self.via {
            Via::Session { .. } => true,
            Via::Token { scopes, .. } => {
                scopes.iter().any(|s| s.area == area && s.access >= access)
            }
        };
        role_allows && via_allows
    }

    pub fn actor(&self, ip: Option<String>) -> Actor {
        match &self.via {
            Via::Session { .. } => Actor {
                kind: "user",
                id: Some(self.user_id.clone()),
                label: self.email.clone(),
                ip,
            },
            Via::Token { id, .. } => Actor {
                kind: "token",
                id: Some(id.clone()),
                label: format!("token of {}", self.email),
                ip,
            },
        }
    }
}

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

fn normalize_email(email: &str) -> Result<String> {
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

/// Compares secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new session: the cookie value (shown once, stored only as a hash) and its CSRF token.
pub struct NewSession {
    pub token: String,
    pub csrf: String,
}

pub async fn create_session(
    db: &Db,
    cfg: &AuthConfig,
    user_id: &str,
    ip: &str,
    user_agent: &str,
) -> Result<NewSession> {
    let token = random_token();
    let csrf = random_token();
    let now = clock::now();
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token_hash(&token))
    .bind(user_id)
    .bind(&csrf)
    .bind(now)
    .bind(now + cfg.session_ttl_secs * SECOND)
    .bind(ip)
    .bind(user_agent.chars().take(300).collect::<String>())
    .execute(db.pool())
    .await?;
    Ok(NewSession { token, csrf })
}

/// The user columns a principal is built from.
#[derive(sqlx::FromRow)]
struct PrincipalRow {
    user_id: String,
    email: String,
    name: String,
    role: String,
    store_id: Option<String>,
    reseller_id: Option<String>,
    locale: String,
    disabled_at: Option<i64>,
}

const PRINCIPAL_COLUMNS: &str =
    "u.id AS user_id, u.email, u.name, u.role, u.store_id, u.reseller_id, u.locale, u.disabled_at";

fn principal_from(row: PrincipalRow, via: Via) -> Result<Principal> {
    if row.disabled_at.is_some() {
        return Err(Error::Unauthenticated);
    }
    Ok(Principal {
        user_id: row.user_id,
        email: row.email,
        name: row.name,
        role: row.role.parse()?,
        store_id: row.store_id,
        reseller_id: row.reseller_id,
        locale: row.locale,
        via,
    })
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    csrf_token: String,
    expires_at: i64,
    #[sqlx(flatten)]
    user: PrincipalRow,
}

/// The principal behind a session cookie; slides the expiry forward when half used.
pub async fn session_principal(db: &Db, cfg: &AuthConfig, token: &str) -> Result<Principal> {
    let now = clock::now();
    let hash = token_hash(token);
    let row: Option<SessionRow> = sqlx::query_as(&format!(
        "SELECT s.csrf_token, s.expires_at, {PRINCIPAL_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1"
    ))
    .bind(&hash)
    .fetch_optional(db.read())
    .await?;
    let Some(row) = row.filter(|r| r.expires_at > now) else {
        return Err(Error::Unauthenticated);
    };
    let ttl = cfg.session_ttl_secs * SECOND;
    if row.expires_at - now < ttl / 2 {
        sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id_hash = $2")
            .bind(now + ttl)
            .bind(&hash)
            .execute(db.pool())
            .await?;
    }
    principal_from(
        row.user,
        Via::Session {
            csrf: row.csrf_token,
        },
    )
}

pub async fn end_session(db: &Db, token: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(token_hash(token))
        .execute(db.pool())
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub scopes: String,
    pub created_by: String,
    pub created_at: Micros,
    pub expires_at: Option<Micros>,
    pub last_used_at: Option<Micros>,
    pub revoked_at: Option<Micros>,
}

/// Creates an API token for `owner`; the secret is returned once and stored only as a hash.
pub async fn create_token(
    db: &Db,
    actor: &Actor,
    owner: &Principal,
    name: &str,
    scopes: &[String],
    expires_at: Option<Micros>,
) -> Result<(ApiToken, String)> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(Error::invalid(
            "invalid_name",
            "a token name of 1 to 100 characters is required",
        ));
    }
    if scopes.is_empty() {
        return Err(Error::invalid(
            "invalid_scope",
            "a token needs at least one scope",
        ));
    }
    let parsed: Vec<Scope> = scopes.iter().map(|s| s.parse()).collect::<Result<_>>()?;
    for scope in &parsed {
        if owner
            .role
            .grant(scope.area)
            .is_none_or(|g| g < scope.access)
        {
            return Err(Error::Forbidden(
                format!("the {} role cannot grant {scope}", owner.role).into(),
            ));
        }
    }
    let secret = format!("cove_{}", random_token());
    let id = new_id();
    let scopes_text = parsed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO api_tokens (id, name, token_hash, prefix, scopes, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(name)
    .bind(token_hash(&secret))
    .bind(&secret[..12])
    .bind(&scopes_text)
    .bind(&owner.user_id)
    .bind(clock::now())
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "token.create",
        "api_token",
        Some(&id),
        serde_json::json!({ "name": name, "scopes": scopes_text }),
    )
    .await?;
    tx.commit().await?;
    let token = sqlx::query_as::<_, ApiToken>("SELECT id, name, prefix, scopes, created_by, created_at, expires_at, last_used_at, revoked_at FROM api_tokens WHERE id = $1")
        .bind(&id)
        .fetch_one(db.pool())
        .await?;
    Ok((token, secret))
}

pub async fn list_tokens(db: &Db) -> Result<Vec<ApiToken>> {
    Ok(sqlx::query_as::<_, ApiToken>(
        "SELECT id, name, prefix, scopes, created_by, created_at, expires_at, last_used_at, revoked_at FROM api_tokens ORDER BY id DESC",
    )
    .fetch_all(db.read())
    .await?)
}

pub async fn revoke_token(db: &Db, actor: &Actor, id: &str) -> Result<()> {
    let mut tx = db.begin().await?;
    let n =
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(clock::now())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if n == 0 {
        return Err(Error::not_found("api token"));
    }
    audit::record(
        &mut tx,
        actor,
        "token.revoke",
        "api_token",
        Some(id),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    token_id: String,
    scopes: String,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    #[sqlx(flatten)]
    user: PrincipalRow,
}

/// The principal behind a bearer token.
pub async fn token_principal(db: &Db, secret: &str) -> Result<Principal> {
    let now = clock::now();
    let row: Option<TokenRow> = sqlx::query_as(&format!(
        "SELECT t.id AS token_id, t.scopes, t.expires_at, t.revoked_at, t.last_used_at, {PRINCIPAL_COLUMNS} \
         FROM api_tokens t JOIN users u ON u.id = t.created_by WHERE t.token_hash = $1"
    ))
    .bind(token_hash(secret))
    .fetch_optional(db.read())
    .await?;
    let Some(row) = row else {
        return Err(Error::Unauthenticated);
    };
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= now) {
        return Err(Error::Unauthenticated);
    }
    if row.last_used_at.is_none_or(|t| now - t > MINUTE) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&row.token_id)
            .execute(db.pool())
            .await?;
    }
    let scopes = row
        .scopes
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    principal_from(
        row.user,
        Via::Token {
            id: row.token_id,
            scopes,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_team_needs_and_no_more() {
        assert_eq!(Role::Admin.grant(Area::System), Some(Access::Write));
        assert_eq!(Role::Marketing.grant(Area::Journeys), Some(Access::Write));
        assert_eq!(Role::Marketing.grant(Area::System), None);
        assert_eq!(Role::DataAnalyst.grant(Area::Commerce), Some(Access::Read));
        assert_eq!(Role::StoreStaff.grant(Area::Audience), None);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
    }

    #[test]
    fn token_scopes_narrow_the_role() {
        let p = Principal {
            user_id: "u".into(),
            email: "a@b.cn".into(),
            name: "A".into(),
            role: Role::Marketing,
            store_id: None,
            reseller_id: None,
            locale: "zh".into(),
            via: Via::Token {
                id: "t".into(),
                scopes: vec!["audience:read".parse().unwrap()],
            },
        };
        assert!(p.require(Area::Audience, Access::Read).is_ok());
        assert!(p.require(Area::Audience, Access::Write).is_err());
        assert!(
            p.require(Area::Journeys, Access::Read).is_err(),
            "role allows it, the token does not"
        );
    }

    #[test]
    fn scopes_and_emails_are_parsed_strictly() {
        assert!("commerce:write".parse::<Scope>().is_ok());
        assert!("commerce".parse::<Scope>().is_err());
        assert!("billing:read".parse::<Scope>().is_err());
        assert_eq!(
            normalize_email(" Ada@Example.CN ").unwrap(),
            "ada@example.cn"
        );
        assert!(normalize_email("no-at-sign").is_err());
        assert!(normalize_email("a@b").is_err());
    }
}
