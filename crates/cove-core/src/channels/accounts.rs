//! The brand's WeChat accounts (Official Account, Mini Program, WeCom app),
//! with their secrets sealed by the vault.

use crate::audit::{self, Actor};
use crate::clock::{self, Micros};
use crate::db::{new_id, Db};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::vault::Vault;
use cove_wechat::msgcrypt::{decode_encoding_aes_key, MsgCrypt};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    OfficialAccount,
    MiniProgram,
    Wecom,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::OfficialAccount => "official_account",
            AccountKind::MiniProgram => "mini_program",
            AccountKind::Wecom => "wecom",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "official_account" => Ok(AccountKind::OfficialAccount),
            "mini_program" => Ok(AccountKind::MiniProgram),
            "wecom" => Ok(AccountKind::Wecom),
            other => Err(Error::Internal(anyhow::anyhow!(
                "unknown account kind {other}"
            ))),
        }
    }
}

/// An account as the console and API show it: secrets never leave the server.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Account {
    pub id: String,
    pub kind: AccountKind,
    pub name: String,
    pub app_id: String,
    /// Callbacks are encrypted (safe mode) when an EncodingAESKey is set.
    pub safe_mode: bool,
    pub has_secret: bool,
    pub sandbox: bool,
    pub created_at: Micros,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewAccount {
    pub kind: AccountKind,
    pub name: String,
    /// AppID (`wx…`), or CorpID for WeCom.
    pub app_id: String,
    /// The callback Token configured in WeChat's console.
    pub token: String,
    /// The 43-character EncodingAESKey; omit for plain mode (Official Account only).
    pub encoding_aes_key: Option<String>,
    /// AppSecret (or the WeCom app secret), used to obtain access tokens.
    pub secret: Option<String>,
    /// Keep outgoing messages in the console outbox instead of sending them.
    #[serde(default)]
    pub sandbox: bool,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: String,
    kind: String,
    name: String,
    app_id: String,
    token_sealed: String,
    aes_key_sealed: Option<String>,
    secret_sealed: Option<String>,
    sandbox_at: Option<i64>,
    created_at: i64,
}

const COLUMNS: &str =
    "id, kind, name, app_id, token_sealed, aes_key_sealed, secret_sealed, sandbox_at, created_at";

impl AccountRow {
    fn view(&self) -> Result<Account> {
        Ok(Account {
            id: self.id.clone(),
            kind: AccountKind::parse(&self.kind)?,
            name: self.name.clone(),
            app_id: self.app_id.clone(),
            safe_mode: self.aes_key_sealed.is_some(),
            has_secret: self.secret_sealed.is_some(),
            sandbox: self.sandbox_at.is_some(),
            created_at: self.created_at,
        })
    }
}

/// What a callback endpoint needs to check and decrypt a request.
pub struct CallbackKeys {
    pub account: Account,
    pub token: Secret,
    /// Present in safe mode.
    pub crypt: Option<MsgCrypt>,
}

pub async fn create(db: &Db, vault: &Vault, actor: &Actor, new: NewAccount) -> Result<Account> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid(
            "invalid_name",
            "an account name of 1 to 100 characters is required",
        ));
    }
    let app_id = new.app_id.trim();
    if app_id.is_empty()
        || app_id.len() > 64
        || !app_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Error::invalid(
            "invalid_app_id",
            "the AppID (or CorpID) must be 1 to 64 letters, digits, - or _",
        ));
    }
    let token = new.token.trim();
    if !(3..=32).contains(&token.len()) || !token.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::invalid(
            "invalid_token",
            "the callback Token must be 3 to 32 letters or digits",
        ));
    }
    match (&new.encoding_aes_key, new.kind) {
        (Some(key), _) => {
            decode_encoding_aes_key(key.trim()).map_err(|_| {
                Error::invalid(
                    "invalid_encoding_aes_key",
                    "the EncodingAESKey must be the 43 characters WeChat shows",
                )
            })?;
        }
        (None, AccountKind::OfficialAccount) => {}
        (None, _) => return Err(Error::invalid(
            "encoding_aes_key_required",
            "Mini Program and WeCom callbacks are always encrypted: an EncodingAESKey is required",
        )),
    }
    let id = new_id();
    let mut tx = db.begin().await?;
    sqlx::query(&format!(
        "INSERT INTO channel_accounts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&id)
    .bind(new.kind.as_str())
    .bind(name)
    .bind(app_id)
    .bind(vault.seal(token)?)
    .bind(
        new.encoding_aes_key
            .as_deref()
            .map(|k| vault.seal(k.trim()))
            .transpose()?,
    )
    .bind(
        new.secret
            .as_deref()
            .map(|s| vault.seal(s.trim()))
            .transpose()?,
    )
    .bind(new.sandbox.then(clock::now))
    .bind(clock::now())
    .execute(&mut *tx)
    .await
    .map_err(|e| match Error::from(e) {
        Error::Conflict { .. } => Error::conflict(
            "account_exists",
            format!(
                "a {} account with AppID {app_id} already exists",
                new.kind.as_str()
            ),
        ),
        other => other,
    })?;
    audit::record(
        &mut tx,
        actor,
        "channel_account.create",
        "channel_account",
        Some(&id),
        serde_json::json!({ "kind": new.kind, "app_id": app_id }),
    )
    .await?;
    tx.commit().await?;
    get(db, &id).await
}

async fn row(db: &Db, id: &str) -> Result<AccountRow> {
    sqlx::query_as::<_, AccountRow>(&format!(
        "SELECT {COLUMNS} FROM channel_accounts WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .ok_or(Error::not_found("channel account"))
}

pub async fn get(db: &Db, id: &str) -> Result<Account> {
    row(db, id).await?.view()
}

pub async fn list(db: &Db) -> Result<Vec<Account>> {
    sqlx::query_as::<_, AccountRow>(&format!(
        "SELECT {COLUMNS} FROM channel_accounts ORDER BY kind, name"
    ))
    .fetch_all(db.read())
    .await?
    .iter()
    .map(AccountRow::view)
    .collect()
}

/// Unseals what a callback of `kind` needs; an account of another kind is not found.
pub async fn callback_keys(
    db: &Db,
    vault: &Vault,
    id: &str,
    kind: AccountKind,
) -> Result<CallbackKeys> {
    let row = row(db, id).await?;
    let account = row.view()?;
    if account.kind != kind {
        return Err(Error::not_found("channel account"));
    }
    let token = vault.open_sealed(&row.token_sealed)?;
    let crypt = match &row.aes_key_sealed {
        Some(sealed) => {
            let key = vault.open_sealed(sealed)?;
            Some(
                MsgCrypt::new(token.expose(), key.expose(), &row.app_id).map_err(|e| {
                    Error::Internal(anyhow::anyhow!("stored EncodingAESKey unusable: {e}"))
                })?,
            )
        }
        None => None,
    };
    Ok(CallbackKeys {
        account,
        token,
        crypt,
    })
}

/// The account and its AppSecret (or WeCom app secret), for calling WeChat's APIs.
pub async fn api_credentials(db: &Db, vault: &Vault, id: &str) -> Result<(Account, Secret)> {
    let row = row(db, id).await?;
    let account = row.view()?;
    let secret = row.secret_sealed.as_deref().ok_or_else(|| {
        Error::invalid(
            "account_secret_missing",
            format!(
                "the account {} has no AppSecret to call WeChat with",
                account.name
            ),
        )
    })?;
    Ok((account, vault.open_sealed(secret)?))
}
