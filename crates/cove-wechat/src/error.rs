//! The crate's single error type.

/// Why an XML document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlError {
    /// The document is larger than the configured limit.
    #[error("XML document of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the refused document in bytes.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The document carries a `<!DOCTYPE …>` declaration (XXE hardening).
    #[error("XML DOCTYPE declarations are not allowed")]
    Doctype,
    /// The document references an entity other than the five predefined ones or a character reference.
    #[error("XML entity reference `{0}` is not allowed")]
    Entity(String),
    /// Elements are nested deeper than the parser allows.
    #[error("XML nesting deeper than {0} levels")]
    TooDeep(usize),
    /// The document is not well-formed.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// A required element is missing or empty.
    #[error("missing XML element <{0}>")]
    MissingField(&'static str),
    /// An element holds a value of the wrong shape (for example a non-numeric `CreateTime`).
    #[error("XML element <{field}> has an invalid value {value:?}")]
    InvalidField {
        /// Element name.
        field: &'static str,
        /// The offending text.
        value: String,
    },
}

/// Errors of every module in this crate.
///
/// Variants for the message-callback crypto map to the error codes of the official
/// `WXBizMsgCrypt` samples (see [`Error::code`]), so logs line up with every other SDK.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `-40001`: the `signature` / `msg_signature` does not match.
    #[error("signature mismatch (-40001)")]
    ValidateSignature,
    /// `-40002`: the XML (or JSON) envelope could not be parsed or was refused.
    #[error("cannot parse envelope (-40002): {0}")]
    ParseXml(#[from] XmlError),
    /// `-40002`: the JSON envelope of a WeCom JSON callback could not be parsed.
    #[error("cannot parse JSON envelope (-40002): {0}")]
    ParseJson(String),
    /// `-40004`: the EncodingAESKey is not 43 Base64 characters decoding to 32 bytes.
    #[error("illegal EncodingAESKey (-40004): {0}")]
    IllegalAesKey(&'static str),
    /// `-40005`: the receive id (AppID / CorpID) inside the message is not the expected one.
    #[error("receive id mismatch (-40005): expected {expected:?}, found {found:?}")]
    ValidateReceiveId {
        /// The configured receive id.
        expected: String,
        /// The receive id found in the decrypted message.
        found: String,
    },
    /// `-40006`: encryption failed.
    #[error("AES encryption failed (-40006)")]
    EncryptAes,
    /// `-40007`: the ciphertext could not be decrypted (wrong length, not a whole number of blocks).
    #[error("AES decryption failed (-40007): {0}")]
    DecryptAes(&'static str),
    /// `-40007`: the PKCS#7 padding (block size 32) after decryption is invalid.
    #[error("invalid PKCS#7 padding (-40007): {0}")]
    BadPadding(&'static str),
    /// `-40008`: the decrypted buffer is too short or its length prefix is inconsistent.
    #[error("illegal buffer (-40008): {0}")]
    IllegalBuffer(&'static str),
    /// `-40010`: a Base64 field could not be decoded.
    #[error("Base64 decoding failed (-40010)")]
    DecodeBase64,
    /// A caller-supplied value breaks a documented limit (QR scene lengths, key sizes, …).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A WeChat / WeCom API answered with a non-zero `errcode`.
    #[error("WeChat API error {errcode}: {errmsg}")]
    Api {
        /// The `errcode` returned by the API.
        errcode: i64,
        /// The `errmsg` returned by the API.
        errmsg: String,
    },
    /// An HTTP transport error.
    #[error("HTTP error: {0}")]
    Http(#[from] reqwest::Error),
    /// An unexpected HTTP status from a WeChat API (body kept for logs).
    #[error("unexpected HTTP status {status}: {body}")]
    HttpStatus {
        /// HTTP status code.
        status: u16,
        /// Response body, possibly truncated.
        body: String,
    },
    /// JSON (de)serialisation failed.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// Decrypted data does not belong to this application (`watermark.appid` mismatch).
    #[error("watermark appid mismatch: expected {expected:?}, found {found:?}")]
    WatermarkMismatch {
        /// The configured AppID.
        expected: String,
        /// The AppID found in the watermark.
        found: String,
    },
    /// WeChat Pay answered with an error (`{"code": …, "message": …}`).
    #[error("WeChat Pay error (HTTP {status}) {code}: {message}")]
    Pay {
        /// HTTP status code.
        status: u16,
        /// The `code` field, e.g. `SIGN_ERROR`.
        code: String,
        /// The `message` field.
        message: String,
    },
    /// A WeChat Pay signature (response or notification) does not verify.
    #[error("WeChat Pay signature verification failed: {0}")]
    PaySignature(&'static str),
    /// A WeChat Pay response or notification is outside the replay window.
    #[error("WeChat Pay timestamp {timestamp} is outside the replay window (now {now})")]
    ReplayWindow {
        /// The `Wechatpay-Timestamp` value.
        timestamp: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// No key is known for this `Wechatpay-Serial`.
    #[error("no WeChat Pay public key or platform certificate for serial {0:?}")]
    UnknownSerial(String),
    /// A key or certificate could not be loaded.
    #[error("cannot load key: {0}")]
    Key(String),
    /// AES-GCM decryption of a WeChat Pay resource failed (wrong key, nonce, aad or tampering).
    #[error("AES-GCM decryption failed: {0}")]
    Gcm(&'static str),
    /// The shared token store failed.
    #[error("token store error: {0}")]
    TokenStore(String),
}

impl Error {
    /// The numeric code of this error as used by the official samples (`-400xx`) or by the
    /// WeChat API (`errcode`), when there is one.
    pub fn code(&self) -> Option<i64> {
        Some(match self {
            Error::ValidateSignature => -40001,
            Error::ParseXml(_) | Error::ParseJson(_) => -40002,
            Error::IllegalAesKey(_) => -40004,
            Error::ValidateReceiveId { .. } => -40005,
            Error::EncryptAes => -40006,
            Error::DecryptAes(_) | Error::BadPadding(_) => -40007,
            Error::IllegalBuffer(_) => -40008,
            Error::DecodeBase64 => -40010,
            Error::Api { errcode, .. } => *errcode,
            _ => return None,
        })
    }

    /// `true` when the API rejected the access token (`40001`, `40014`, `42001`).
    pub fn is_token_rejected(&self) -> bool {
        matches!(self, Error::Api { errcode, .. } if is_token_errcode(*errcode))
    }
}

pub(crate) fn is_token_errcode(errcode: i64) -> bool {
    matches!(errcode, 40001 | 40014 | 42001)
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
