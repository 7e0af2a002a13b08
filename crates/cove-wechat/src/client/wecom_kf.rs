//! WeCom Customer Service (微信客服): customers write to the brand's service
//! account from WeChat; the callback only says that messages are waiting
//! (`kf_msg_or_event`), and `kf/sync_msg` pages them out with a cursor.
//! Replies go through `kf/send_msg` within 48 hours of the customer's last
//! message, at most 5 of them.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::WeComClient;
use crate::error::{Error, Result};

/// Most messages `kf/sync_msg` returns per page.
pub const KF_SYNC_LIMIT: u32 = 1000;
/// Longest `text.content` of `kf/send_msg`, in bytes.
pub const KF_TEXT_MAX_BYTES: usize = 2048;
/// Longest caller-chosen `msgid` of `kf/send_msg`.
pub const KF_MSGID_MAX_CHARS: usize = 32;

/// Who a synced message came from (`origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KfOrigin {
    /// 3: the WeChat customer.
    Customer,
    /// 4: an event pushed by the system (session state, enter session, …).
    System,
    /// 5: a servicer, from the WeCom client.
    Servicer,
    /// Anything else.
    Other(i64),
}

impl From<i64> for KfOrigin {
    fn from(v: i64) -> Self {
        match v {
            3 => KfOrigin::Customer,
            4 => KfOrigin::System,
            5 => KfOrigin::Servicer,
            other => KfOrigin::Other(other),
        }
    }
}

/// `text` of a synced message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct KfText {
    /// The text.
    pub content: String,
    /// Set when the customer tapped a menu item.
    #[serde(default)]
    pub menu_id: Option<String>,
}

/// One message of `kf/sync_msg`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct KfMessage {
    /// Message id (unique; the dedupe key).
    pub msgid: String,
    /// The customer-service account.
    pub open_kfid: String,
    /// The customer (absent on some system events).
    #[serde(default)]
    pub external_userid: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub send_time: i64,
    /// 3 customer, 4 system event, 5 servicer.
    #[serde(default)]
    pub origin: i64,
    /// The servicer, for origin 5.
    #[serde(default)]
    pub servicer_userid: Option<String>,
    /// `text`, `image`, `voice`, `video`, `file`, `location`, `link`, `event`, …
    pub msgtype: String,
    /// For `text`.
    #[serde(default)]
    pub text: Option<KfText>,
}

impl KfMessage {
    /// Who sent it.
    pub fn origin(&self) -> KfOrigin {
        KfOrigin::from(self.origin)
    }
}

/// One page of `kf/sync_msg`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct KfSyncPage {
    /// Cursor for the next call; store it only after the page is processed.
    #[serde(default)]
    pub next_cursor: String,
    /// 1 when more pages wait.
    #[serde(default)]
    pub has_more: i64,
    /// The messages, oldest first.
    #[serde(default)]
    pub msg_list: Vec<KfMessage>,
}

#[derive(Deserialize)]
struct SendResponse {
    #[serde(default)]
    msgid: String,
}

/// Checks a caller-chosen `msgid`: 1–32 of `[0-9A-Za-z_-]`.
pub fn valid_kf_msgid(msgid: &str) -> bool {
    !msgid.is_empty()
        && msgid.len() <= KF_MSGID_MAX_CHARS
        && msgid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl WeComClient {
    /// `kf/sync_msg`: the next page after `cursor` (none: from the start the
    /// server still keeps). Pass the callback's `token` to read right after
    /// an event (it lifts the call's rate limit).
    pub async fn kf_sync_msg(
        &self,
        open_kfid: &str,
        cursor: Option<&str>,
        token: Option<&str>,
        limit: u32,
    ) -> Result<KfSyncPage> {
        if open_kfid.is_empty() || !(1..=KF_SYNC_LIMIT).contains(&limit) {
            return Err(Error::InvalidArgument(format!(
                "open_kfid is required and limit must be 1 to {KF_SYNC_LIMIT}"
            )));
        }
        let mut body =
            serde_json::json!({ "open_kfid": open_kfid, "limit": limit, "voice_format": 0 });
        if let Some(cursor) = cursor.filter(|c| !c.is_empty()) {
            body["cursor"] = cursor.into();
        }
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            body["token"] = token.into();
        }
        self.core
            .json(Method::POST, "/cgi-bin/kf/sync_msg", &[], Some(&body), true)
            .await
    }

    /// `kf/send_msg` with a text; `msgid` is Cove's idempotency key (WeCom
    /// refuses a second message with the same id). Returns WeCom's msgid.
    pub async fn kf_send_text(
        &self,
        open_kfid: &str,
        touser: &str,
        msgid: &str,
        content: &str,
    ) -> Result<String> {
        if !valid_kf_msgid(msgid) {
            return Err(Error::InvalidArgument(
                "msgid must be 1 to 32 of 0-9, A-Z, a-z, _ and -".into(),
            ));
        }
        if content.is_empty() || content.len() > KF_TEXT_MAX_BYTES {
            return Err(Error::InvalidArgument(format!(
                "text must be 1 to {KF_TEXT_MAX_BYTES} bytes"
            )));
        }
        let body = serde_json::json!({
            "touser": touser, "open_kfid": open_kfid, "msgid": msgid,
            "msgtype": "text", "text": { "content": content },
        });
        let response: SendResponse = self
            .core
            .json(Method::POST, "/cgi-bin/kf/send_msg", &[], Some(&body), true)
            .await?;
        Ok(response.msgid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_page_parses_customer_and_system_messages() {
        let page: KfSyncPage = serde_json::from_str(
            r#"{"errcode":0,"errmsg":"ok","next_cursor":"4gw7MepFLfgF2VC5npN","has_more":1,
            "msg_list":[{"msgid":"from_msgid_4622416642169452483","open_kfid":"wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q",
            "external_userid":"wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw","send_time":1615478585,"origin":3,
            "msgtype":"text","text":{"content":"你好"}},
            {"msgid":"e1","open_kfid":"wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q","send_time":1615478590,"origin":4,
            "msgtype":"event","event":{"event_type":"enter_session"}}]}"#,
        )
        .unwrap();
        assert_eq!(page.has_more, 1);
        assert_eq!(page.msg_list.len(), 2);
        assert_eq!(page.msg_list[0].origin(), KfOrigin::Customer);
        assert_eq!(page.msg_list[0].text.as_ref().unwrap().content, "你好");
        assert_eq!(page.msg_list[1].origin(), KfOrigin::System);
        assert!(page.msg_list[1].text.is_none());
    }

    #[test]
    fn msgids_are_checked() {
        assert!(valid_kf_msgid("oa_reply-0123456789abcdef"));
        assert!(!valid_kf_msgid(""));
        assert!(!valid_kf_msgid(&"a".repeat(33)));
        assert!(!valid_kf_msgid("has space"));
        assert!(!valid_kf_msgid("中文"));
    }
}
