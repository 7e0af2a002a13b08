//! WeChat Pay API v3: request signing, response / notification verification, AES-256-GCM
//! resource decryption, typed notifications, JSAPI `paySign`, and a client for JSAPI prepay,
//! order query / close and refunds.
//!
//! ```
//! use cove_wechat::pay::{request_message, ApiV3Key};
//!
//! // The message signed for `GET /v3/certificates`.
//! let msg = request_message("GET", "/v3/certificates", "1624523846", "A1B2C3D4E5F6G7", "");
//! assert_eq!(msg, "GET\n/v3/certificates\n1624523846\nA1B2C3D4E5F6G7\n\n");
//!
//! // Resources round-trip through AES-256-GCM with a 32-byte APIv3 key and a 12-byte nonce.
//! let key = ApiV3Key::new("0123456789abcdef0123456789abcdef")?;
//! let res = key.encrypt_resource("transaction", "transaction", "gZiqzlfayUu2", b"{}")?;
//! assert_eq!(key.decrypt_resource(&res)?, b"{}");
//! # Ok::<(), cove_wechat::Error>(())
//! ```

mod aead;
mod client;
mod model;
mod notify;
mod signer;
mod verifier;

pub use aead::{aes_gcm_decrypt, aes_gcm_encrypt, ApiV3Key, EncryptedResource, AEAD_AES_256_GCM};
pub use client::{PayClient, DEFAULT_PAY_BASE};
pub use model::{
    check_out_no, JsapiPrepayRequest, OrderAmount, Payer, PrepayResponse, Refund, RefundAmount,
    RefundRequest, RefundRequestAmount, Transaction, TransactionAmount, TransactionPayer,
};
pub use notify::{
    Notification, NotificationEnvelope, NotificationParser, NotificationPayload, NotifyAnswer,
};
pub use signer::{
    load_private_key, nonce_str, parse_authorization, request_message, JsapiPayParams,
    MerchantSigner, AUTH_SCHEME,
};
pub use verifier::{PayVerifier, SignedHeaders, PUB_KEY_ID_PREFIX, REPLAY_WINDOW_SECS};
