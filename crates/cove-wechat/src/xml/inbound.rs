//! Typed inbound messages and events (Official Account, Mini Program push, WeCom).

use std::collections::BTreeMap;

use super::{parse, Element};
use crate::error::{Result, XmlError};
use crate::qr::QRSCENE_PREFIX;

/// Fields common to every message and event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// `ToUserName`: the account (gh_ id, or CorpID for WeCom).
    pub to_user_name: String,
    /// `FromUserName`: the user's OpenID (or `sys` for WeCom system events).
    pub from_user_name: String,
    /// `CreateTime` in Unix seconds.
    pub create_time: i64,
    /// `MsgType` as sent.
    pub msg_type: String,
}

/// Kind of a subscription-message event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeMsgKind {
    /// `subscribe_msg_popup_event`: the user answered the authorisation popup.
    Popup,
    /// `subscribe_msg_change_event`: the user changed the subscription in settings.
    Change,
    /// `subscribe_msg_sent_event`: the result of a send.
    Sent,
}

/// One `List` item of a subscription-message event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscribeMsgItem {
    /// `TemplateId`.
    pub template_id: String,
    /// `SubscribeStatusString` (`accept` / `reject`), popup and change events.
    pub subscribe_status: Option<String>,
    /// `PopupScene`, popup events.
    pub popup_scene: Option<String>,
    /// `MsgID`, sent events.
    pub msg_id: Option<String>,
    /// `ErrorCode`, sent events.
    pub error_code: Option<String>,
    /// `ErrorStatus`, sent events.
    pub error_status: Option<String>,
}

/// `ChangeType` of a WeCom `change_external_contact` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalContactChange {
    /// `add_external_contact`: a member added a customer.
    Add,
    /// `add_half_external_contact`: the customer added the member without verification.
    AddHalf,
    /// `edit_external_contact`: remark or tags edited.
    Edit,
    /// `del_external_contact`: the member deleted the customer.
    Delete,
    /// `del_follow_user`: the customer deleted the member.
    DeleteFollowUser,
    /// `transfer_fail`: customer takeover failed.
    TransferFail,
    /// Any other value, kept verbatim.
    Other(String),
}

impl ExternalContactChange {
    fn parse(s: &str) -> Self {
        match s {
            "add_external_contact" => Self::Add,
            "add_half_external_contact" => Self::AddHalf,
            "edit_external_contact" => Self::Edit,
            "del_external_contact" => Self::Delete,
            "del_follow_user" => Self::DeleteFollowUser,
            "transfer_fail" => Self::TransferFail,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// `ChangeType` of a WeCom `change_external_chat` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalChatChange {
    /// `create`.
    Create,
    /// `update`, with the `UpdateDetail` (`add_member`, `del_member`, `change_owner`,
    /// `change_name`, `change_notice`).
    Update(String),
    /// `dismiss`.
    Dismiss,
    /// Any other value, kept verbatim.
    Other(String),
}

/// A typed inbound callback (after decryption).
///
/// Event names are compared case-insensitively. Anything not recognised (or missing a field that
/// its type requires) becomes [`Inbound::Other`] with all leaf fields kept.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Inbound {
    /// `text`.
    Text {
        /// Common fields.
        header: Header,
        /// `Content`.
        content: String,
        /// `MsgId`.
        msg_id: Option<String>,
    },
    /// `image`.
    Image {
        /// Common fields.
        header: Header,
        /// `PicUrl`.
        pic_url: String,
        /// `MediaId`.
        media_id: String,
        /// `MsgId`.
        msg_id: Option<String>,
    },
    /// `voice`.
    Voice {
        /// Common fields.
        header: Header,
        /// `MediaId`.
        media_id: String,
        /// `Format` (amr, speex, …).
        format: String,
        /// `Recognition`, when speech recognition is on.
        recognition: Option<String>,
        /// `MsgId`.
        msg_id: Option<String>,
    },
    /// `video` or `shortvideo`.
    Video {
        /// Common fields.
        header: Header,
        /// `MediaId`.
        media_id: String,
        /// `ThumbMediaId`.
        thumb_media_id: String,
        /// `MsgId`.
        msg_id: Option<String>,
    },
    /// `location` message.
    Location {
        /// Common fields.
        header: Header,
        /// `Location_X` (latitude).
        x: f64,
        /// `Location_Y` (longitude).
        y: f64,
        /// `Scale`.
        scale: Option<i64>,
        /// `Label`.
        label: String,
        /// `MsgId`.
        msg_id: Option<String>,
    },
    /// `link`.
    Link {
        /// Common fields.
        header: Header,
        /// `Title`.
        title: String,
        /// `Description`.
        description: String,
        /// `Url`.
        url: String,
        /// `MsgId`.
        msg_id: Option<String>,
    },
    /// `subscribe` event; `scene` is set (prefix `qrscene_` stripped) for a follow by scanning a
    /// parametric QR code.
    Subscribe {
        /// Common fields.
        header: Header,
        /// The QR scene (without `qrscene_`), if any.
        scene: Option<String>,
        /// `EventKey` as sent (may be a `scanbarcode|` / `scanimage|` key).
        event_key: Option<String>,
        /// `Ticket` of the scanned QR code.
        ticket: Option<String>,
    },
    /// `unsubscribe` event.
    Unsubscribe {
        /// Common fields.
        header: Header,
    },
    /// `SCAN` event: an existing follower scanned a parametric QR code.
    Scan {
        /// Common fields.
        header: Header,
        /// The scene (`EventKey`, no prefix).
        scene: String,
        /// `Ticket`.
        ticket: Option<String>,
    },
    /// `CLICK` menu event.
    Click {
        /// Common fields.
        header: Header,
        /// `EventKey`: the menu key.
        key: String,
    },
    /// `VIEW` menu event.
    View {
        /// Common fields.
        header: Header,
        /// `EventKey`: the URL.
        url: String,
    },
    /// `LOCATION` event (location reporting).
    LocationReport {
        /// Common fields.
        header: Header,
        /// `Latitude`.
        latitude: f64,
        /// `Longitude`.
        longitude: f64,
        /// `Precision`.
        precision: Option<f64>,
    },
    /// `TEMPLATESENDJOBFINISH`: delivery result of an OA template message.
    TemplateSendJobFinish {
        /// Common fields.
        header: Header,
        /// `MsgID` of the template message.
        msg_id: String,
        /// `Status` (`success`, `failed:user block`, `failed: system failed`, …).
        status: String,
    },
    /// Subscription-message popup / change / sent events.
    SubscribeMsg {
        /// Common fields.
        header: Header,
        /// Which event.
        kind: SubscribeMsgKind,
        /// The `List` items.
        items: Vec<SubscribeMsgItem>,
    },
    /// WeCom `change_external_contact`.
    ExternalContact {
        /// Common fields.
        header: Header,
        /// `ChangeType`.
        change: ExternalContactChange,
        /// `UserID`: the member.
        user_id: String,
        /// `ExternalUserID`: the customer.
        external_user_id: String,
        /// `State` (contact-way `state` or acquisition-link `customer_channel`).
        state: Option<String>,
        /// `WelcomeCode` (valid 20 s, single use).
        welcome_code: Option<String>,
        /// `Source` (`DELETE_BY_TRANSFER`) on `del_external_contact`.
        source: Option<String>,
        /// `FailReason` on `transfer_fail`.
        fail_reason: Option<String>,
    },
    /// WeCom `change_external_chat`.
    ExternalChat {
        /// Common fields.
        header: Header,
        /// `ChangeType` (+ `UpdateDetail`).
        change: ExternalChatChange,
        /// `ChatId`.
        chat_id: String,
        /// `JoinScene` (callback values: 0 invited/link, 3 QR).
        join_scene: Option<i64>,
        /// `QuitScene` (0 left, 1 removed).
        quit_scene: Option<i64>,
        /// `MemChangeCnt`.
        mem_change_cnt: Option<i64>,
        /// `MemChangeList` user ids (`<Item>` children or comma-separated text).
        mem_change_list: Vec<String>,
        /// `LastMemVer`.
        last_mem_ver: Option<String>,
        /// `CurMemVer`.
        cur_mem_ver: Option<String>,
    },
    /// WeCom Customer Service `kf_msg_or_event`: messages wait for `kf/sync_msg`.
    KfMsgOrEvent {
        /// Common fields.
        header: Header,
        /// `Token` for the next `kf/sync_msg` (valid 10 minutes).
        token: String,
        /// `OpenKfId`: the customer-service account.
        open_kf_id: String,
    },
    /// Anything else; `fields` holds every leaf element.
    Other {
        /// Common fields (defaults when absent).
        header: Header,
        /// `Event`, when present.
        event: Option<String>,
        /// Every leaf element, name → text.
        fields: BTreeMap<String, String>,
    },
}

impl Inbound {
    /// The common header.
    pub fn header(&self) -> &Header {
        match self {
            Inbound::Text { header, .. }
            | Inbound::Image { header, .. }
            | Inbound::Voice { header, .. }
            | Inbound::Video { header, .. }
            | Inbound::Location { header, .. }
            | Inbound::Link { header, .. }
            | Inbound::Subscribe { header, .. }
            | Inbound::Unsubscribe { header }
            | Inbound::Scan { header, .. }
            | Inbound::Click { header, .. }
            | Inbound::View { header, .. }
            | Inbound::LocationReport { header, .. }
            | Inbound::TemplateSendJobFinish { header, .. }
            | Inbound::SubscribeMsg { header, .. }
            | Inbound::ExternalContact { header, .. }
            | Inbound::ExternalChat { header, .. }
            | Inbound::KfMsgOrEvent { header, .. }
            | Inbound::Other { header, .. } => header,
        }
    }
}

/// Parses a decrypted (or plaintext-mode) callback body into a typed [`Inbound`].
pub fn parse_inbound(body: &str) -> Result<Inbound> {
    let root = parse(body)?;
    Ok(from_element(&root)?)
}

fn from_element(root: &Element) -> std::result::Result<Inbound, XmlError> {
    let header = Header {
        to_user_name: text(root, "ToUserName"),
        from_user_name: text(root, "FromUserName"),
        create_time: match root.text("CreateTime").map(str::trim) {
            None | Some("") => 0,
            Some(v) => v.parse().map_err(|_| XmlError::InvalidField {
                field: "CreateTime",
                value: v.to_owned(),
            })?,
        },
        msg_type: text(root, "MsgType"),
    };
    let msg_type = header.msg_type.to_ascii_lowercase();
    let msg_id = opt(root, "MsgId");
    let other = |header: Header| Inbound::Other {
        event: opt(root, "Event"),
        fields: root.fields(),
        header,
    };
    let typed = match msg_type.as_str() {
        "text" => root.child("Content").map(|c| Inbound::Text {
            header: header.clone(),
            content: c.text.clone(),
            msg_id: msg_id.clone(),
        }),
        "image" => Some(Inbound::Image {
            header: header.clone(),
            pic_url: text(root, "PicUrl"),
            media_id: text(root, "MediaId"),
            msg_id: msg_id.clone(),
        }),
        "voice" => Some(Inbound::Voice {
            header: header.clone(),
            media_id: text(root, "MediaId"),
            format: text(root, "Format"),
            recognition: opt(root, "Recognition"),
            msg_id: msg_id.clone(),
        }),
        "video" | "shortvideo" => Some(Inbound::Video {
            header: header.clone(),
            media_id: text(root, "MediaId"),
            thumb_media_id: text(root, "ThumbMediaId"),
            msg_id: msg_id.clone(),
        }),
        "location" => match (float(root, "Location_X"), float(root, "Location_Y")) {
            (Some(x), Some(y)) => Some(Inbound::Location {
                header: header.clone(),
                x,
                y,
                scale: int(root, "Scale"),
                label: text(root, "Label"),
                msg_id: msg_id.clone(),
            }),
            _ => None,
        },
        "link" => Some(Inbound::Link {
            header: header.clone(),
            title: text(root, "Title"),
            description: text(root, "Description"),
            url: text(root, "Url"),
            msg_id: msg_id.clone(),
        }),
        "event" => event(root, &header),
        _ => None,
    };
    Ok(typed.unwrap_or_else(|| other(header)))
}

fn event(root: &Element, header: &Header) -> Option<Inbound> {
    let name = root.text("Event")?.trim().to_ascii_lowercase();
    let header = header.clone();
    let key = opt(root, "EventKey");
    let ticket = opt(root, "Ticket");
    Some(match name.as_str() {
        "subscribe" => Inbound::Subscribe {
            header,
            scene: key
                .as_deref()
                .and_then(|k| k.strip_prefix(QRSCENE_PREFIX))
                .map(str::to_owned),
            event_key: key,
            ticket,
        },
        "unsubscribe" => Inbound::Unsubscribe { header },
        "scan" => Inbound::Scan {
            header,
            scene: key?,
            ticket,
        },
        "click" => Inbound::Click { header, key: key? },
        "view" => Inbound::View { header, url: key? },
        "location" => Inbound::LocationReport {
            header,
            latitude: float(root, "Latitude")?,
            longitude: float(root, "Longitude")?,
            precision: float(root, "Precision"),
        },
        "templatesendjobfinish" => Inbound::TemplateSendJobFinish {
            header,
            msg_id: opt(root, "MsgID").or_else(|| opt(root, "MsgId"))?,
            status: text(root, "Status"),
        },
        "subscribe_msg_popup_event" => subscribe_msg(
            root,
            header,
            SubscribeMsgKind::Popup,
            "SubscribeMsgPopupEvent",
        ),
        "subscribe_msg_change_event" => subscribe_msg(
            root,
            header,
            SubscribeMsgKind::Change,
            "SubscribeMsgChangeEvent",
        ),
        "subscribe_msg_sent_event" => subscribe_msg(
            root,
            header,
            SubscribeMsgKind::Sent,
            "SubscribeMsgSentEvent",
        ),
        "change_external_contact" => Inbound::ExternalContact {
            header,
            change: ExternalContactChange::parse(root.text("ChangeType")?.trim()),
            user_id: text(root, "UserID"),
            external_user_id: text(root, "ExternalUserID"),
            state: opt(root, "State"),
            welcome_code: opt(root, "WelcomeCode"),
            source: opt(root, "Source"),
            fail_reason: opt(root, "FailReason"),
        },
        "kf_msg_or_event" => Inbound::KfMsgOrEvent {
            header,
            token: opt(root, "Token")?,
            open_kf_id: opt(root, "OpenKfId")?,
        },
        "change_external_chat" => {
            let change = match root.text("ChangeType")?.trim() {
                "create" => ExternalChatChange::Create,
                "dismiss" => ExternalChatChange::Dismiss,
                "update" => ExternalChatChange::Update(text(root, "UpdateDetail")),
                other => ExternalChatChange::Other(other.to_owned()),
            };
            Inbound::ExternalChat {
                header,
                change,
                chat_id: opt(root, "ChatId")?,
                join_scene: int(root, "JoinScene"),
                quit_scene: int(root, "QuitScene"),
                mem_change_cnt: int(root, "MemChangeCnt"),
                mem_change_list: member_list(root.child("MemChangeList")),
                last_mem_ver: opt(root, "LastMemVer"),
                cur_mem_ver: opt(root, "CurMemVer"),
            }
        }
        _ => return None,
    })
}

fn subscribe_msg(root: &Element, header: Header, kind: SubscribeMsgKind, wrapper: &str) -> Inbound {
    let items = root
        .child(wrapper)
        .map(|w| {
            w.children_named("List")
                .map(|item| SubscribeMsgItem {
                    template_id: text(item, "TemplateId"),
                    subscribe_status: opt(item, "SubscribeStatusString"),
                    popup_scene: opt(item, "PopupScene"),
                    msg_id: opt(item, "MsgID"),
                    error_code: opt(item, "ErrorCode"),
                    error_status: opt(item, "ErrorStatus"),
                })
                .collect()
        })
        .unwrap_or_default();
    Inbound::SubscribeMsg {
        header,
        kind,
        items,
    }
}

fn member_list(list: Option<&Element>) -> Vec<String> {
    let Some(list) = list else {
        return Vec::new();
    };
    if list.children.is_empty() {
        list.text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    } else {
        list.children_named("Item")
            .map(|i| i.text.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

fn text(e: &Element, name: &str) -> String {
    e.text(name).unwrap_or_default().to_owned()
}

fn opt(e: &Element, name: &str) -> Option<String> {
    e.text(name).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn int(e: &Element, name: &str) -> Option<i64> {
    e.text(name)?.trim().parse().ok()
}

fn float(e: &Element, name: &str) -> Option<f64> {
    e.text(name)?.trim().parse().ok()
}
