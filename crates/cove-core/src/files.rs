//! Uploaded files: product images and ticket attachments, kept in the
//! database so every node serves them.
//!
//! The bytes are stored once per SHA-256 (`file_blobs`); each upload is a
//! row of its own (`files`) with the name it came with, the type its magic
//! bytes show (never the client's word), its owner and its purpose. The
//! purpose decides who may read it: product images are public, ticket
//! attachments are for their ticket's customer and the service team.

use crate::clock::{Micros, DAY, SECOND};
use crate::db::{new_id, Backend, Conn, Db};
use crate::error::{Error, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// The size limit when the configuration names none.
pub const DEFAULT_MAX_BYTES: usize = 10 * 1024 * 1024;

/// What one customer may upload in 24 hours when the configuration names
/// no other quota.
pub const DEFAULT_CUSTOMER_DAILY_BYTES: u64 = 100 * 1024 * 1024;

/// The durable job that deletes uploads nothing uses (hourly).
pub const SWEEP_JOB: &str = "files.sweep";

/// How long an upload may wait to be attached to a ticket or a product.
pub const UNATTACHED_GRACE: Micros = DAY;

/// Uploads looked at per sweep run; the next run takes the rest.
const SWEEP_BATCH: i64 = 500;

/// What a brand needs to upload: photos and PDFs.
pub const ACCEPTED_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "application/pdf",
];

pub const PURPOSES: &[&str] = &["product_image", "ticket_attachment"];

const MAX_NAME: usize = 200;

/// Who uploaded a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    User(String),
    Customer(String),
}

/// Who asks to read a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// A console user; `service` when they may read tickets.
    Staff {
        user_id: String,
        service: bool,
    },
    Customer {
        profile_id: String,
    },
    Anonymous,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = UploadedFile)]
pub struct StoredFile {
    pub id: String,
    pub name: String,
    /// Detected from the content.
    pub content_type: String,
    pub size: i64,
    /// Hex SHA-256 of the content (also its ETag).
    pub sha256: String,
    pub purpose: String,
    /// Where the file is served; use it as a product image or attachment URL.
    pub url: String,
    #[serde(skip)]
    pub owner_user_id: Option<String>,
    #[serde(skip)]
    pub owner_profile_id: Option<String>,
    pub created_at: Micros,
}

/// The content type the bytes show, if Cove accepts it.
pub fn sniff(bytes: &[u8]) -> Result<&'static str> {
    if bytes.is_empty() {
        return Err(Error::invalid("empty_file", "the file is empty"));
    }
    infer::get(bytes)
        .map(|t| t.mime_type())
        .and_then(|m| ACCEPTED_TYPES.iter().copied().find(|a| *a == m))
        .ok_or_else(|| {
            Error::invalid(
                "unsupported_file_type",
                "only JPEG, PNG, WebP and GIF images and PDF documents are accepted",
            )
        })
}

/// The upload's file name without any folder, control characters or
/// characters that break a header; `file` when nothing is left.
pub fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | ';'))
        .take(MAX_NAME)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        "file".to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// RFC 3986 percent-encoding of everything but unreserved characters, for
/// a path segment or an RFC 5987 `filename*`.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn url_of(id: &str, name: &str) -> String {
    format!("/files/{id}/{}", encode_segment(name))
}

/// The file id a `/files/{id}/{name}` URL names, if it is one.
pub fn id_in_url(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("/files/")?;
    let id = rest.split('/').next()?;
    uuid::Uuid::parse_str(id).ok().map(|_| id)
}

/// Stores an upload: checks size and type, keeps the bytes once per hash
/// (concurrent uploads of the same bytes race on the primary key, and the
/// loser's insert does nothing) and records the upload.
pub async fn store(
    conn: &mut Conn,
    owner: &Owner,
    purpose: &str,
    name: &str,
    bytes: &[u8],
    max_bytes: usize,
    at: Micros,
) -> Result<StoredFile> {
    if !PURPOSES.contains(&purpose) {
        return Err(Error::invalid(
            "invalid_purpose",
            format!("purpose must be one of {}", PURPOSES.join(", ")),
        ));
    }
    if bytes.len() > max_bytes {
        return Err(too_large(max_bytes));
    }
    let content_type = sniff(bytes)?;
    let sha256 = hex::encode(Sha256::digest(bytes));
    let size = i64::try_from(bytes.len()).map_err(|e| Error::Internal(e.into()))?;
    // DO UPDATE (not DO NOTHING) locks an existing blob row until commit, so
    // a concurrent sweep waits and then sees this upload referencing it.
    sqlx::query(
        "INSERT INTO file_blobs (sha256, content, size, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (sha256) DO UPDATE SET size = excluded.size",
    )
    .bind(&sha256)
    .bind(bytes.to_vec())
    .bind(size)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    let id = new_id();
    let name = clean_name(name);
    let (user, profile) = match owner {
        Owner::User(u) => (Some(u.clone()), None),
        Owner::Customer(p) => (None, Some(p.clone())),
    };
    sqlx::query(
        "INSERT INTO files (id, sha256, name, content_type, size, purpose, owner_user_id, owner_profile_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(&sha256)
    .bind(&name)
    .bind(content_type)
    .bind(size)
    .bind(purpose)
    .bind(&user)
    .bind(&profile)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(StoredFile {
        url: url_of(&id, &name),
        id,
        name,
        content_type: content_type.to_owned(),
        size,
        sha256,
        purpose: purpose.to_owned(),
        owner_user_id: user,
        owner_profile_id: profile,
        created_at: at,
    })
}

pub fn too_large(max_bytes: usize) -> Error {
    Error::invalid(
        "file_too_large",
        format!("a file is at most {} MB", max_bytes / (1024 * 1024)),
    )
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<StoredFile> {
    let row = sqlx::query(
        "SELECT id, name, content_type, size, sha256, purpose, owner_user_id, owner_profile_id, created_at \
         FROM files WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::not_found("file"))?;
    let id: String = row.try_get(0)?;
    let name: String = row.try_get(1)?;
    Ok(StoredFile {
        url: url_of(&id, &name),
        id,
        name,
        content_type: row.try_get(2)?,
        size: row.try_get(3)?,
        sha256: row.try_get(4)?,
        purpose: row.try_get(5)?,
        owner_user_id: row.try_get(6)?,
        owner_profile_id: row.try_get(7)?,
        created_at: row.try_get(8)?,
    })
}

/// The file's bytes.
pub async fn content(conn: &mut Conn, file: &StoredFile) -> Result<Vec<u8>> {
    let bytes: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT content FROM file_blobs WHERE sha256 = $1")
            .bind(&file.sha256)
            .fetch_optional(&mut *conn)
            .await?;
    bytes.ok_or(Error::not_found("file"))
}

/// May `viewer` read `file`? Product images are public; an attachment is
/// its uploader's, the service team's, and the customer's of every ticket
/// that carries it in a public message.
pub async fn can_read(conn: &mut Conn, file: &StoredFile, viewer: &Viewer) -> Result<bool> {
    if file.purpose == "product_image" {
        return Ok(true);
    }
    match viewer {
        Viewer::Anonymous => Ok(false),
        Viewer::Staff { user_id, service } => {
            Ok(*service || file.owner_user_id.as_deref() == Some(user_id))
        }
        Viewer::Customer { profile_id } => {
            if file.owner_profile_id.as_deref() == Some(profile_id) {
                return Ok(true);
            }
            let shared: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM ticket_files f JOIN tickets t ON t.id = f.ticket_id \
                 WHERE f.file_id = $1 AND f.internal = 0 AND t.profile_id = $2 LIMIT 1",
            )
            .bind(&file.id)
            .bind(profile_id)
            .fetch_optional(&mut *conn)
            .await?;
            Ok(shared.is_some())
        }
    }
}

/// Refuses a customer's upload of `size` bytes that would take what they
/// uploaded in the last 24 hours past `daily_bytes` (0: no quota). Uploads
/// of one customer queue on PostgreSQL so two at once cannot both slip in.
pub async fn check_quota(
    conn: &mut Conn,
    backend: Backend,
    profile_id: &str,
    size: usize,
    daily_bytes: u64,
    now: Micros,
) -> Result<()> {
    if daily_bytes == 0 {
        return Ok(());
    }
    if backend == Backend::Postgres {
        // Wrapped in a count: the lock function returns void, which the
        // Any driver cannot decode.
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS l",
        )
        .bind(format!("files.quota:{profile_id}"))
        .fetch_one(&mut *conn)
        .await?;
    }
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT), MIN(created_at) FROM files \
         WHERE owner_profile_id = $1 AND created_at > $2",
    )
    .bind(profile_id)
    .bind(now - DAY)
    .fetch_one(&mut *conn)
    .await?;
    let used: i64 = row.try_get(0)?;
    let oldest: Option<Micros> = row.try_get(1)?;
    let used = u64::try_from(used).unwrap_or(0);
    if used.saturating_add(size as u64) <= daily_bytes {
        return Ok(());
    }
    // Room opens when the oldest upload of the window leaves it.
    let retry_after = oldest.map_or(DAY, |at| at + DAY - now).max(SECOND) / SECOND;
    Err(Error::RateLimited {
        code: "upload_quota_exceeded",
        message: format!(
            "you can upload {} MB a day; try again later",
            daily_bytes / (1024 * 1024)
        ),
        retry_after_secs: u64::try_from(retry_after).unwrap_or(1),
    })
}

/// Whether anything uses the upload: a ticket message carries it or a
/// product shows it.
async fn in_use(conn: &mut Conn, id: &str) -> Result<bool> {
    let used: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM ticket_files WHERE file_id = $1 \
         UNION ALL SELECT 1 FROM products WHERE images LIKE $2 LIMIT 1",
    )
    .bind(id)
    // An id is a UUID: no LIKE wildcards in it.
    .bind(format!("%/files/{id}/%"))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(used.is_some())
}

/// Deletes one upload if nothing uses it, and its bytes if no other upload
/// shares them. Rows are locked first (PostgreSQL) so an upload or an
/// attachment racing with the sweep either waits for it or wins.
async fn delete_if_unused(conn: &mut Conn, backend: Backend, id: &str) -> Result<bool> {
    let locking = if backend == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let sha256: Option<String> =
        sqlx::query_scalar(&format!("SELECT sha256 FROM files WHERE id = $1{locking}"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(sha256) = sha256 else {
        return Ok(false);
    };
    if in_use(conn, id).await? {
        return Ok(false);
    }
    sqlx::query("DELETE FROM files WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!(
        "SELECT sha256 FROM file_blobs WHERE sha256 = $1{locking}"
    ))
    .bind(&sha256)
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM file_blobs WHERE sha256 = $1 \
         AND NOT EXISTS (SELECT 1 FROM files WHERE sha256 = $1)",
    )
    .bind(&sha256)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Deletes uploads older than the grace period that nothing uses, each in
/// its own short transaction; returns how many went.
pub async fn sweep_unattached(db: &Db, now: Micros) -> Result<u64> {
    let candidates: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT f.id FROM files f WHERE f.created_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM ticket_files t WHERE t.file_id = f.id) \
         ORDER BY f.created_at LIMIT {SWEEP_BATCH}"
    ))
    .bind(now - UNATTACHED_GRACE)
    .fetch_all(db.pool())
    .await?;
    let mut deleted = 0;
    for id in candidates {
        let mut tx = db.begin().await?;
        if delete_if_unused(&mut tx, db.backend(), &id).await? {
            deleted += 1;
        }
        tx.commit().await?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const PDF: &[u8] = b"%PDF-1.7\n";

    #[test]
    fn types_come_from_magic_bytes() {
        assert_eq!(sniff(PNG).ok(), Some("image/png"));
        assert_eq!(sniff(PDF).ok(), Some("application/pdf"));
        assert_eq!(
            sniff(b"\xff\xd8\xff\xe0\0\x10JFIF").ok(),
            Some("image/jpeg")
        );
        assert_eq!(sniff(b"GIF89a\x01\0").ok(), Some("image/gif"));
        let code = |b: &[u8]| sniff(b).err().map(|e| e.code().into_owned());
        assert_eq!(
            code(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>").as_deref(),
            Some("unsupported_file_type")
        );
        assert_eq!(
            code(b"PK\x03\x04zip").as_deref(),
            Some("unsupported_file_type")
        );
        assert_eq!(code(b"").as_deref(), Some("empty_file"));
    }

    #[test]
    fn names_lose_folders_and_header_breakers() {
        assert_eq!(clean_name("C:\\Users\\me\\发票.pdf"), "发票.pdf");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("a\"b;\r\nc.png"), "abc.png");
        assert_eq!(clean_name(".."), "file");
        assert_eq!(clean_name(""), "file");
    }

    #[test]
    fn urls_round_trip_the_id() {
        let id = new_id();
        let url = url_of(&id, "照片 1.jpg");
        assert!(url.ends_with("/%E7%85%A7%E7%89%87%201.jpg"), "{url}");
        assert_eq!(id_in_url(&url), Some(id.as_str()));
        assert_eq!(id_in_url("/files/not-a-uuid/x.png"), None);
        assert_eq!(id_in_url("https://cdn.example/a.png"), None);
    }
}
