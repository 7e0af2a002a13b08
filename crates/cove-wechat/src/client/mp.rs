//! Official Account / Mini Program server APIs.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Body, Empty, MpClient};
use crate::error::{Error, Result};
use crate::qr::{check_mp_scene, QrCreate};

/// `jscode2session` result. `session_key` must never leave the server.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Session {
    /// OpenID under this AppID.
    pub openid: String,
    /// Session key (for `encryptedData`).
    pub session_key: String,
    /// UnionID, when the app is bound to an Open Platform account.
    #[serde(default)]
    pub unionid: Option<String>,
}

/// `cgi-bin/user/info`: an Official Account follower.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct FollowerInfo {
    /// 1 while following; 0 otherwise (and then nothing else is returned).
    #[serde(default)]
    pub subscribe: i64,
    /// OpenID under this account.
    #[serde(default)]
    pub openid: String,
    /// UnionID, when the account is bound to an Open Platform account.
    #[serde(default)]
    pub unionid: Option<String>,
    /// Unix seconds of the (latest) follow.
    #[serde(default)]
    pub subscribe_time: Option<i64>,
    /// How they followed (`ADD_SCENE_QR_CODE`, `ADD_SCENE_SEARCH`, …).
    #[serde(default)]
    pub subscribe_scene: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("openid", &self.openid)
            .field("session_key", &"<redacted>")
            .field("unionid", &self.unionid)
            .finish()
    }
}

/// `watermark` of decrypted / returned user data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Watermark {
    /// Unix seconds.
    #[serde(default)]
    pub timestamp: i64,
    /// AppID the data was issued to.
    pub appid: String,
}

/// `phone_info` of `getuserphonenumber`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneInfo {
    /// With country code for foreign numbers.
    pub phone_number: String,
    /// Without country code.
    pub pure_phone_number: String,
    /// Country code.
    pub country_code: String,
    /// Watermark (checked against the AppID).
    pub watermark: Watermark,
}

/// A Mini Program subscription message (`subscribeMessage.send`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscribeMessage {
    /// OpenID.
    pub touser: String,
    /// Template id.
    pub template_id: String,
    /// Page (may carry a query).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// `{"key": {"value": …}}`.
    pub data: BTreeMap<String, Value>,
    /// `developer` | `trial` | `formal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram_state: Option<String>,
    /// `zh_CN` | `en_US` | `zh_HK` | `zh_TW`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

impl SubscribeMessage {
    /// A message with `data` given as `(key, value)` pairs.
    pub fn new(touser: &str, template_id: &str, data: &[(&str, &str)]) -> Self {
        Self {
            touser: touser.to_owned(),
            template_id: template_id.to_owned(),
            page: None,
            data: data
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::json!({ "value": v })))
                .collect(),
            miniprogram_state: None,
            lang: None,
        }
    }
}

/// An Official Account customer-service message (`message/custom/send`).
/// WeChat delivers it only within 48 hours of the follower's last message
/// to the account (errcode 45015 after that).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomMessage {
    /// OpenID of the follower.
    pub touser: String,
    #[serde(flatten)]
    pub body: CustomBody,
}

/// What a customer-service message carries; WeChat names it in `msgtype`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "msgtype", rename_all = "lowercase")]
pub enum CustomBody {
    /// `{"msgtype": "text", "text": {"content": "…"}}`.
    Text { text: TextContent },
}

/// The content of a text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextContent {
    pub content: String,
}

impl CustomMessage {
    /// A text message to `touser`.
    pub fn text(touser: &str, content: &str) -> Self {
        Self {
            touser: touser.to_owned(),
            body: CustomBody::Text {
                text: TextContent {
                    content: content.to_owned(),
                },
            },
        }
    }
}

/// A Mini Program link inside an OA template message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MiniProgramLink {
    /// Mini Program AppID.
    pub appid: String,
    /// Page path.
    pub pagepath: String,
}

/// An Official Account template message (`message/template/send`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateMessage {
    /// OpenID.
    pub touser: String,
    /// Template id.
    pub template_id: String,
    /// Link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Mini Program link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgramLink>,
    /// Anti-reentry key: put the idempotency key here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// `{"keyword1": {"value": …}}`.
    pub data: BTreeMap<String, Value>,
}

/// `qrcode/create` result.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QrTicket {
    /// Ticket (for `showqrcode`).
    pub ticket: String,
    /// Lifetime of a temporary code.
    #[serde(default)]
    pub expire_seconds: Option<i64>,
    /// The URL to render into a QR image.
    pub url: String,
}

/// `getwxacodeunlimit` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WxaCodeRequest {
    /// Scene: 1..=32 allowed characters.
    pub scene: String,
    /// Page without leading `/` and without query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// `false` allows an unpublished page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_path: Option<bool>,
    /// `release` | `trial` | `develop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_version: Option<String>,
    /// 280..=1280.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Transparent background.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_hyaline: Option<bool>,
}

impl WxaCodeRequest {
    /// A request for `scene` opening `page`.
    pub fn new(scene: &str, page: Option<&str>) -> Self {
        Self {
            scene: scene.to_owned(),
            page: page.map(str::to_owned),
            check_path: None,
            env_version: None,
            width: None,
            is_hyaline: None,
        }
    }
}

#[derive(Deserialize)]
struct PhoneResponse {
    phone_info: PhoneInfo,
}

#[derive(Deserialize)]
struct TemplateSendResponse {
    #[serde(default)]
    msgid: i64,
}

impl MpClient {
    /// `cgi-bin/user/info`: a follower's subscription state and UnionID.
    pub async fn follower_info(&self, openid: &str) -> Result<FollowerInfo> {
        if openid.is_empty() {
            return Err(Error::InvalidArgument("openid is required".into()));
        }
        self.core
            .json(
                Method::GET,
                "/cgi-bin/user/info",
                &[("openid", openid), ("lang", "zh_CN")],
                None,
                true,
            )
            .await
    }

    /// `sns/jscode2session`: exchanges a `wx.login` code for OpenID and session key.
    pub async fn code2session(&self, js_code: &str) -> Result<Session> {
        self.core
            .json(
                Method::GET,
                "/sns/jscode2session",
                &[
                    ("appid", self.appid.as_str()),
                    ("secret", self.secret.as_str()),
                    ("js_code", js_code),
                    ("grant_type", "authorization_code"),
                ],
                None,
                false,
            )
            .await
    }

    /// `wxa/business/getuserphonenumber`; checks `watermark.appid`.
    pub async fn phone_number(&self, code: &str) -> Result<PhoneInfo> {
        let body = serde_json::json!({ "code": code });
        let response: PhoneResponse = self
            .core
            .json(
                Method::POST,
                "/wxa/business/getuserphonenumber",
                &[],
                Some(&body),
                true,
            )
            .await?;
        if response.phone_info.watermark.appid != self.appid {
            return Err(Error::WatermarkMismatch {
                expected: self.appid.clone(),
                found: response.phone_info.watermark.appid,
            });
        }
        Ok(response.phone_info)
    }

    /// `cgi-bin/message/subscribe/send`.
    pub async fn send_subscribe_message(&self, message: &SubscribeMessage) -> Result<()> {
        let body = serde_json::to_value(message)?;
        let _: Empty = self
            .core
            .json(
                Method::POST,
                "/cgi-bin/message/subscribe/send",
                &[],
                Some(&body),
                true,
            )
            .await?;
        Ok(())
    }

    /// `cgi-bin/message/template/send` (Official Account); returns `msgid`.
    pub async fn send_template_message(&self, message: &TemplateMessage) -> Result<i64> {
        let body = serde_json::to_value(message)?;
        let response: TemplateSendResponse = self
            .core
            .json(
                Method::POST,
                "/cgi-bin/message/template/send",
                &[],
                Some(&body),
                true,
            )
            .await?;
        Ok(response.msgid)
    }

    /// `cgi-bin/message/custom/send` (Official Account customer-service message).
    pub async fn send_custom_message(&self, message: &CustomMessage) -> Result<()> {
        let body = serde_json::to_value(message)?;
        let _: Empty = self
            .core
            .json(
                Method::POST,
                "/cgi-bin/message/custom/send",
                &[],
                Some(&body),
                true,
            )
            .await?;
        Ok(())
    }

    /// `cgi-bin/qrcode/create` (Official Account parametric QR code).
    pub async fn create_qrcode(&self, request: &QrCreate) -> Result<QrTicket> {
        let body = request.to_json();
        self.core
            .json(
                Method::POST,
                "/cgi-bin/qrcode/create",
                &[],
                Some(&body),
                true,
            )
            .await
    }

    /// `wxa/getwxacodeunlimit`: returns the image bytes, or the API error.
    pub async fn wxacode_unlimit(&self, request: &WxaCodeRequest) -> Result<Vec<u8>> {
        check_mp_scene(&request.scene)?;
        if let Some(page) = &request.page {
            if page.starts_with('/') || page.contains('?') {
                return Err(Error::InvalidArgument(
                    "page must have no leading '/' and no query".into(),
                ));
            }
        }
        let body = serde_json::to_value(request)?;
        match self
            .core
            .call(
                Method::POST,
                "/wxa/getwxacodeunlimit",
                &[],
                Some(&body),
                true,
            )
            .await?
        {
            Body::Bytes(b) => Ok(b),
            Body::Json(v) => Err(Error::HttpStatus {
                status: 200,
                body: format!("expected an image, got JSON {v}"),
            }),
        }
    }
}
