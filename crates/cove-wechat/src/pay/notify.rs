//! Payment and refund notifications: verify, decrypt, type, answer.

use serde::{Deserialize, Serialize};

use super::aead::{ApiV3Key, EncryptedResource};
use super::model::{Refund, Transaction};
use super::verifier::{PayVerifier, SignedHeaders};
use crate::error::{Error, Result};

/// The notification envelope as posted by WeChat Pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationEnvelope {
    /// Notification id (`EV-…`).
    pub id: String,
    /// RFC 3339 creation time.
    #[serde(default)]
    pub create_time: Option<String>,
    /// `encrypt-resource`.
    #[serde(default)]
    pub resource_type: Option<String>,
    /// `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, `REFUND.ABNORMAL`, `REFUND.CLOSED`, …
    pub event_type: String,
    /// Summary text.
    #[serde(default)]
    pub summary: Option<String>,
    /// The encrypted resource.
    pub resource: EncryptedResource,
}

/// The decrypted resource, typed by event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum NotificationPayload {
    /// `TRANSACTION.*` (`original_type` `transaction`).
    Transaction(Transaction),
    /// `REFUND.*` (`original_type` `refund`).
    Refund(Refund),
    /// Anything else, as JSON.
    Other(serde_json::Value),
}

/// A verified and decrypted notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The envelope.
    pub envelope: NotificationEnvelope,
    /// The decrypted resource text.
    pub plaintext: String,
    /// The typed resource.
    pub payload: NotificationPayload,
}

/// Verifies and decrypts notifications.
#[derive(Debug, Clone)]
pub struct NotificationParser {
    verifier: PayVerifier,
    key: ApiV3Key,
}

impl NotificationParser {
    /// A parser with a verifier (keys, clock, replay window) and the APIv3 key.
    pub fn new(verifier: PayVerifier, key: ApiV3Key) -> Self {
        Self { verifier, key }
    }

    /// Verifies the signature over the **raw** body (never a re-serialised one), checks the
    /// replay window, decrypts and types the resource.
    pub fn parse(&self, headers: &SignedHeaders, raw_body: &[u8]) -> Result<Notification> {
        self.verifier.verify(headers, raw_body)?;
        let envelope: NotificationEnvelope = serde_json::from_slice(raw_body)?;
        let plain = self.key.decrypt_resource(&envelope.resource)?;
        let plaintext =
            String::from_utf8(plain).map_err(|_| Error::Gcm("decrypted resource is not UTF-8"))?;
        let payload = type_payload(&envelope, &plaintext)?;
        Ok(Notification {
            envelope,
            plaintext,
            payload,
        })
    }
}

fn type_payload(envelope: &NotificationEnvelope, plaintext: &str) -> Result<NotificationPayload> {
    let original = envelope.resource.original_type.as_deref().unwrap_or("");
    Ok(
        if envelope.event_type.starts_with("TRANSACTION.") || original == "transaction" {
            NotificationPayload::Transaction(serde_json::from_str(plaintext)?)
        } else if envelope.event_type.starts_with("REFUND.") || original == "refund" {
            NotificationPayload::Refund(serde_json::from_str(plaintext)?)
        } else {
            NotificationPayload::Other(serde_json::from_str(plaintext)?)
        },
    )
}

/// The HTTP answer to a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyAnswer {
    /// HTTP status.
    pub status: u16,
    /// Body (empty on success).
    pub body: String,
}

impl NotifyAnswer {
    /// Success: HTTP 204 with no body (also answer this for already-processed duplicates).
    pub fn success() -> Self {
        Self {
            status: 204,
            body: String::new(),
        }
    }

    /// Failure: HTTP 500 with `{"code":"FAIL","message":…}`; WeChat Pay retries later.
    pub fn fail(message: &str) -> Self {
        Self {
            status: 500,
            body: serde_json::json!({ "code": "FAIL", "message": message }).to_string(),
        }
    }

    /// Failure for a notification that did not verify: HTTP 401 with the `FAIL` body.
    pub fn unauthorized(message: &str) -> Self {
        Self {
            status: 401,
            ..Self::fail(message)
        }
    }
}
