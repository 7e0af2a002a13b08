//! A customer's saved shipping addresses (the newest is the default).

use super::checkout::{validate_address, Address};
use crate::clock::Micros;
use crate::db::{new_id, Conn};
use crate::error::{Error, Result};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Saved {
    pub id: String,
    #[serde(flatten)]
    pub address: Address,
}

pub const MAX_ADDRESSES: i64 = 20;

pub async fn add(
    conn: &mut Conn,
    profile_id: &str,
    address: &Address,
    at: Micros,
) -> Result<Saved> {
    validate_address(address)?;
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM addresses WHERE profile_id = $1 AND deleted_at IS NULL",
    )
    .bind(profile_id)
    .fetch_one(&mut *conn)
    .await?;
    if count >= MAX_ADDRESSES {
        return Err(Error::invalid(
            "too_many_addresses",
            format!("keep at most {MAX_ADDRESSES} addresses"),
        ));
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO addresses (id, profile_id, name, phone, region, line, postcode, is_default, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)",
    )
    .bind(&id)
    .bind(profile_id)
    .bind(address.name.trim())
    .bind(&address.phone)
    .bind(address.region.trim())
    .bind(address.line.trim())
    .bind(&address.postcode)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(Saved {
        id,
        address: address.clone(),
    })
}

pub async fn list(conn: &mut Conn, profile_id: &str) -> Result<Vec<Saved>> {
    let rows: Vec<(String, String, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, name, phone, region, line, postcode FROM addresses \
         WHERE profile_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC",
    )
    .bind(profile_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, phone, region, line, postcode)| Saved {
            id,
            address: Address {
                name,
                phone,
                region,
                line,
                postcode,
            },
        })
        .collect())
}
