//! WeCom (企业微信) customer contact in Cove.
//!
//! The callback endpoint checks and decrypts each event, stores it once under
//! its dedupe key with its processing job (as Official Account callbacks
//! are), and answers at once. The job keeps the salesperson–customer
//! relationships and their history (started, transferred, ended), attributes
//! a new contact to the salesperson, store and campaign of the contact way
//! whose `state` it brings, links the customer's profile
//! (`wecom_external_id`, and the unionid when WeCom gives it), queues the
//! contact way's welcome message within its 20-second window, and records
//! customer group membership. Customer-service (微信客服) callbacks read the
//! waiting messages into tickets ([`super::wecom_service`]).

use super::accounts::{self, AccountKind, CallbackKeys};
use super::clients::WechatApi;
use super::outbox::{self, MessageKind, NewMessage, WELCOME_WINDOW};
use crate::audience::domain::{self, DomainEvent};
use crate::audience::{IdType, Identifier};
use crate::audit::{self, Actor};
use crate::clock::{self, Micros, SECOND};
use crate::db::{new_id, Conn, Db};
use crate::error::{Error, Result};
use crate::jobs::{self, JobCtx, NewJob};
use cove_wechat::client::ContactWay;
use cove_wechat::xml::{parse_inbound, ExternalChatChange, ExternalContactChange, Inbound};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

pub const PROCESS_JOB: &str = "wechat.wecom.inbound";

/// Query parameters WeCom adds to every callback.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CallbackQuery {
    pub msg_signature: String,
    pub timestamp: String,
    pub nonce: String,
    /// URL check only (encrypted).
    pub echostr: Option<String>,
}

fn bad_signature() -> Error {
    Error::invalid(
        "invalid_signature",
        "the WeCom signature does not match this app's Token",
    )
}

fn refused(e: cove_wechat::Error) -> Error {
    match e.code() {
        Some(-40001) => bad_signature(),
        _ => Error::invalid(
            "invalid_message",
            format!("the encrypted message was refused: {e}"),
        ),
    }
}

fn crypt(keys: &CallbackKeys) -> Result<&cove_wechat::msgcrypt::MsgCrypt> {
    keys.crypt.as_ref().ok_or_else(|| {
        Error::invalid(
            "encryption_not_configured",
            "this WeCom app has no EncodingAESKey",
        )
    })
}

/// The URL check: decrypts `echostr` if signed, to be echoed in plain text.
pub fn verify_url(keys: &CallbackKeys, q: &CallbackQuery) -> Result<String> {
    let echostr = q.echostr.as_deref().ok_or_else(|| {
        Error::invalid("missing_echostr", "echostr is required for the URL check")
    })?;
    crypt(keys)?
        .verify_url(&q.msg_signature, &q.timestamp, &q.nonce, echostr)
        .map_err(refused)
}

fn change_name(change: &ExternalContactChange) -> &str {
    match change {
        ExternalContactChange::Add => "add_external_contact",
        ExternalContactChange::AddHalf => "add_half_external_contact",
        ExternalContactChange::Edit => "edit_external_contact",
        ExternalContactChange::Delete => "del_external_contact",
        ExternalContactChange::DeleteFollowUser => "del_follow_user",
        ExternalContactChange::TransferFail => "transfer_fail",
        ExternalContactChange::Other(s) => s,
    }
}

/// Checks, decrypts and stores one callback; returns false for a retry already stored.
pub async fn accept(db: &Db, keys: &CallbackKeys, q: &CallbackQuery, body: &str) -> Result<bool> {
    let plain = crypt(keys)?
        .decrypt_message(&q.msg_signature, &q.timestamp, &q.nonce, body)
        .map_err(refused)?;
    let inbound = parse_inbound(&plain).map_err(|e| {
        Error::invalid(
            "invalid_message",
            format!("the callback XML was refused: {e}"),
        )
    })?;
    let header = inbound.header();
    let (event, subject, dedupe_key) = match &inbound {
        Inbound::ExternalContact {
            change,
            user_id,
            external_user_id,
            ..
        } => (
            change_name(change).to_owned(),
            external_user_id.clone(),
            format!(
                "ext:{}:{user_id}:{external_user_id}:{}",
                change_name(change),
                header.create_time
            ),
        ),
        Inbound::ExternalChat {
            chat_id,
            cur_mem_ver,
            mem_change_list,
            ..
        } => (
            "change_external_chat".to_owned(),
            chat_id.clone(),
            format!(
                "chat:{chat_id}:{}:{}:{}",
                header.create_time,
                cur_mem_ver.as_deref().unwrap_or(""),
                mem_change_list.join(",")
            ),
        ),
        Inbound::KfMsgOrEvent {
            token, open_kf_id, ..
        } => (
            "kf_msg_or_event".to_owned(),
            open_kf_id.clone(),
            format!("kf:{open_kf_id}:{token}"),
        ),
        _ => (
            "other".to_owned(),
            header.from_user_name.clone(),
            format!(
                "other:{}:{}:{}",
                header.from_user_name, header.create_time, header.msg_type
            ),
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
    .bind(dedupe_key.chars().take(500).collect::<String>())
    .bind(&header.msg_type)
    .bind(&event)
    .bind(&subject)
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

/// A contact way as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ContactWayView {
    pub id: String,
    pub account_id: String,
    /// Echoed by WeCom in the add event: the attribution key.
    pub state: String,
    pub name: String,
    pub wecom_user_id: String,
    pub staff_id: Option<String>,
    pub store_id: Option<String>,
    pub campaign: Option<String>,
    pub welcome_text: Option<String>,
    pub config_id: Option<String>,
    pub qr_code: Option<String>,
    pub adds: i64,
    pub created_at: Micros,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewContactWay {
    pub account_id: String,
    pub name: String,
    /// The salesperson's WeCom userid.
    pub wecom_user_id: String,
    /// The salesperson's Cove user, when they have one.
    pub staff_id: Option<String>,
    pub store_id: Option<String>,
    pub campaign: Option<String>,
    /// Sent to each customer who adds the salesperson through this way.
    pub welcome_text: Option<String>,
}

const WAY_COLUMNS: &str =
    "id, account_id, state, name, wecom_user_id, staff_id, store_id, campaign, \
     welcome_text, config_id, qr_code, adds, created_at";

/// Creates a contact way: a fresh `state`, registered with WeCom (its QR
/// code comes back) unless the app is in sandbox mode.
pub async fn create_contact_way(
    api: &WechatApi,
    actor: &Actor,
    new: NewContactWay,
) -> Result<ContactWayView> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid(
            "invalid_name",
            "a contact way name of 1 to 100 characters is required",
        ));
    }
    let user = new.wecom_user_id.trim();
    if user.is_empty() || user.len() > 64 {
        return Err(Error::invalid(
            "invalid_wecom_user_id",
            "the salesperson's WeCom userid is required",
        ));
    }
    let welcome = new
        .welcome_text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if welcome.is_some_and(|t| t.chars().count() > 4000) {
        return Err(Error::invalid(
            "invalid_welcome_text",
            "a welcome message is at most 4000 characters",
        ));
    }
    let db = api.db();
    let account = accounts::get(db, &new.account_id).await?;
    if account.kind != AccountKind::Wecom {
        return Err(Error::invalid(
            "not_a_wecom_app",
            "contact ways belong to a WeCom app",
        ));
    }
    let id = new_id();
    // `cw` + 12 hex: unique, opaque, well inside WeCom's 30 characters.
    let state = format!("cw{}", &id.replace('-', "")[20..]);
    let created =
        if account.sandbox {
            None
        } else {
            let (_, client) = api.wecom(&account.id).await?;
            let way = ContactWay::qr(&[user], &state)
                .map_err(|e| Error::invalid("invalid_contact_way", e.to_string()))?;
            Some(client.add_contact_way(&way).await.map_err(|e| {
                Error::Internal(anyhow::anyhow!("WeCom add_contact_way failed: {e}"))
            })?)
        };
    let mut tx = db.begin().await?;
    sqlx::query(&format!(
        "INSERT INTO wecom_contact_ways ({WAY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12)"
    ))
    .bind(&id)
    .bind(&account.id)
    .bind(&state)
    .bind(name)
    .bind(user)
    .bind(&new.staff_id)
    .bind(&new.store_id)
    .bind(new.campaign.as_deref().map(str::trim).filter(|c| !c.is_empty()))
    .bind(welcome)
    .bind(created.as_ref().map(|c| c.config_id.clone()))
    .bind(created.as_ref().and_then(|c| c.qr_code.clone()))
    .bind(clock::now())
    .execute(&mut *tx)
    .await
    .map_err(|e| match Error::from(e) {
        Error::Internal(_) => Error::invalid("unknown_target", "store_id or staff_id does not exist"),
        other => other,
    })?;
    audit::record(
        &mut tx,
        actor,
        "wecom_contact_way.create",
        "wecom_contact_way",
        Some(&id),
        json!({ "state": state, "wecom_user_id": user }),
    )
    .await?;
    tx.commit().await?;
    list_contact_ways(db, Some(&id))
        .await?
        .pop()
        .ok_or(Error::not_found("contact way"))
}

pub async fn list_contact_ways(db: &Db, id: Option<&str>) -> Result<Vec<ContactWayView>> {
    Ok(sqlx::query_as::<_, ContactWayView>(&format!(
        "SELECT {WAY_COLUMNS} FROM wecom_contact_ways WHERE ($1 IS NULL OR id = $1) ORDER BY created_at DESC"
    ))
    .bind(id)
    .fetch_all(db.pool())
    .await?)
}

#[derive(Debug, Default, sqlx::FromRow)]
struct Attribution {
    id: Option<String>,
    staff_id: Option<String>,
    store_id: Option<String>,
    campaign: Option<String>,
    welcome_text: Option<String>,
}

async fn attribution(
    conn: &mut Conn,
    account_id: &str,
    user_id: &str,
    state: Option<&str>,
    count_add: bool,
) -> Result<Attribution> {
    if let Some(state) = state.filter(|s| !s.is_empty()) {
        let found: Option<Attribution> = sqlx::query_as(
            "SELECT id, staff_id, store_id, campaign, welcome_text FROM wecom_contact_ways \
             WHERE account_id = $1 AND state = $2",
        )
        .bind(account_id)
        .bind(state)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(found) = found {
            if count_add {
                sqlx::query("UPDATE wecom_contact_ways SET adds = adds + 1 WHERE id = $1")
                    .bind(&found.id)
                    .execute(&mut *conn)
                    .await?;
            }
            return Ok(found);
        }
    }
    // No (known) state: the salesperson's Cove user, if any of their ways names one.
    let staff_id: Option<Option<String>> = sqlx::query_scalar(
        "SELECT staff_id FROM wecom_contact_ways WHERE account_id = $1 AND wecom_user_id = $2 \
         AND staff_id IS NOT NULL ORDER BY created_at LIMIT 1",
    )
    .bind(account_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(Attribution {
        staff_id: staff_id.flatten(),
        ..Attribution::default()
    })
}

/// Who a relationship step is about, and the callback that reported it.
struct Step<'a> {
    inbound_id: &'a str,
    account_id: &'a str,
    external: &'a str,
    user: &'a str,
    profile_id: &'a str,
}

async fn history(
    conn: &mut Conn,
    step: &Step<'_>,
    change: &str,
    detail: Option<&str>,
    at: Micros,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO wecom_relationship_events (id, account_id, inbound_id, external_user_id, wecom_user_id, \
         profile_id, change, detail, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (inbound_id) DO NOTHING",
    )
    .bind(new_id())
    .bind(step.account_id)
    .bind(step.inbound_id)
    .bind(step.external)
    .bind(step.user)
    .bind(step.profile_id)
    .bind(change)
    .bind(detail)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The unionid WeCom knows for a customer (live apps only; best effort:
/// the relationship is recorded even when the lookup fails).
async fn unionid_of(api: &WechatApi, account_id: &str, external: &str) -> Option<String> {
    let (_, client) = api.wecom(account_id).await.ok()?;
    match client.external_contact(external).await {
        Ok(info) => info.external_contact.unionid.filter(|u| !u.is_empty()),
        Err(e) => {
            tracing::warn!(error = %e, "WeCom externalcontact/get failed; linking without unionid");
            None
        }
    }
}

/// Job handler of [`PROCESS_JOB`]: applies one stored callback, exactly once.
pub async fn process(api: WechatApi, ctx: Arc<JobCtx>) -> anyhow::Result<()> {
    let id = ctx.job.payload["inbound"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT account_id, body, dedupe_key FROM wechat_inbound WHERE id = $1 AND processed_at IS NULL",
    )
    .bind(&id)
    .fetch_optional(ctx.db.pool())
    .await?;
    let Some((account_id, body, dedupe_key)) = row else {
        let mut conn = ctx.db.pool().acquire().await?;
        ctx.complete(&mut conn).await?;
        return Ok(());
    };
    let account = accounts::get(&ctx.db, &account_id).await?;
    let inbound = parse_inbound(&body)?;
    let at = inbound.header().create_time.saturating_mul(SECOND);
    let key = format!("wecom:{account_id}:{dedupe_key}");
    let unionid = match &inbound {
        Inbound::ExternalContact {
            change: ExternalContactChange::Add | ExternalContactChange::AddHalf,
            external_user_id,
            ..
        } if !account.sandbox => unionid_of(&api, &account_id, external_user_id).await,
        _ => None,
    };
    // Customer-service messages are read from WeCom before the callback is
    // marked done; a failed read retries the job from the stored cursor.
    if let Inbound::KfMsgOrEvent {
        token, open_kf_id, ..
    } = &inbound
    {
        if !account.sandbox {
            super::wecom_service::sync(&api, &ctx.db, &account_id, open_kf_id, token).await?;
        }
    }
    let backend = ctx.db.backend();
    let mut tx = ctx.db.begin().await?;
    match &inbound {
        Inbound::ExternalContact {
            change,
            user_id,
            external_user_id: external,
            state,
            welcome_code,
            source,
            fail_reason,
            ..
        } => {
            let mut ids = vec![Identifier::new(IdType::WecomExternalId, external)?];
            if let Some(u) = unionid.as_deref() {
                ids.push(Identifier::new(IdType::UnionId, u)?);
            }
            let profile_id = domain::profile_for(&mut tx, backend, &ids, &key, at).await?;
            let step = Step {
                inbound_id: &id,
                account_id: &account_id,
                external,
                user: user_id,
                profile_id: &profile_id,
            };
            let base = json!({ "channel": "wecom", "account_id": account_id, "external_user_id": external, "wecom_user_id": user_id });
            let (name, props) = match change {
                ExternalContactChange::Add | ExternalContactChange::AddHalf => {
                    let attr =
                        attribution(&mut tx, &account_id, user_id, state.as_deref(), true).await?;
                    let previous: Option<String> = sqlx::query_scalar(
                        "SELECT wecom_user_id FROM wecom_contacts WHERE account_id = $1 AND external_user_id = $2 \
                         AND removed_by = 'transfer' AND wecom_user_id <> $3 ORDER BY removed_at DESC LIMIT 1",
                    )
                    .bind(&account_id)
                    .bind(external)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO wecom_contacts (account_id, external_user_id, wecom_user_id, profile_id, state, \
                         contact_way_id, staff_id, store_id, campaign, added_at, last_event_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
                         ON CONFLICT (account_id, external_user_id, wecom_user_id) DO UPDATE SET \
                         profile_id = $4, removed_at = NULL, removed_by = NULL, added_at = $10, last_event_at = $10, \
                         state = COALESCE($5, wecom_contacts.state), \
                         contact_way_id = COALESCE($6, wecom_contacts.contact_way_id), \
                         staff_id = COALESCE($7, wecom_contacts.staff_id), \
                         store_id = COALESCE($8, wecom_contacts.store_id), \
                         campaign = COALESCE($9, wecom_contacts.campaign)",
                    )
                    .bind(&account_id)
                    .bind(external)
                    .bind(user_id)
                    .bind(&profile_id)
                    .bind(state.as_deref().filter(|s| !s.is_empty()))
                    .bind(&attr.id)
                    .bind(&attr.staff_id)
                    .bind(&attr.store_id)
                    .bind(&attr.campaign)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    let (change_row, detail) = match &previous {
                        Some(from) => ("transferred", Some(from.as_str())),
                        None => ("started", None),
                    };
                    history(&mut tx, &step, change_row, detail, at).await?;
                    if let (Some(code), Some(text)) = (welcome_code, &attr.welcome_text) {
                        let message = NewMessage {
                            account_id: account_id.clone(),
                            kind: MessageKind::WecomWelcome,
                            recipient: external.clone(),
                            profile_id: Some(profile_id.clone()),
                            template_id: None,
                            payload: json!({ "text": text, "welcome_code": code, "sender": user_id }),
                            client_msg_id: format!("wecom.welcome:{account_id}:{code}"),
                        };
                        outbox::queue_until(&mut tx, &message, Some(at + WELCOME_WINDOW)).await?;
                    }
                    let mut props = base.clone();
                    props["state"] = json!(state);
                    props["store_id"] = json!(attr.store_id);
                    props["staff_id"] = json!(attr.staff_id);
                    props["campaign"] = json!(attr.campaign);
                    props["contact_way_id"] = json!(attr.id);
                    if let Some(from) = &previous {
                        props["transferred_from"] = json!(from);
                        ("wecom.contact_transferred", props)
                    } else {
                        ("wecom.contact_added", props)
                    }
                }
                ExternalContactChange::Edit => {
                    sqlx::query(
                        "UPDATE wecom_contacts SET last_event_at = $1, profile_id = $2 \
                         WHERE account_id = $3 AND external_user_id = $4 AND wecom_user_id = $5",
                    )
                    .bind(at)
                    .bind(&profile_id)
                    .bind(&account_id)
                    .bind(external)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                    history(&mut tx, &step, "edited", None, at).await?;
                    ("wecom.contact_edited", base.clone())
                }
                ExternalContactChange::Delete | ExternalContactChange::DeleteFollowUser => {
                    let by = match (change, source.as_deref()) {
                        (_, Some("DELETE_BY_TRANSFER")) => "transfer",
                        (ExternalContactChange::Delete, _) => "staff",
                        _ => "customer",
                    };
                    sqlx::query(
                        "UPDATE wecom_contacts SET removed_at = $1, removed_by = $2, last_event_at = $1 \
                         WHERE account_id = $3 AND external_user_id = $4 AND wecom_user_id = $5",
                    )
                    .bind(at)
                    .bind(by)
                    .bind(&account_id)
                    .bind(external)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                    history(&mut tx, &step, "ended", Some(by), at).await?;
                    let mut props = base.clone();
                    props["removed_by"] = json!(by);
                    ("wecom.contact_removed", props)
                }
                ExternalContactChange::TransferFail => {
                    history(
                        &mut tx,
                        &step,
                        "transfer_failed",
                        fail_reason.as_deref(),
                        at,
                    )
                    .await?;
                    let mut props = base.clone();
                    props["reason"] = json!(fail_reason);
                    ("wecom.transfer_failed", props)
                }
                ExternalContactChange::Other(_) => ("wecom.contact_changed", base.clone()),
            };
            domain::emit(
                &mut tx,
                &DomainEvent::new(name, &profile_id, key.clone(), props, at),
            )
            .await?;
        }
        Inbound::ExternalChat {
            change,
            chat_id,
            mem_change_list,
            join_scene,
            quit_scene,
            ..
        } => match change {
            ExternalChatChange::Update(detail)
                if detail == "add_member" || detail == "del_member" =>
            {
                let joined = detail == "add_member";
                for member in mem_change_list {
                    // External contacts' ids start with `wm`/`wo`; members are the brand's staff.
                    let external = member.starts_with("wm") || member.starts_with("wo");
                    let profile_id = if external {
                        let ids = [Identifier::new(IdType::WecomExternalId, member)?];
                        Some(
                            domain::profile_for(
                                &mut tx,
                                backend,
                                &ids,
                                &format!("{key}:{member}"),
                                at,
                            )
                            .await?,
                        )
                    } else {
                        None
                    };
                    if joined {
                        sqlx::query(
                            "INSERT INTO wecom_group_members (account_id, chat_id, member_id, profile_id, joined_at) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, chat_id, member_id) \
                             DO UPDATE SET left_at = NULL, joined_at = $5, profile_id = COALESCE($4, wecom_group_members.profile_id)",
                        )
                        .bind(&account_id)
                        .bind(chat_id)
                        .bind(member)
                        .bind(&profile_id)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    } else {
                        sqlx::query(
                            "INSERT INTO wecom_group_members (account_id, chat_id, member_id, profile_id, joined_at, left_at) \
                             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (account_id, chat_id, member_id) \
                             DO UPDATE SET left_at = $5",
                        )
                        .bind(&account_id)
                        .bind(chat_id)
                        .bind(member)
                        .bind(&profile_id)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    if let Some(profile_id) = profile_id {
                        let props = json!({ "channel": "wecom", "account_id": account_id, "chat_id": chat_id,
                            "external_user_id": member, "join_scene": join_scene, "quit_scene": quit_scene });
                        let name = if joined {
                            "wecom.group_joined"
                        } else {
                            "wecom.group_left"
                        };
                        domain::emit(
                            &mut tx,
                            &DomainEvent::new(
                                name,
                                &profile_id,
                                format!("{key}:{member}"),
                                props,
                                at,
                            ),
                        )
                        .await?;
                    }
                }
            }
            ExternalChatChange::Dismiss => {
                sqlx::query(
                    "UPDATE wecom_group_members SET left_at = $1 WHERE account_id = $2 AND chat_id = $3 AND left_at IS NULL",
                )
                .bind(at)
                .bind(&account_id)
                .bind(chat_id)
                .execute(&mut *tx)
                .await?;
            }
            _ => {}
        },
        _ => {}
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

/// A salesperson–customer relationship.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Contact {
    pub account_id: String,
    pub external_user_id: String,
    pub wecom_user_id: String,
    pub profile_id: Option<String>,
    pub state: Option<String>,
    pub staff_id: Option<String>,
    pub store_id: Option<String>,
    pub campaign: Option<String>,
    pub added_at: Micros,
    pub removed_at: Option<Micros>,
    pub removed_by: Option<String>,
}

/// Relationships, newest first, optionally of one salesperson or store.
pub async fn list_contacts(
    db: &Db,
    wecom_user_id: Option<&str>,
    store_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Contact>> {
    Ok(sqlx::query_as::<_, Contact>(
        "SELECT account_id, external_user_id, wecom_user_id, profile_id, state, staff_id, store_id, campaign, \
         added_at, removed_at, removed_by FROM wecom_contacts \
         WHERE ($1 IS NULL OR wecom_user_id = $1) AND ($2 IS NULL OR store_id = $2) \
         ORDER BY added_at DESC LIMIT $3",
    )
    .bind(wecom_user_id)
    .bind(store_id)
    .bind(limit.clamp(1, 500))
    .fetch_all(db.read())
    .await?)
}

/// One step of a relationship's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RelationshipEvent {
    pub external_user_id: String,
    pub wecom_user_id: String,
    pub profile_id: Option<String>,
    /// started | transferred | ended | edited | transfer_failed
    pub change: String,
    pub detail: Option<String>,
    pub at: Micros,
}

/// The history of one customer's relationships with the brand's salespeople, oldest first.
pub async fn relationship_history(
    db: &Db,
    external_user_id: &str,
) -> Result<Vec<RelationshipEvent>> {
    Ok(sqlx::query_as::<_, RelationshipEvent>(
        "SELECT external_user_id, wecom_user_id, profile_id, change, detail, at \
         FROM wecom_relationship_events WHERE external_user_id = $1 ORDER BY at, id",
    )
    .bind(external_user_id)
    .fetch_all(db.read())
    .await?)
}
