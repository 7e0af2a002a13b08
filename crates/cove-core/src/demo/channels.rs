//! The demo's channels: one ingestion source per channel and sandbox WeChat
//! accounts (Official Account, Mini Program, WeCom) with a QR code per store.
//! Their keys are shown once at creation, so the demo keeps the credentials
//! it made in `settings` to print them again on later runs.

use super::Options;
use crate::audience::sources::{self, SourceKind};
use crate::audit::Actor;
use crate::channels::accounts::{self, AccountKind, NewAccount};
use crate::channels::official_account::{self, NewScene, SceneKind};
use crate::channels::outbox::{self, MessageKind, NewMessage};
use crate::channels::wecom::{self, NewContactWay};
use crate::channels::WechatApi;
use crate::config::WechatConfig;
use crate::db::Db;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const SETTING: &str = "demo.channels";

/// Creates the sources and accounts once; returns the credentials for `demo.json`.
pub async fn seed(db: &Db, options: &Options) -> anyhow::Result<Value> {
    if let Some(saved) =
        sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = $1")
            .bind(SETTING)
            .fetch_optional(db.pool())
            .await?
    {
        return Ok(serde_json::from_str(&saved)?);
    }
    let actor = Actor::system();
    let mut rng = StdRng::seed_from_u64(options.seed ^ 0x5eed_c4a2);
    let mut write_keys = Vec::new();
    let names = [
        (SourceKind::MiniProgram, "极光电脑小程序"),
        (SourceKind::H5, "H5 商城"),
        (SourceKind::ServiceAccount, "极光电脑服务号"),
        (SourceKind::Wecom, "企业微信导购"),
        (SourceKind::OfflinePos, "门店收银"),
        (SourceKind::Server, "服务端"),
    ];
    for (kind, name) in names {
        let (source, key) = sources::create_source(db, &actor, name, kind).await?;
        write_keys.push(
            json!({ "kind": kind.as_str(), "name": name, "id": source.id, "write_key": key }),
        );
    }

    let base = options.public_url.trim_end_matches('/');
    let mut wechat = serde_json::Map::new();
    let accounts_to_make = [
        (AccountKind::OfficialAccount, "极光电脑服务号", "wx"),
        (AccountKind::MiniProgram, "极光电脑小程序", "wx"),
        (AccountKind::Wecom, "极光电脑企业微信", "ww"),
    ];
    let mut oa_id = None;
    let mut wecom_id = None;
    let mut mp = None;
    for (kind, name, prefix) in accounts_to_make {
        let app_id = format!("{prefix}{:016x}", rng.gen::<u64>());
        let token = format!("Aurora{:010}", rng.gen_range(0..10_000_000_000u64));
        // WeChat's EncodingAESKeys are 43 letters and digits.
        let encoding_aes_key: String = (0..43)
            .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
            .collect();
        let secret = format!("{:032x}", rng.gen::<u128>());
        let new = NewAccount {
            kind,
            name: name.to_owned(),
            app_id: app_id.clone(),
            token: token.clone(),
            encoding_aes_key: Some(encoding_aes_key.clone()),
            secret: Some(secret.clone()),
            sandbox: true,
        };
        let account = accounts::create(db, &options.vault, &actor, new).await?;
        let callback_url = match kind {
            AccountKind::OfficialAccount => Some(format!("{base}/wechat/oa/{}", account.id)),
            AccountKind::Wecom => Some(format!("{base}/wechat/wecom/{}", account.id)),
            AccountKind::MiniProgram => Some(format!("{base}/wechat/mp/{}", account.id)),
        };
        match kind {
            AccountKind::OfficialAccount => oa_id = Some(account.id.clone()),
            AccountKind::Wecom => wecom_id = Some(account.id.clone()),
            AccountKind::MiniProgram => mp = Some((account.id.clone(), app_id.clone())),
        }
        wechat.insert(
            kind.as_str().to_owned(),
            json!({ "id": account.id, "name": name, "app_id": app_id, "token": token, "encoding_aes_key": encoding_aes_key, "secret": secret, "sandbox": true, "callback_url": callback_url }),
        );
    }

    let mut scenes = Vec::new();
    if let Some(account_id) = &oa_id {
        // The account is in sandbox mode: nothing here calls WeChat.
        let api = WechatApi::new(db.clone(), options.vault.clone(), &WechatConfig::default())?;
        let stores: Vec<(String, String)> =
            sqlx::query_as("SELECT id, name FROM stores ORDER BY code")
                .fetch_all(db.pool())
                .await?;
        for (store_id, store_name) in stores {
            let scene = official_account::create_scene(
                &api,
                &actor,
                NewScene {
                    account_id: account_id.to_owned(),
                    kind: SceneKind::Store,
                    name: format!("{store_name} 桌牌"),
                    store_id: Some(store_id),
                    staff_id: None,
                    campaign: None,
                    page: None,
                },
            )
            .await?;
            scenes.push(json!({ "store": store_name, "scene": scene.scene }));
        }
    }
    let contact_ways = match &wecom_id {
        Some(id) => seed_contact_ways(db, options, &actor, id).await?,
        None => Vec::new(),
    };
    if let Some(id) = &oa_id {
        seed_outbox(db, id).await?;
    }
    if let (Some((mp_id, mp_app_id)), Some(oa_id)) = (&mp, &oa_id) {
        // The shopper of the manifest's `shopper_sign_in` link.
        let shopper = super::ranked_member(db, 1).await?.map(|m| m.2);
        super::notifications::seed(db, (mp_id, mp_app_id), oa_id, shopper.as_deref()).await?;
    }
    let manifest = json!({ "sources": write_keys, "wechat": wechat, "qr_scenes": scenes, "wecom_contact_ways": contact_ways });
    sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)")
        .bind(SETTING)
        .bind(manifest.to_string())
        .bind(crate::clock::now())
        .execute(db.pool())
        .await?;
    Ok(manifest)
}

/// A "contact me" code per store for its salesperson, with a welcome message.
async fn seed_contact_ways(
    db: &Db,
    options: &Options,
    actor: &Actor,
    account_id: &str,
) -> anyhow::Result<Vec<Value>> {
    // The account is in sandbox mode: nothing here calls WeCom.
    let api = WechatApi::new(db.clone(), options.vault.clone(), &WechatConfig::default())?;
    let stores: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, code, name FROM stores ORDER BY code LIMIT 3")
            .fetch_all(db.pool())
            .await?;
    let mut out = Vec::new();
    for (store_id, code, name) in stores {
        let way = wecom::create_contact_way(
            &api,
            actor,
            NewContactWay {
                account_id: account_id.to_owned(),
                name: format!("{name} 导购名片"),
                wecom_user_id: format!("sales_{}", code.to_lowercase().replace('-', "_")),
                staff_id: None,
                store_id: Some(store_id),
                campaign: None,
                welcome_text: Some(format!(
                    "您好，欢迎添加{name}导购，新品与售后问题随时问我。"
                )),
            },
        )
        .await?;
        out.push(json!({ "store": name, "state": way.state }));
    }
    Ok(out)
}

/// A few template messages, so the console outbox shows what would be sent.
async fn seed_outbox(db: &Db, account_id: &str) -> anyhow::Result<()> {
    let samples = [
        (
            "TPL_ORDER_SHIPPED",
            json!({ "first": "您的订单已发货", "keyword1": "AX-14 Pro", "keyword2": "顺丰 SF1024" }),
        ),
        (
            "TPL_REPAIR_DONE",
            json!({ "first": "您的设备已维修完成", "keyword1": "工单 T-2041", "keyword2": "可到店取机" }),
        ),
        (
            "TPL_POINTS_EXPIRING",
            json!({ "first": "您有 320 积分将于月底到期", "keyword1": "320" }),
        ),
    ];
    let mut tx = db.begin().await?;
    for (i, (template, data)) in samples.into_iter().enumerate() {
        outbox::queue(
            &mut tx,
            &NewMessage {
                account_id: account_id.to_owned(),
                kind: MessageKind::Template,
                recipient: format!("oAuroraDemoFan{i:02}"),
                profile_id: None,
                template_id: Some(template.to_owned()),
                payload: json!({ "data": data, "url": "https://aurora.example/me" }),
                client_msg_id: format!("demo.sample:{template}"),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
