//! QR codes: Official Account parametric scenes, Mini Program `getwxacodeunlimit` scenes (with a
//! signed short-scene codec) and printed-URL QR helpers.
//!
//! ```
//! use cove_wechat::qr::{QrCreate, SceneCodec};
//!
//! // A temporary OA code for 7 days with a string scene.
//! let body = QrCreate::temporary_str("store:42", 604_800)?.to_json();
//! assert_eq!(body["action_name"], "QR_STR_SCENE");
//!
//! // A signed Mini Program scene that fits the 32-character limit.
//! let codec = SceneCodec::new(b"a secret of the deployment");
//! let scene = codec.encode("d=SN123")?;
//! assert!(scene.len() <= 32);
//! assert_eq!(codec.decode(&scene)?, "d=SN123");
//! # Ok::<(), cove_wechat::Error>(())
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// Prefix of `EventKey` in a `subscribe` event caused by scanning a parametric QR code.
pub const QRSCENE_PREFIX: &str = "qrscene_";
/// Longest `expire_seconds` of a temporary OA code (30 days).
pub const MAX_EXPIRE_SECONDS: u32 = 2_592_000;
/// Highest `scene_id` of a permanent OA code (at most 100 000 permanent codes).
pub const MAX_PERMANENT_SCENE_ID: u32 = 100_000;
/// Longest OA `scene_str`.
pub const MAX_SCENE_STR: usize = 64;
/// Longest Mini Program `scene` (getwxacodeunlimit).
pub const MAX_MP_SCENE: usize = 32;

/// Strips `qrscene_` from a `subscribe` event's `EventKey`; returns the `SCAN` key unchanged.
///
/// Returns `None` for a plain follow (no or empty key) or a non-QR key on `subscribe`.
pub fn scene_from_event_key(event: &str, event_key: Option<&str>) -> Option<String> {
    let key = event_key.filter(|k| !k.is_empty())?;
    if event.eq_ignore_ascii_case("subscribe") {
        key.strip_prefix(QRSCENE_PREFIX).map(str::to_owned)
    } else if event.eq_ignore_ascii_case("scan") {
        Some(key.to_owned())
    } else {
        None
    }
}

/// The scene of an OA parametric QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OaScene {
    /// `scene_id`.
    Id(u32),
    /// `scene_str`.
    Str(String),
}

/// A validated `qrcode/create` request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCreate {
    scene: OaScene,
    expire_seconds: Option<u32>,
}

impl QrCreate {
    /// Temporary code with a numeric scene (`QR_SCENE`): non-zero 32-bit id, 1..=2592000 s.
    pub fn temporary_id(scene_id: u32, expire_seconds: u32) -> Result<Self> {
        if scene_id == 0 {
            return Err(Error::InvalidArgument("scene_id must be non-zero".into()));
        }
        Self::temporary(OaScene::Id(scene_id), expire_seconds)
    }

    /// Temporary code with a string scene (`QR_STR_SCENE`).
    pub fn temporary_str(scene_str: &str, expire_seconds: u32) -> Result<Self> {
        Self::temporary(OaScene::Str(check_scene_str(scene_str)?), expire_seconds)
    }

    /// Permanent code with a numeric scene (`QR_LIMIT_SCENE`): 1..=100000.
    pub fn permanent_id(scene_id: u32) -> Result<Self> {
        if !(1..=MAX_PERMANENT_SCENE_ID).contains(&scene_id) {
            return Err(Error::InvalidArgument(format!(
                "permanent scene_id must be in 1..={MAX_PERMANENT_SCENE_ID}"
            )));
        }
        Ok(Self {
            scene: OaScene::Id(scene_id),
            expire_seconds: None,
        })
    }

    /// Permanent code with a string scene (`QR_LIMIT_STR_SCENE`).
    pub fn permanent_str(scene_str: &str) -> Result<Self> {
        Ok(Self {
            scene: OaScene::Str(check_scene_str(scene_str)?),
            expire_seconds: None,
        })
    }

    fn temporary(scene: OaScene, expire_seconds: u32) -> Result<Self> {
        if !(1..=MAX_EXPIRE_SECONDS).contains(&expire_seconds) {
            return Err(Error::InvalidArgument(format!(
                "expire_seconds must be in 1..={MAX_EXPIRE_SECONDS}"
            )));
        }
        Ok(Self {
            scene,
            expire_seconds: Some(expire_seconds),
        })
    }

    /// The scene.
    pub fn scene(&self) -> &OaScene {
        &self.scene
    }

    /// `action_name` of this request.
    pub fn action_name(&self) -> &'static str {
        match (&self.scene, self.expire_seconds) {
            (OaScene::Id(_), Some(_)) => "QR_SCENE",
            (OaScene::Str(_), Some(_)) => "QR_STR_SCENE",
            (OaScene::Id(_), None) => "QR_LIMIT_SCENE",
            (OaScene::Str(_), None) => "QR_LIMIT_STR_SCENE",
        }
    }

    /// The JSON body (the `scene` wrapper included: omitting it yields `qrscene_0`).
    pub fn to_json(&self) -> serde_json::Value {
        let scene = match &self.scene {
            OaScene::Id(id) => serde_json::json!({ "scene_id": id }),
            OaScene::Str(s) => serde_json::json!({ "scene_str": s }),
        };
        let mut body = serde_json::json!({
            "action_name": self.action_name(),
            "action_info": { "scene": scene },
        });
        if let (Some(expire), Some(map)) = (self.expire_seconds, body.as_object_mut()) {
            map.insert("expire_seconds".into(), expire.into());
        }
        body
    }
}

fn check_scene_str(scene_str: &str) -> Result<String> {
    let n = scene_str.chars().count();
    if n == 0 || n > MAX_SCENE_STR {
        return Err(Error::InvalidArgument(format!(
            "scene_str must be 1..={MAX_SCENE_STR} characters"
        )));
    }
    Ok(scene_str.to_owned())
}

/// The image URL of a QR ticket (`showqrcode`), with the ticket URL-encoded.
pub fn showqrcode_url(mp_base: &str, ticket: &str) -> String {
    format!(
        "{}/cgi-bin/showqrcode?ticket={}",
        mp_base.trim_end_matches('/'),
        utf8_percent_encode(ticket, NON_ALPHANUMERIC)
    )
}

/// `true` if `c` may appear in a Mini Program `scene`: `0-9 a-z A-Z !#$&'()*+,/:;=?@-._~`.
pub fn is_mp_scene_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$&'()*+,/:;=?@-._~".contains(c)
}

/// Checks a Mini Program `scene`: 1..=32 characters from the allowed set (else WeChat answers
/// `40169`).
pub fn check_mp_scene(scene: &str) -> Result<()> {
    if scene.is_empty() || scene.len() > MAX_MP_SCENE {
        return Err(Error::InvalidArgument(format!(
            "Mini Program scene must be 1..={MAX_MP_SCENE} characters"
        )));
    }
    if let Some(bad) = scene.chars().find(|&c| !is_mp_scene_char(c)) {
        return Err(Error::InvalidArgument(format!(
            "character {bad:?} is not allowed in a Mini Program scene"
        )));
    }
    Ok(())
}

/// Signed short scenes for Mini Program codes: `payload + "." + base64url(HMAC-SHA256)[..tag]`.
///
/// The result stays within 32 characters and the allowed charset, so a scanned scene can be
/// trusted (it was minted by the holder of the key) without a database lookup.
#[derive(Clone)]
pub struct SceneCodec {
    key: Vec<u8>,
    tag_len: usize,
}

impl std::fmt::Debug for SceneCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SceneCodec")
            .field("tag_len", &self.tag_len)
            .finish_non_exhaustive()
    }
}

impl SceneCodec {
    /// Default tag length in base64url characters (60 bits).
    pub const DEFAULT_TAG_LEN: usize = 10;

    /// A codec with the default tag length.
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: key.to_vec(),
            tag_len: Self::DEFAULT_TAG_LEN,
        }
    }

    /// A codec with `tag_len` characters of tag (6..=20).
    pub fn with_tag_len(key: &[u8], tag_len: usize) -> Result<Self> {
        if !(6..=20).contains(&tag_len) {
            return Err(Error::InvalidArgument("tag_len must be in 6..=20".into()));
        }
        Ok(Self {
            key: key.to_vec(),
            tag_len,
        })
    }

    /// Longest payload that fits.
    pub fn max_payload(&self) -> usize {
        MAX_MP_SCENE - 1 - self.tag_len
    }

    fn tag(&self, payload: &str) -> Result<String> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .map_err(|_| Error::InvalidArgument("invalid HMAC key".into()))?;
        mac.update(payload.as_bytes());
        let full = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Ok(full.chars().take(self.tag_len).collect())
    }

    /// Signs `payload` (allowed charset, at most [`SceneCodec::max_payload`] characters).
    pub fn encode(&self, payload: &str) -> Result<String> {
        if payload.len() > self.max_payload() {
            return Err(Error::InvalidArgument(format!(
                "scene payload longer than {} characters",
                self.max_payload()
            )));
        }
        if let Some(bad) = payload.chars().find(|&c| !is_mp_scene_char(c)) {
            return Err(Error::InvalidArgument(format!(
                "character {bad:?} is not allowed in a Mini Program scene"
            )));
        }
        let scene = format!("{payload}.{}", self.tag(payload)?);
        check_mp_scene(&scene)?;
        Ok(scene)
    }

    /// Verifies a scene and returns its payload (`-40001`-style [`Error::ValidateSignature`] on
    /// a bad tag). A percent-encoded scene (as read from `query.scene` without
    /// `decodeURIComponent`) is decoded first.
    pub fn decode(&self, scene: &str) -> Result<String> {
        let decoded;
        let scene = if scene.contains('%') {
            decoded = percent_decode_str(scene)
                .decode_utf8()
                .map_err(|_| Error::InvalidArgument("scene is not UTF-8".into()))?
                .into_owned();
            decoded.as_str()
        } else {
            scene
        };
        check_mp_scene(scene)?;
        let (payload, tag) = scene.rsplit_once('.').ok_or(Error::ValidateSignature)?;
        let expected = self.tag(payload)?;
        if bool::from(tag.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(payload.to_owned())
        } else {
            Err(Error::ValidateSignature)
        }
    }
}

/// A 扫普通链接二维码 (printed-URL QR) prefix rule as configured in the Mini Program console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPrefixRule {
    prefix: String,
}

impl UrlPrefixRule {
    /// A rule for `prefix` (e.g. `https://go.example.com/d/`): must be an `https://` or `http://`
    /// URL.
    pub fn new(prefix: &str) -> Result<Self> {
        if !(prefix.starts_with("https://") || prefix.starts_with("http://")) {
            return Err(Error::InvalidArgument("URL prefix must be http(s)".into()));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    /// Builds the URL to print: the prefix followed by `path_and_query` (appended verbatim,
    /// percent-encoded where needed).
    pub fn url(&self, tail: &str) -> String {
        const KEEP: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
            .remove(b'/')
            .remove(b'?')
            .remove(b'=')
            .remove(b'&')
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'~');
        format!("{}{}", self.prefix, utf8_percent_encode(tail, KEEP))
    }

    /// `true` if a scanned URL is covered by this rule (prefix match on the full URL).
    pub fn matches(&self, url: &str) -> bool {
        url.starts_with(&self.prefix)
    }

    /// The part of a scanned URL after the prefix, when it matches.
    pub fn tail<'a>(&self, url: &'a str) -> Option<&'a str> {
        url.strip_prefix(self.prefix.as_str())
    }
}

/// Decodes the `q` launch parameter of a printed-URL QR code (`decodeURIComponent` once) into
/// the scanned URL.
pub fn decode_launch_q(q: &str) -> Result<String> {
    percent_decode_str(q)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Error::InvalidArgument("q is not UTF-8 after decoding".into()))
}
