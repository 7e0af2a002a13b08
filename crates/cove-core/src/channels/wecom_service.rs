//! WeCom Customer Service (微信客服): customers write to the brand from
//! WeChat; their messages become tickets like Official Account texts do.
//!
//! The callback only says that messages wait (`kf_msg_or_event`); [`sync`]
//! reads them page by page from where the account's cursor stands. Each page
//! is applied in one transaction with the cursor, and every message is filed
//! once by its msgid, so a retried job or two nodes reading at once never
//! file a message twice.

use super::clients::WechatApi;
use super::conversations::{self, Via};
use crate::audience::domain::{self, DomainEvent};
use crate::audience::{IdType, Identifier};
use crate::clock::{self, Micros, SECOND};
use crate::db::Db;
use crate::error::Result;
use cove_wechat::client::{KfMessage, KfOrigin, KF_SYNC_LIMIT};
use serde_json::json;

/// Most pages read for one callback; the next callback goes on from the cursor.
const MAX_PAGES: usize = 50;

/// What the ticket shows for a message that is not text.
fn text_of(message: &KfMessage) -> Option<String> {
    let label = match message.msgtype.as_str() {
        "text" => return message.text.as_ref().map(|t| t.content.clone()),
        "event" => return None,
        "image" => "[图片]",
        "voice" => "[语音]",
        "video" => "[视频]",
        "file" => "[文件]",
        "location" => "[位置]",
        "link" => "[链接]",
        "miniprogram" => "[小程序]",
        "business_card" => "[名片]",
        other => return Some(format!("[{other}]")),
    };
    Some(label.to_owned())
}

/// Reads the waiting messages of one customer-service account and files the
/// customers' ones; returns how many were filed.
pub async fn sync(
    api: &WechatApi,
    db: &Db,
    account_id: &str,
    open_kfid: &str,
    token: &str,
) -> Result<usize> {
    let (_, client) = api.wecom(account_id).await?;
    let mut filed = 0;
    for page_no in 0..MAX_PAGES {
        let cursor: Option<String> = sqlx::query_scalar(
            "SELECT next_cursor FROM wecom_kf_cursors WHERE account_id = $1 AND open_kfid = $2",
        )
        .bind(account_id)
        .bind(open_kfid)
        .fetch_optional(db.pool())
        .await?;
        // The callback's token lifts the rate limit of the first read after it.
        let token = (page_no == 0).then_some(token);
        let page = client
            .kf_sync_msg(open_kfid, cursor.as_deref(), token, KF_SYNC_LIMIT)
            .await
            .map_err(|e| anyhow::anyhow!("kf/sync_msg: {e}"))?;
        let mut tx = db.begin().await?;
        for message in &page.msg_list {
            let fresh = sqlx::query(
                "INSERT INTO wecom_kf_messages (account_id, msgid, received_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (account_id, msgid) DO NOTHING",
            )
            .bind(account_id)
            .bind(&message.msgid)
            .bind(clock::now())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !fresh || message.origin() != KfOrigin::Customer {
                continue;
            }
            let (Some(external), Some(text)) =
                (message.external_userid.as_deref(), text_of(message))
            else {
                continue;
            };
            let Ok(id) = Identifier::new(IdType::WecomExternalId, external) else {
                continue;
            };
            let at: Micros = message.send_time.saturating_mul(SECOND);
            let key = format!("wecom.kf:{account_id}:{}", message.msgid);
            let profile_id = domain::profile_for(&mut tx, db.backend(), &[id], &key, at).await?;
            let props = json!({ "channel": "wecom_service", "account_id": account_id,
                "open_kfid": open_kfid, "external_user_id": external,
                "msgtype": message.msgtype, "text": text.chars().take(500).collect::<String>() });
            let event = DomainEvent::new("wecom.message_received", &profile_id, key, props, at);
            if domain::emit(&mut tx, &event).await? {
                conversations::on_text(
                    &mut tx,
                    db.backend(),
                    account_id,
                    Via::WecomService { open_kfid },
                    external,
                    &profile_id,
                    &text,
                    at,
                )
                .await?;
                filed += 1;
            }
        }
        if !page.next_cursor.is_empty() {
            sqlx::query(
                "INSERT INTO wecom_kf_cursors (account_id, open_kfid, next_cursor, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, open_kfid) \
                 DO UPDATE SET next_cursor = excluded.next_cursor, updated_at = excluded.updated_at",
            )
            .bind(account_id)
            .bind(open_kfid)
            .bind(&page.next_cursor)
            .bind(clock::now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if page.has_more == 0 {
            break;
        }
    }
    Ok(filed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_customer_content_is_filed_and_media_is_named() {
        let mut m = KfMessage {
            msgtype: "image".into(),
            ..KfMessage::default()
        };
        assert_eq!(text_of(&m).as_deref(), Some("[图片]"));
        m.msgtype = "event".into();
        assert_eq!(text_of(&m), None);
        m.msgtype = "text".into();
        m.text = Some(cove_wechat::client::KfText {
            content: "有现货吗".into(),
            menu_id: None,
        });
        assert_eq!(text_of(&m).as_deref(), Some("有现货吗"));
    }
}
