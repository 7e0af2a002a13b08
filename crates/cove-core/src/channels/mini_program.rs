//! Mini Program sign-in and phone number in Cove.
//!
//! [`login`] exchanges a `wx.login` code for the openid (and unionid, when
//! the app is bound to the brand's Open Platform account), finds the
//! person's profile through the identity graph and records the visit's entry
//! (WeChat scene number, page, query) as `mp.opened`, attributed to the
//! store, staff member or campaign of a registered QR scene. [`link_phone`]
//! adds the phone number WeChat verified to the same profile under the
//! graph's rules: a number that already belongs to another registered person
//! is recorded as a conflict for review, never merged silently.

use super::accounts::AccountKind;
use super::clients::WechatApi;
use crate::audience::domain::{self, DomainEvent};
use crate::audience::{IdType, Identifier};
use crate::clock::{self, Micros};
use crate::db::{Conn, Db};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// How the visit started, as `wx.getLaunchOptionsSync()` / `onShow` report it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    /// WeChat's scene number (1047: scanned a Mini Program code, 1011: a QR code…).
    pub scene: Option<i64>,
    /// The page opened.
    pub path: Option<String>,
    /// The page's query; `scene` holds a Mini Program code's scene string.
    #[schema(value_type = Object)]
    pub query: Option<Map<String, Value>>,
}

/// Who signed in.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Login {
    pub account_id: String,
    pub profile_id: String,
    pub open_id: String,
    pub union_id: Option<String>,
    /// Store, staff member and campaign of the QR code the visit came from.
    #[schema(value_type = Object)]
    pub attribution: Value,
}

fn upstream(e: cove_wechat::Error) -> Error {
    match e.code() {
        Some(40029 | 40163 | 40226) => Error::invalid(
            "invalid_login_code",
            "the wx.login code is invalid, used or expired: call wx.login again",
        ),
        _ => Error::Internal(anyhow::anyhow!("WeChat call failed: {e}")),
    }
}

fn hashed(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..12])
}

/// The query, bounded: at most 20 keys of short text, kept for attribution reports.
fn bounded_query(query: Option<&Map<String, Value>>) -> Map<String, Value> {
    query
        .map(|q| {
            q.iter()
                .take(20)
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (
                        k.chars().take(40).collect::<String>(),
                        Value::String(text.chars().take(200).collect()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[derive(sqlx::FromRow)]
struct SceneRow {
    id: String,
    store_id: Option<String>,
    staff_id: Option<String>,
    campaign: Option<String>,
}

/// Attribution of a registered QR scene named in the query (`scene`, as
/// Mini Program codes pass it), counting the scan.
async fn scene_attribution(conn: &mut Conn, query: &Map<String, Value>) -> Result<Value> {
    let Some(scene) = query.get("scene").and_then(Value::as_str) else {
        return Ok(json!({}));
    };
    let row: Option<SceneRow> = sqlx::query_as(
        "SELECT id, store_id, staff_id, campaign FROM qr_scenes WHERE scene = $1 ORDER BY created_at LIMIT 1",
    )
    .bind(scene)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(json!({}));
    };
    sqlx::query("UPDATE qr_scenes SET scans = scans + 1 WHERE id = $1")
        .bind(&row.id)
        .execute(&mut *conn)
        .await?;
    Ok(
        json!({ "scene": scene, "store_id": row.store_id, "staff_id": row.staff_id, "campaign": row.campaign }),
    )
}

/// Signs a Mini Program user in: code → openid/unionid → profile, and the
/// entry recorded as `mp.opened`. The code is single-use at WeChat, so a
/// replayed request fails there and records nothing.
pub async fn login(api: &WechatApi, account_id: &str, code: &str, entry: &Entry) -> Result<Login> {
    let code = code.trim();
    if code.is_empty() || code.len() > 128 {
        return Err(Error::invalid(
            "invalid_login_code",
            "the wx.login code is required",
        ));
    }
    let (account, client) = api.mp(account_id).await?;
    if account.kind != AccountKind::MiniProgram {
        return Err(Error::invalid(
            "not_a_mini_program",
            "sign-in goes through a Mini Program account",
        ));
    }
    let session = client.code2session(code).await.map_err(upstream)?;
    let mut ids = vec![Identifier::new(
        IdType::OpenId(account.app_id.clone()),
        &session.openid,
    )?];
    if let Some(unionid) = session.unionid.as_deref().filter(|u| !u.is_empty()) {
        ids.push(Identifier::new(IdType::UnionId, unionid)?);
    }
    let at: Micros = clock::now();
    let key = format!("mp.opened:{}:{}", account.id, hashed(code));
    let db = api.db();
    let mut tx = db.begin().await?;
    let profile_id = domain::profile_for(&mut tx, db.backend(), &ids, &key, at).await?;
    let query = bounded_query(entry.query.as_ref());
    let attribution = scene_attribution(&mut tx, &query).await?;
    let mut props = json!({
        "channel": "mini_program",
        "account_id": account.id,
        "app_id": account.app_id,
        "open_id": session.openid,
        "wechat_scene": entry.scene,
        "path": entry.path.as_deref().map(|p| p.chars().take(200).collect::<String>()),
        "query": query,
    });
    if let (Some(p), Some(a)) = (props.as_object_mut(), attribution.as_object()) {
        p.extend(a.clone());
    }
    domain::emit(
        &mut tx,
        &DomainEvent::new("mp.opened", &profile_id, key, props, at),
    )
    .await?;
    tx.commit().await?;
    Ok(Login {
        account_id: account.id,
        profile_id,
        open_id: session.openid,
        union_id: session.unionid,
        attribution,
    })
}

/// The brand's Mini Program account: `requested`, or the first one configured.
pub async fn account_id(db: &Db, requested: Option<&str>) -> Result<String> {
    if let Some(id) = requested {
        return Ok(id.to_owned());
    }
    let id: Option<String> = sqlx::query_scalar(
        "SELECT id FROM channel_accounts WHERE kind = 'mini_program' ORDER BY created_at LIMIT 1",
    )
    .fetch_optional(db.pool())
    .await?;
    id.ok_or(Error::not_found("mini program account"))
}

/// The openid under `app_id` of a profile (or of one merged into it).
pub async fn open_id_of(db: &Db, app_id: &str, profile_id: &str) -> Result<String> {
    let open_id: Option<String> = sqlx::query_scalar(
        "SELECT i.value FROM identities i JOIN profiles p ON p.id = i.profile_id \
         WHERE i.type = $1 AND (p.id = $2 OR p.merged_into = $2) LIMIT 1",
    )
    .bind(IdType::OpenId(app_id.to_owned()).key())
    .bind(profile_id)
    .fetch_optional(db.pool())
    .await?;
    open_id.ok_or_else(|| {
        Error::invalid(
            "not_signed_in_with_mini_program",
            "sign in with this Mini Program first",
        )
    })
}

/// Records a `wx.requestSubscribeMessage` report of the signed-in person.
pub async fn record_subscriptions(
    db: &Db,
    account_id: &str,
    profile_id: &str,
    report: &super::consent::Report,
) -> Result<bool> {
    let account = super::accounts::get(db, account_id).await?;
    if account.kind != AccountKind::MiniProgram {
        return Err(Error::invalid(
            "not_a_mini_program",
            "subscription messages belong to a Mini Program account",
        ));
    }
    let open_id = open_id_of(db, &account.app_id, profile_id).await?;
    let mut tx = db.begin().await?;
    let fresh =
        super::consent::record(&mut tx, &account.id, &open_id, Some(profile_id), report).await?;
    tx.commit().await?;
    Ok(fresh)
}

/// What linking a phone number did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PhoneLinked {
    /// `138****5678`.
    pub phone_masked: String,
    /// The profile that holds the number now.
    pub profile_id: String,
    /// The number belongs to another registered person: recorded for review, not merged.
    pub conflict: bool,
}

/// `138****5678` from `+8613812345678`.
pub fn mask_phone(e164: &str) -> String {
    let national = e164.strip_prefix("+86").unwrap_or(e164);
    let chars: Vec<char> = national.chars().collect();
    if chars.len() < 7 {
        return "****".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// Links the phone number behind a `getPhoneNumber` code to the signed-in
/// person (known by their profile and Mini Program openid).
pub async fn link_phone(
    api: &WechatApi,
    account_id: &str,
    profile_id: &str,
    code: &str,
) -> Result<PhoneLinked> {
    let code = code.trim();
    if code.is_empty() || code.len() > 128 {
        return Err(Error::invalid(
            "invalid_phone_code",
            "the getPhoneNumber code is required",
        ));
    }
    let (account, client) = api.mp(account_id).await?;
    let db = api.db();
    let open_id = open_id_of(db, &account.app_id, profile_id).await?;
    let info = client
        .phone_number(code)
        .await
        .map_err(|e| match e.code() {
            Some(40029 | 40013) | Some(1400001) => Error::invalid(
                "invalid_phone_code",
                "the getPhoneNumber code is invalid or expired",
            ),
            _ => Error::Internal(anyhow::anyhow!("WeChat call failed: {e}")),
        })?;
    let phone = Identifier::new(
        IdType::Phone,
        &format!("+{}{}", info.country_code, info.pure_phone_number),
    )?;
    let openid = Identifier::new(IdType::OpenId(account.app_id.clone()), &open_id)?;
    let at = clock::now();
    let key = format!("mp.phone_linked:{}:{}", account.id, hashed(code));
    let mut tx = db.begin().await?;
    let target = domain::profile_for(
        &mut tx,
        db.backend(),
        &[openid.clone(), phone.clone()],
        &key,
        at,
    )
    .await?;
    let holder: Option<String> =
        sqlx::query_scalar("SELECT profile_id FROM identities WHERE type = $1 AND value = $2")
            .bind(phone.key())
            .bind(&phone.value)
            .fetch_optional(&mut *tx)
            .await?;
    // The signed-in person's profile now (the graph may have merged an
    // unregistered one into the number's registered holder).
    let own: Option<String> =
        sqlx::query_scalar("SELECT COALESCE(merged_into, id) FROM profiles WHERE id = $1")
            .bind(profile_id)
            .fetch_optional(&mut *tx)
            .await?;
    let own = own.unwrap_or_else(|| target.clone());
    // Two registered people: the graph keeps the number where it was and records a conflict.
    let conflict = holder.as_deref().is_some_and(|h| h != own);
    let target = own;
    let masked = mask_phone(&phone.value);
    domain::emit(
        &mut tx,
        &DomainEvent::new(
            if conflict {
                "mp.phone_conflict"
            } else {
                "mp.phone_linked"
            },
            &target,
            key,
            json!({ "channel": "mini_program", "account_id": account.id, "phone_masked": masked }),
            at,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(PhoneLinked {
        phone_masked: masked,
        profile_id: target,
        conflict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_masked_in_the_middle() {
        assert_eq!(mask_phone("+8613812345678"), "138****5678");
        assert_eq!(mask_phone("123"), "****");
    }

    #[test]
    fn the_entry_query_is_bounded() {
        let mut q = Map::new();
        for i in 0..30 {
            q.insert(format!("k{i}"), json!("x".repeat(500)));
        }
        let out = bounded_query(Some(&q));
        assert_eq!(out.len(), 20);
        assert!(out.values().all(|v| v.as_str().unwrap().len() == 200));
    }
}
