//! WeCom customer-contact APIs.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Empty, WeComClient};
use crate::error::{Error, Result};

/// Longest contact-way `state`.
pub const MAX_STATE_CHARS: usize = 30;

/// `external_contact` of `externalcontact/get`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct ExternalProfile {
    /// External user id.
    pub external_userid: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// 1 WeChat user, 2 WeCom user.
    #[serde(default, rename = "type")]
    pub kind: Option<i64>,
    /// UnionID (when available).
    #[serde(default)]
    pub unionid: Option<String>,
}

/// One `follow_user` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct FollowUser {
    /// Member user id.
    pub userid: String,
    /// Remark.
    #[serde(default)]
    pub remark: Option<String>,
    /// Unix seconds of the add.
    #[serde(default)]
    pub createtime: Option<i64>,
    /// Contact-way `state` that brought the customer (attribution).
    #[serde(default)]
    pub state: Option<String>,
    /// How the customer was added.
    #[serde(default)]
    pub add_way: Option<i64>,
}

/// `externalcontact/get` result.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct ExternalContactInfo {
    /// Profile.
    pub external_contact: ExternalProfile,
    /// Members following this customer.
    #[serde(default)]
    pub follow_user: Vec<FollowUser>,
}

/// `externalcontact/add_contact_way` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactWay {
    /// 1 single, 2 multi.
    #[serde(rename = "type")]
    pub kind: u8,
    /// 1 in Mini Program, 2 QR code.
    pub scene: u8,
    /// Remark (≤ 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// Skip verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_verify: Option<bool>,
    /// Attribution state (≤ 30 characters), echoed in `State` of the add event.
    pub state: String,
    /// Member user ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user: Vec<String>,
    /// Department ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub party: Vec<i64>,
}

impl ContactWay {
    /// A QR-code contact way for `users` carrying `state`.
    pub fn qr(users: &[&str], state: &str) -> Result<Self> {
        if state.is_empty() || state.chars().count() > MAX_STATE_CHARS {
            return Err(Error::InvalidArgument(format!(
                "state must be 1..={MAX_STATE_CHARS} characters"
            )));
        }
        Ok(Self {
            kind: if users.len() > 1 { 2 } else { 1 },
            scene: 2,
            remark: None,
            skip_verify: Some(true),
            state: state.to_owned(),
            user: users.iter().map(|u| (*u).to_owned()).collect(),
            party: Vec::new(),
        })
    }
}

/// `add_contact_way` result: persist `config_id` (API-created ways are invisible in the console).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ContactWayCreated {
    /// Configuration id.
    pub config_id: String,
    /// QR code URL (scene 2 only).
    #[serde(default)]
    pub qr_code: Option<String>,
}

/// `send_welcome_msg` body (the `attachments` shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WelcomeMessage {
    /// Welcome code from the add event (20 s, single use).
    pub welcome_code: String,
    /// `{"content": …}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Value>,
    /// Up to 9 attachments (`{"msgtype": "image"|"link"|"miniprogram"|…, …}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Value>,
}

impl WelcomeMessage {
    /// A text welcome message.
    pub fn text(welcome_code: &str, content: &str) -> Self {
        Self {
            welcome_code: welcome_code.to_owned(),
            text: Some(serde_json::json!({ "content": content })),
            attachments: Vec::new(),
        }
    }
}

/// A member of a customer group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct GroupChatMember {
    /// User id (member or external user).
    pub userid: String,
    /// 1 member, 2 external contact.
    #[serde(default, rename = "type")]
    pub kind: Option<i64>,
    /// Unix seconds.
    #[serde(default)]
    pub join_time: Option<i64>,
    /// 1 direct, 2 link, 3 QR (differs from the callback's `JoinScene`).
    #[serde(default)]
    pub join_scene: Option<i64>,
    /// UnionID for external members.
    #[serde(default)]
    pub unionid: Option<String>,
}

/// `groupchat/get` result (`group_chat`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct GroupChat {
    /// Chat id.
    pub chat_id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Owner user id.
    #[serde(default)]
    pub owner: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub create_time: Option<i64>,
    /// Notice.
    #[serde(default)]
    pub notice: Option<String>,
    /// Members.
    #[serde(default)]
    pub member_list: Vec<GroupChatMember>,
    /// Current member version.
    #[serde(default)]
    pub member_version: Option<String>,
}

#[derive(Deserialize)]
struct GroupChatResponse {
    group_chat: GroupChat,
}

impl WeComClient {
    /// `externalcontact/get`.
    pub async fn external_contact(&self, external_userid: &str) -> Result<ExternalContactInfo> {
        self.core
            .json(
                Method::GET,
                "/cgi-bin/externalcontact/get",
                &[("external_userid", external_userid)],
                None,
                true,
            )
            .await
    }

    /// `externalcontact/add_contact_way`.
    pub async fn add_contact_way(&self, way: &ContactWay) -> Result<ContactWayCreated> {
        let body = serde_json::to_value(way)?;
        self.core
            .json(
                Method::POST,
                "/cgi-bin/externalcontact/add_contact_way",
                &[],
                Some(&body),
                true,
            )
            .await
    }

    /// `externalcontact/send_welcome_msg` (within 20 s of the event; `41051` if already used).
    pub async fn send_welcome_msg(&self, message: &WelcomeMessage) -> Result<()> {
        if message.attachments.len() > 9 {
            return Err(Error::InvalidArgument("at most 9 attachments".into()));
        }
        let body = serde_json::to_value(message)?;
        let _: Empty = self
            .core
            .json(
                Method::POST,
                "/cgi-bin/externalcontact/send_welcome_msg",
                &[],
                Some(&body),
                true,
            )
            .await?;
        Ok(())
    }

    /// `externalcontact/groupchat/get`.
    pub async fn group_chat(&self, chat_id: &str, need_name: bool) -> Result<GroupChat> {
        let body = serde_json::json!({ "chat_id": chat_id, "need_name": u8::from(need_name) });
        let response: GroupChatResponse = self
            .core
            .json(
                Method::POST,
                "/cgi-bin/externalcontact/groupchat/get",
                &[],
                Some(&body),
                true,
            )
            .await?;
        Ok(response.group_chat)
    }
}
