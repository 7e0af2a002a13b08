//! Verification of WeChat Pay response and notification signatures.

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use sha2::Sha256;
use x509_cert::der::{DecodePem, Encode};
use x509_cert::Certificate;

use super::signer::AUTH_SCHEME;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};

/// Default replay window: 5 minutes either side of the verifier's clock.
pub const REPLAY_WINDOW_SECS: i64 = 300;

/// Prefix of WeChat Pay public key ids (public-key mode).
pub const PUB_KEY_ID_PREFIX: &str = "PUB_KEY_ID_";

/// The `Wechatpay-*` headers of a signed response or notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `Wechatpay-Timestamp`.
    pub timestamp: String,
    /// `Wechatpay-Nonce`.
    pub nonce: String,
    /// `Wechatpay-Signature` (Base64).
    pub signature: String,
    /// `Wechatpay-Serial`: `PUB_KEY_ID_…` or a platform certificate serial.
    pub serial: String,
    /// `Wechatpay-Signature-Type`, when sent.
    pub signature_type: Option<String>,
}

impl SignedHeaders {
    /// Reads the headers through `get`, which receives the canonical header names
    /// (`Wechatpay-Timestamp`, …) and should look them up case-insensitively.
    pub fn from_lookup<F>(get: F) -> Result<Self>
    where
        F: Fn(&str) -> Option<String>,
    {
        let need = |name: &'static str| {
            get(name)
                .filter(|v| !v.is_empty())
                .ok_or(Error::PaySignature(match name {
                    "Wechatpay-Timestamp" => "missing Wechatpay-Timestamp",
                    "Wechatpay-Nonce" => "missing Wechatpay-Nonce",
                    "Wechatpay-Signature" => "missing Wechatpay-Signature",
                    _ => "missing Wechatpay-Serial",
                }))
        };
        Ok(Self {
            timestamp: need("Wechatpay-Timestamp")?,
            nonce: need("Wechatpay-Nonce")?,
            signature: need("Wechatpay-Signature")?,
            serial: need("Wechatpay-Serial")?,
            signature_type: get("Wechatpay-Signature-Type"),
        })
    }

    /// Reads the headers from a `reqwest` / `http` header map.
    pub fn from_header_map(headers: &reqwest::header::HeaderMap) -> Result<Self> {
        Self::from_lookup(|name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
    }
}

/// Verifies `TIMESTAMP\nNONCE\nRAW_BODY\n` signatures with the WeChat Pay public key
/// (`PUB_KEY_ID_…`) and/or platform certificates, chosen by `Wechatpay-Serial`, inside a replay
/// window.
#[derive(Clone)]
pub struct PayVerifier {
    keys: HashMap<String, VerifyingKey<Sha256>>,
    public_key_id: Option<String>,
    clock: Arc<dyn Clock>,
    window_secs: i64,
}

impl std::fmt::Debug for PayVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut serials: Vec<&String> = self.keys.keys().collect();
        serials.sort();
        f.debug_struct("PayVerifier")
            .field("serials", &serials)
            .field("window_secs", &self.window_secs)
            .finish_non_exhaustive()
    }
}

impl Default for PayVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl PayVerifier {
    /// An empty verifier with the system clock and a 5-minute window.
    pub fn new() -> Self {
        Self {
            keys: HashMap::new(),
            public_key_id: None,
            clock: Arc::new(SystemClock),
            window_secs: REPLAY_WINDOW_SECS,
        }
    }

    /// Replaces the clock (tests, or a trusted time source).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Changes the replay window.
    pub fn with_window_secs(mut self, secs: i64) -> Self {
        self.window_secs = secs;
        self
    }

    /// Adds the WeChat Pay public key (public-key mode) under its id `PUB_KEY_ID_…`.
    /// Accepts SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`) PEM.
    pub fn add_public_key(&mut self, public_key_id: &str, pem: &str) -> Result<()> {
        let pem = pem.trim();
        let key = RsaPublicKey::from_public_key_pem(pem)
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
            .map_err(|e| Error::Key(format!("not an RSA public key: {e}")))?;
        self.keys
            .insert(public_key_id.to_owned(), VerifyingKey::<Sha256>::new(key));
        if public_key_id.starts_with(PUB_KEY_ID_PREFIX) {
            self.public_key_id = Some(public_key_id.to_owned());
        }
        Ok(())
    }

    /// Adds a platform certificate (legacy mode); returns its serial (uppercase hex).
    pub fn add_platform_certificate(&mut self, cert_pem: &str) -> Result<String> {
        let cert = Certificate::from_pem(cert_pem.trim().as_bytes())
            .map_err(|e| Error::Key(format!("not an X.509 certificate: {e}")))?;
        let serial = serial_hex(cert.tbs_certificate.serial_number.as_bytes());
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| Error::Key(format!("bad certificate key: {e}")))?;
        let key = RsaPublicKey::from_public_key_der(&spki)
            .map_err(|e| Error::Key(format!("certificate key is not RSA: {e}")))?;
        self.keys
            .insert(serial.clone(), VerifyingKey::<Sha256>::new(key));
        Ok(serial)
    }

    /// The public key id to send as `Wechatpay-Serial` on requests (public-key mode).
    pub fn public_key_id(&self) -> Option<&str> {
        self.public_key_id.as_deref()
    }

    /// Verifies a response or notification over its **raw** body.
    pub fn verify(&self, headers: &SignedHeaders, body: &[u8]) -> Result<()> {
        if let Some(kind) = &headers.signature_type {
            if kind != AUTH_SCHEME {
                return Err(Error::PaySignature("unsupported Wechatpay-Signature-Type"));
            }
        }
        let key = self
            .keys
            .get(&headers.serial)
            .or_else(|| self.keys.get(&headers.serial.to_ascii_uppercase()))
            .ok_or_else(|| Error::UnknownSerial(headers.serial.clone()))?;
        let timestamp: i64 = headers
            .timestamp
            .trim()
            .parse()
            .map_err(|_| Error::PaySignature("Wechatpay-Timestamp is not an integer"))?;
        let now = self.clock.now_unix();
        if now.abs_diff(timestamp) > self.window_secs.unsigned_abs() {
            return Err(Error::ReplayWindow { timestamp, now });
        }
        let sig_bytes = STANDARD
            .decode(headers.signature.trim())
            .map_err(|_| Error::PaySignature("Wechatpay-Signature is not Base64"))?;
        let signature = Signature::try_from(sig_bytes.as_slice())
            .map_err(|_| Error::PaySignature("malformed signature"))?;
        let mut message =
            Vec::with_capacity(headers.timestamp.len() + headers.nonce.len() + body.len() + 3);
        message.extend_from_slice(headers.timestamp.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(headers.nonce.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(body);
        message.push(b'\n');
        key.verify(&message, &signature)
            .map_err(|_| Error::PaySignature("signature does not match"))
    }
}

fn serial_hex(bytes: &[u8]) -> String {
    let trimmed = match bytes.iter().position(|&b| b != 0) {
        Some(i) => bytes.get(i..).unwrap_or_default(),
        None => bytes,
    };
    crate::msgcrypt::hex_lower(trimmed).to_ascii_uppercase()
}
