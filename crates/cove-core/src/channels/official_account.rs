//! Official Account (服务号) callbacks in Cove.
//!
//! The endpoint checks the signature, decrypts (safe mode), parses, stores the
//! callback once under its dedupe key and enqueues its processing in the same
//! transaction, then answers `success` at once: WeChat's 5-second rule is met
//! whatever the processing costs, and its retries (to any node) change nothing.
//! The job turns follows, scans and menu events into followers with their
//! QR-scene attribution (store, staff member, campaign) and into events.

use super::accounts::{AccountKind, CallbackKeys};
use super::clients::WechatApi;
use super::consent;
use crate::audience::domain::{self, DomainEvent};
use crate::audience::{IdType, Identifier};
use crate::audit::{self, Actor};
use crate::clock::{self, Micros};
use crate::db::{new_id, Conn, Db};
use crate::error::{Error, Result};
use crate::jobs::{self, JobCtx, NewJob};
use cove_wechat::client::WxaCodeRequest;
use cove_wechat::msgcrypt;
use cove_wechat::qr::QrCreate;
use cove_wechat::xml::{parse_inbound, Inbound};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

pub const PROCESS_JOB: &str = "wechat.oa.inbound";

/// Query parameters WeChat adds to every callback.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CallbackQuery {
    pub signature: String,
    pub timestamp: String,
    pub nonce: String,
    /// URL check only.
    pub echostr: Option<String>,
    /// `aes` in safe mode.
    pub encrypt_type: Option<String>,
    pub msg_signature: Option<String>,
}

fn bad_signature() -> Error {
    Error::invalid(
        "invalid_signature",
        "the WeChat signature does not match this account's Token",
    )
}

/// The URL check when the callback is configured: echo `echostr` if signed.
pub fn verify_url(keys: &CallbackKeys, q: &CallbackQuery) -> Result<String> {
    let echostr = q.echostr.as_deref().ok_or_else(|| {
        Error::invalid("missing_echostr", "echostr is required for the URL check")
    })?;
    msgcrypt::verify_oa_url(
        keys.token.expose(),
        &q.signature,
        &q.timestamp,
        &q.nonce,
        echostr,
    )
    .map(str::to_owned)
    .map_err(|_| bad_signature())
}

/// Checks, decrypts and stores one callback; returns false for a retry already stored.
pub async fn accept(db: &Db, keys: &CallbackKeys, q: &CallbackQuery, body: &str) -> Result<bool> {
    msgcrypt::verify_oa_signature(keys.token.expose(), &q.signature, &q.timestamp, &q.nonce)
        .map_err(|_| bad_signature())?;
    let plain = match (&keys.crypt, q.encrypt_type.as_deref()) {
        (Some(crypt), Some("aes")) => {
            let msg_signature = q.msg_signature.as_deref().ok_or_else(bad_signature)?;
            crypt
                .decrypt_message(msg_signature, &q.timestamp, &q.nonce, body)
                .map_err(|e| match e.code() {
                    Some(-40001) => bad_signature(),
                    _ => Error::invalid(
                        "invalid_message",
                        format!("the encrypted message was refused: {e}"),
                    ),
                })?
        }
        (Some(_), _) => {
            return Err(Error::invalid(
                "encryption_required",
                "this account is in safe mode: callbacks must be encrypted",
            ))
        }
        (None, Some("aes")) => {
            return Err(Error::invalid(
                "encryption_not_configured",
                "this account has no EncodingAESKey",
            ))
        }
        (None, _) => body.to_owned(),
    };
    let inbound = parse_inbound(&plain).map_err(|e| {
        Error::invalid(
            "invalid_message",
            format!("the callback XML was refused: {e}"),
        )
    })?;
    let header = inbound.header();
    let (event, key) = event_of(&inbound);
    let dedupe_key = match message_id(&inbound) {
        Some(msg_id) => format!("msg:{}:{msg_id}", header.from_user_name),
        None => format!(
            "event:{}:{}:{}:{}",
            header.from_user_name,
            header.create_time,
            event.unwrap_or(""),
            key.unwrap_or("")
        ),
    };
    let id = new_id();
    let mut tx = db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO wechat_inbound (id, account_id, dedupe_key, msg_type, event, open_id, body, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (account_id, dedupe_key) DO NOTHING",
    )
    .bind(&id)
    .bind(&keys.account.id)
    .bind(&dedupe_key)
    .bind(&header.msg_type)
    .bind(event)
    .bind(&header.from_user_name)
    .bind(&plain)
    .bind(clock::now())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        jobs::enqueue(
            &mut tx,
            NewJob::new(PROCESS_JOB, json!({ "inbound": id }))
                .dedupe(format!("{PROCESS_JOB}:{id}")),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(inserted)
}

fn message_id(inbound: &Inbound) -> Option<&str> {
    match inbound {
        Inbound::Text { msg_id, .. }
        | Inbound::Image { msg_id, .. }
        | Inbound::Voice { msg_id, .. }
        | Inbound::Video { msg_id, .. }
        | Inbound::Location { msg_id, .. }
        | Inbound::Link { msg_id, .. } => msg_id.as_deref(),
        _ => None,
    }
}

/// The event name and key used for deduplication and reporting.
fn event_of(inbound: &Inbound) -> (Option<&'static str>, Option<&str>) {
    match inbound {
        Inbound::Subscribe { event_key, .. } => (Some("subscribe"), event_key.as_deref()),
        Inbound::Unsubscribe { .. } => (Some("unsubscribe"), None),
        Inbound::Scan { scene, .. } => (Some("SCAN"), Some(scene)),
        Inbound::Click { key, .. } => (Some("CLICK"), Some(key)),
        Inbound::View { url, .. } => (Some("VIEW"), Some(url)),
        Inbound::LocationReport { .. } => (Some("LOCATION"), None),
        Inbound::TemplateSendJobFinish { msg_id, .. } => {
            (Some("TEMPLATESENDJOBFINISH"), Some(msg_id))
        }
        Inbound::SubscribeMsg { .. } => (Some("subscribe_msg"), None),
        Inbound::Other { .. } => (Some("other"), None),
        _ => (None, None),
    }
}

/// Attribution carried by a QR scene.
#[derive(Debug, Default, sqlx::FromRow)]
struct SceneTarget {
    store_id: Option<String>,
    staff_id: Option<String>,
    campaign: Option<String>,
}

async fn scene_target(
    conn: &mut Conn,
    account_id: &str,
    scene: &str,
    follow: bool,
) -> Result<SceneTarget> {
    sqlx::query(&format!(
        "UPDATE qr_scenes SET scans = scans + 1{} WHERE account_id = $1 AND scene = $2",
        if follow {
            ", follows = follows + 1"
        } else {
            ""
        }
    ))
    .bind(account_id)
    .bind(scene)
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_as::<_, SceneTarget>(
        "SELECT store_id, staff_id, campaign FROM qr_scenes WHERE account_id = $1 AND scene = $2",
    )
    .bind(account_id)
    .bind(scene)
    .fetch_optional(&mut *conn)
    .await?
    .unwrap_or_default())
}

async fn record_event(
    conn: &mut Conn,
    name: &str,
    store_id: Option<&str>,
    properties: serde_json::Value,
    at: Micros,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO events (id, kind, name, member_id, channel, store_id, properties, occurred_at) \
         VALUES ($1, 'track', $2, NULL, 'service_account', $3, $4, $5)",
    )
    .bind(new_id())
    .bind(name)
    .bind(store_id)
    .bind(properties.to_string())
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What one callback says about the person, as a domain event.
struct Fact {
    name: &'static str,
    legacy_name: &'static str,
    store_id: Option<String>,
    properties: serde_json::Value,
}

/// A new follower's UnionID (`user/info`), which joins them to the person
/// the brand knows from its Mini Program or WeCom. Asked only on a follow of
/// a live account, before the job's transaction; a failed call links the
/// follower by openid alone.
async fn follower_unionid(api: &WechatApi, db: &Db, inbound_id: &str) -> Option<String> {
    let row: Option<(String, String, Option<i64>)> = sqlx::query_as(
        "SELECT i.account_id, i.open_id, a.sandbox_at FROM wechat_inbound i \
         JOIN channel_accounts a ON a.id = i.account_id \
         WHERE i.id = $1 AND i.event = 'subscribe' AND a.kind = 'official_account'",
    )
    .bind(inbound_id)
    .fetch_optional(db.pool())
    .await
    .ok()
    .flatten();
    let (account_id, open_id, sandbox_at) = row?;
    if sandbox_at.is_some() {
        return None;
    }
    let (_, client) = api.mp(&account_id).await.ok()?;
    match client.follower_info(&open_id).await {
        Ok(info) => info.unionid.filter(|u| !u.is_empty()),
        Err(e) => {
            tracing::warn!(error = %e, "WeChat user/info failed; linking the follower by openid");
            None
        }
    }
}

/// Job handler: applies one stored callback, exactly once (its effects and the
/// job's completion commit together). The follower is a profile of the
/// identity graph (`openid:<appid>`), and what they did becomes a domain
/// event keyed by the callback's dedupe key, so a retried job stores nothing twice.
pub async fn process(api: WechatApi, ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let id = ctx.job.payload["inbound"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let unionid = follower_unionid(&api, &ctx.db, &id).await;
    let mut tx = ctx.db.begin().await?;
    let row: Option<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT i.account_id, i.body, i.dedupe_key, a.app_id, a.kind FROM wechat_inbound i \
         JOIN channel_accounts a ON a.id = i.account_id WHERE i.id = $1",
    )
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((account_id, body, dedupe_key, app_id, account_kind)) = row else {
        ctx.complete(&mut tx).await?;
        tx.commit().await?;
        return Ok(());
    };
    let inbound = parse_inbound(&body)?;
    let header = inbound.header();
    let open_id = header.from_user_name.clone();
    let at = header.create_time.saturating_mul(clock::SECOND);
    let base = json!({ "channel": "official_account", "account_id": account_id, "app_id": app_id, "open_id": open_id });
    let with = |extra: serde_json::Value| {
        let mut props = base.clone();
        if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        props
    };
    let attribution = |scene: Option<&str>, t: &SceneTarget| json!({ "scene": scene, "store_id": t.store_id, "staff_id": t.staff_id, "campaign": t.campaign });
    let fact = match &inbound {
        Inbound::Subscribe { scene, .. } => {
            let scene = scene.as_deref();
            let target = match scene {
                Some(scene) => scene_target(&mut tx, &account_id, scene, true).await?,
                None => SceneTarget::default(),
            };
            // First touch wins: a returning follower keeps the attribution of their first follow.
            sqlx::query(
                "INSERT INTO followers (account_id, open_id, scene, store_id, staff_id, campaign, followed_at, last_event_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                 ON CONFLICT (account_id, open_id) DO UPDATE SET unfollowed_at = NULL, last_event_at = $7",
            )
            .bind(&account_id)
            .bind(&open_id)
            .bind(scene)
            .bind(&target.store_id)
            .bind(&target.staff_id)
            .bind(&target.campaign)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            Some(Fact {
                name: "wechat.followed",
                legacy_name: "Service Account Followed",
                store_id: target.store_id.clone(),
                properties: with(attribution(scene, &target)),
            })
        }
        Inbound::Unsubscribe { .. } => {
            sqlx::query("UPDATE followers SET unfollowed_at = $1, last_event_at = $1 WHERE account_id = $2 AND open_id = $3")
                .bind(at)
                .bind(&account_id)
                .bind(&open_id)
                .execute(&mut *tx)
                .await?;
            Some(Fact {
                name: "wechat.unfollowed",
                legacy_name: "Service Account Unfollowed",
                store_id: None,
                properties: with(json!({})),
            })
        }
        Inbound::Scan { scene, .. } => {
            let target = scene_target(&mut tx, &account_id, scene, false).await?;
            sqlx::query(
                "UPDATE followers SET last_event_at = $1 WHERE account_id = $2 AND open_id = $3",
            )
            .bind(at)
            .bind(&account_id)
            .bind(&open_id)
            .execute(&mut *tx)
            .await?;
            Some(Fact {
                name: "wechat.scanned",
                legacy_name: "QR Code Scanned",
                store_id: target.store_id.clone(),
                properties: with(attribution(Some(scene), &target)),
            })
        }
        Inbound::Click { key, .. } => Some(Fact {
            name: "wechat.menu_clicked",
            legacy_name: "Menu Clicked",
            store_id: None,
            properties: with(json!({ "key": key })),
        }),
        Inbound::View { url, .. } => Some(Fact {
            name: "wechat.menu_link_opened",
            legacy_name: "Menu Link Opened",
            store_id: None,
            properties: with(json!({ "url": url })),
        }),
        Inbound::SubscribeMsg { kind, items, .. } => {
            let templates: Vec<_> = items
                .iter()
                .map(|i| json!({ "template_id": i.template_id, "status": i.subscribe_status, "error_code": i.error_code }))
                .collect();
            Some(Fact {
                name: "wechat.subscriptions_changed",
                legacy_name: "Subscription Messages Changed",
                store_id: None,
                properties: with(
                    json!({ "event": format!("{kind:?}").to_lowercase(), "templates": templates }),
                ),
            })
        }
        Inbound::Text { content, .. } => {
            let text: String = content.chars().take(500).collect();
            Some(Fact {
                name: "wechat.message_received",
                legacy_name: "Message Received",
                store_id: None,
                properties: with(json!({ "text": text })),
            })
        }
        _ => None,
    };
    // An openid the identity graph refuses (a placeholder value) makes no profile.
    let openid = Identifier::new(IdType::OpenId(app_id.clone()), &open_id).ok();
    if let (Some(fact), Some(openid)) = (fact, openid) {
        let key = format!("wechat.oa:{account_id}:{dedupe_key}");
        let mut ids = vec![openid];
        ids.extend(unionid.and_then(|u| Identifier::new(IdType::UnionId, &u).ok()));
        let profile_id = domain::profile_for(&mut tx, ctx.db.backend(), &ids, &key, at).await?;
        sqlx::query("UPDATE followers SET profile_id = $1 WHERE account_id = $2 AND open_id = $3")
            .bind(&profile_id)
            .bind(&account_id)
            .bind(&open_id)
            .execute(&mut *tx)
            .await?;
        let event = DomainEvent::new(fact.name, &profile_id, key, fact.properties.clone(), at);
        if domain::emit(&mut tx, &event).await? {
            if let Inbound::SubscribeMsg { kind, items, .. } = &inbound {
                consent::apply_event(
                    &mut tx,
                    &account_id,
                    account_kind == AccountKind::OfficialAccount.as_str(),
                    &open_id,
                    Some(&profile_id),
                    *kind,
                    items,
                )
                .await?;
            }
            let official_account = account_kind == AccountKind::OfficialAccount.as_str();
            if let (Inbound::Text { content, .. }, true) = (&inbound, official_account) {
                super::conversations::on_text(
                    &mut tx,
                    ctx.db.backend(),
                    &account_id,
                    super::conversations::Via::OfficialAccount,
                    &open_id,
                    &profile_id,
                    content,
                    at,
                )
                .await?;
            }
            // The console dashboard still reads the older `events` table.
            record_event(
                &mut tx,
                fact.legacy_name,
                fact.store_id.as_deref(),
                fact.properties,
                at,
            )
            .await?;
        }
    }
    sqlx::query("UPDATE wechat_inbound SET processed_at = $1 WHERE id = $2")
        .bind(clock::now())
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    ctx.complete(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SceneKind {
    Store,
    Staff,
    Campaign,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewScene {
    pub account_id: String,
    pub kind: SceneKind,
    pub name: String,
    pub store_id: Option<String>,
    pub staff_id: Option<String>,
    pub campaign: Option<String>,
    /// For a Mini Program code: the page it opens (no leading `/`, no query).
    #[serde(default)]
    pub page: Option<String>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Scene {
    pub id: String,
    pub account_id: String,
    /// The `scene_str` of the QR code (`qrscene_` + this in follow events).
    pub scene: String,
    pub kind: String,
    pub name: String,
    pub store_id: Option<String>,
    pub staff_id: Option<String>,
    pub campaign: Option<String>,
    pub scans: i64,
    pub follows: i64,
    pub created_at: Micros,
    /// What the printed code carries (`http://weixin.qq.com/q/…`); none in sandbox mode.
    pub qr_url: Option<String>,
    /// The Mini Program page a Mini Program code opens.
    pub page: Option<String>,
    /// WeChat issued the code (a live account's): its image can be downloaded.
    #[sqlx(skip)]
    pub issued: bool,
    /// Size of the Mini Program code's image.
    #[serde(skip)]
    code_bytes: Option<i64>,
}

/// Registers what a code stands for: an Official Account's parametric QR
/// code, or a Mini Program code whose scene the Mini Program passes on at
/// sign-in. The scene string is short and opaque (`s` + 12 hex), inside both
/// limits (64 and 32 characters). A live account's code is created at WeChat
/// first — a permanent string-scene QR code whose URL the printed code
/// carries, or the Mini Program code's image. A sandbox account's code
/// exists only in Cove.
pub async fn create_scene(api: &WechatApi, actor: &Actor, new: NewScene) -> Result<Scene> {
    let db = api.db();
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid(
            "invalid_name",
            "a QR code name of 1 to 100 characters is required",
        ));
    }
    let (store_id, staff_id, campaign) = match new.kind {
        SceneKind::Store => (
            Some(new.store_id.clone().ok_or_else(|| {
                Error::invalid("store_required", "a store QR code needs store_id")
            })?),
            None,
            None,
        ),
        SceneKind::Staff => (
            new.store_id.clone(),
            Some(new.staff_id.clone().ok_or_else(|| {
                Error::invalid("staff_required", "a staff QR code needs staff_id")
            })?),
            None,
        ),
        SceneKind::Campaign => (
            new.store_id.clone(),
            None,
            Some(
                new.campaign
                    .clone()
                    .filter(|c| !c.trim().is_empty())
                    .ok_or_else(|| {
                        Error::invalid("campaign_required", "a campaign QR code needs campaign")
                    })?,
            ),
        ),
    };
    let account = super::accounts::get(db, &new.account_id).await?;
    let page = new.page.as_deref().map(str::trim).filter(|p| !p.is_empty());
    match account.kind {
        AccountKind::OfficialAccount if page.is_some() => {
            return Err(Error::invalid(
                "invalid_page",
                "only a Mini Program code opens a page",
            ))
        }
        AccountKind::OfficialAccount => {}
        AccountKind::MiniProgram => {
            if page
                .is_some_and(|p| p.starts_with('/') || p.contains('?') || p.chars().count() > 200)
            {
                return Err(Error::invalid(
                    "invalid_page",
                    "the page is a Mini Program path without a leading / or a query",
                ));
            }
        }
        AccountKind::Wecom => {
            return Err(Error::invalid(
                "not_a_code_account",
                "QR codes belong to an Official Account or a Mini Program",
            ))
        }
    }
    let id = new_id();
    let scene = format!("s{}", &id.replace('-', "")[20..]);
    let mut issued = None;
    let mut code_png = None;
    if !account.sandbox {
        let (_, client) = api.mp(&account.id).await?;
        let failed = |e: cove_wechat::Error| {
            Error::Internal(anyhow::anyhow!("WeChat refused the code: {e}"))
        };
        if account.kind == AccountKind::MiniProgram {
            let request = WxaCodeRequest::new(&scene, page);
            code_png = Some(client.wxacode_unlimit(&request).await.map_err(failed)?);
        } else {
            let request = QrCreate::permanent_str(&scene)
                .map_err(|e| Error::invalid("invalid_scene", e.to_string()))?;
            issued = Some(client.create_qrcode(&request).await.map_err(failed)?);
        }
    }
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO qr_scenes (id, account_id, scene, kind, name, store_id, staff_id, campaign, created_at, \
         ticket, qr_url, page, code_png) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&id)
    .bind(&account.id)
    .bind(&scene)
    .bind(serde_json::to_value(new.kind)?.as_str().unwrap_or("store"))
    .bind(name)
    .bind(&store_id)
    .bind(&staff_id)
    .bind(&campaign)
    .bind(clock::now())
    .bind(issued.as_ref().map(|q| q.ticket.clone()))
    .bind(issued.as_ref().map(|q| q.url.clone()))
    .bind(page)
    .bind(code_png)
    .execute(&mut *tx)
    .await
    .map_err(|e| match Error::from(e) {
        Error::Internal(_) => Error::invalid("unknown_target", "store_id or staff_id does not exist"),
        other => other,
    })?;
    audit::record(
        &mut tx,
        actor,
        "qr_scene.create",
        "qr_scene",
        Some(&id),
        json!({ "scene": scene, "kind": new.kind }),
    )
    .await?;
    tx.commit().await?;
    list_scenes(db, Some(&id))
        .await?
        .pop()
        .ok_or(Error::not_found("qr scene"))
}

/// The image of a scene's code: drawn from the URL WeChat issued (an
/// Official Account's) or as WeChat drew it (a Mini Program code's).
pub async fn scene_code_png(db: &Db, id: &str) -> Result<Vec<u8>> {
    let row: Option<(Option<String>, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT qr_url, code_png FROM qr_scenes WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    match row.ok_or(Error::not_found("qr scene"))? {
        (_, Some(png)) => Ok(png),
        (Some(url), None) => crate::service::qr::png(&url),
        (None, None) => Err(Error::conflict(
            "qr_not_issued",
            "this code belongs to a sandbox account: WeChat issues it once the account is live",
        )),
    }
}

pub async fn list_scenes(db: &Db, id: Option<&str>) -> Result<Vec<Scene>> {
    Ok(sqlx::query_as::<_, Scene>(
        "SELECT id, account_id, scene, kind, name, store_id, staff_id, campaign, scans, follows, created_at, qr_url, \
         page, CAST(LENGTH(code_png) AS BIGINT) AS code_bytes FROM qr_scenes WHERE ($1 IS NULL OR id = $1) ORDER BY created_at DESC",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?
    .into_iter()
    .map(|scene| Scene {
        issued: scene.qr_url.is_some() || scene.code_bytes.is_some(),
        ..scene
    })
    .collect())
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Follower {
    pub account_id: String,
    pub open_id: String,
    pub scene: Option<String>,
    pub store_id: Option<String>,
    pub staff_id: Option<String>,
    pub campaign: Option<String>,
    /// The follower's profile in the identity graph.
    pub profile_id: Option<String>,
    pub followed_at: Micros,
    pub unfollowed_at: Option<Micros>,
}

/// Followers, newest first, optionally of one store.
pub async fn list_followers(db: &Db, store_id: Option<&str>, limit: i64) -> Result<Vec<Follower>> {
    Ok(sqlx::query_as::<_, Follower>(
        "SELECT account_id, open_id, scene, store_id, staff_id, campaign, profile_id, followed_at, unfollowed_at \
         FROM followers WHERE ($1 IS NULL OR store_id = $1) ORDER BY followed_at DESC LIMIT $2",
    )
    .bind(store_id)
    .bind(limit.clamp(1, 500))
    .fetch_all(db.read())
    .await?)
}
