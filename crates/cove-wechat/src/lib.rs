//! WeChat ecosystem protocols for a brand's WeChat store, membership and service center.
//!
//! * [`msgcrypt`] — message-callback crypto (`WXBizMsgCrypt`) for Official Accounts, Mini Program
//!   message push, the Open Platform and WeCom (XML and JSON envelopes).
//! * [`xml`] — hardened callback XML parsing, typed [`xml::Inbound`] messages/events and passive
//!   [`xml::Reply`] builders.
//! * [`qr`] — Official Account parametric QR scenes, Mini Program scenes (signed short codec) and
//!   printed-URL QR helpers.
//! * [`pay`] — WeChat Pay API v3: signing, verification (replay window, public-key and
//!   certificate modes), resource decryption, notifications, JSAPI `paySign`, client.
//! * [`token`] — access tokens (`stable_token`, WeCom `gettoken`) with a shared [`token::TokenStore`],
//!   early refresh, single-flight refresh and one retry after a token rejection.
//! * [`client`] — Mini Program / Official Account and WeCom API clients with configurable hosts
//!   ([`client::ApiBase`]) and bounded back-off on `45009` / `-1`.
//! * [`clock`] — injectable time source.
//! * [`wxa`] — Mini Program `encryptedData` decryption and `rawData` signatures.
//!
//! # Example: an Official Account safe-mode callback
//!
//! ```
//! use cove_wechat::msgcrypt::MsgCrypt;
//! use cove_wechat::xml::{parse_inbound, Inbound, Reply};
//!
//! let crypt = MsgCrypt::new("token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx0123456789abcdef")?;
//! # let plain = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>7</MsgId></xml>";
//! # let body = crypt.encrypt_reply(plain, "1700000000", "n1")?;
//! # let msg_signature = crypt.msg_signature("1700000000", "n1", &crypt.parse_envelope(&body)?.encrypt);
//! // `body` is the POST body; msg_signature / timestamp / nonce come from the query string.
//! let xml = crypt.decrypt_message(&msg_signature, "1700000000", "n1", &body)?;
//! if let Inbound::Text { header, content, .. } = parse_inbound(&xml)? {
//!     let reply = Reply::Text {
//!         to: header.from_user_name,
//!         from: header.to_user_name,
//!         create_time: 1_700_000_001,
//!         content: format!("you said {content}"),
//!     };
//!     let envelope = crypt.encrypt_reply(&reply.to_xml(), "1700000001", "n2")?;
//!     assert!(envelope.starts_with("<xml>\n<Encrypt><![CDATA["));
//! }
//! # Ok::<(), cove_wechat::Error>(())
//! ```

pub mod client;
pub mod clock;
pub mod error;
pub mod msgcrypt;
pub mod pay;
pub mod qr;
pub mod token;
pub mod wxa;
pub mod xml;

pub use error::{Error, Result, XmlError};
