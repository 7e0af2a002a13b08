//! The brand's offline network: stores and resellers.

use crate::clock::Micros;
use crate::db::Db;
use crate::error::Result;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Store {
    pub id: String,
    pub code: String,
    pub name: String,
    /// `flagship`, `store` or `reseller_store`.
    pub kind: String,
    pub city: String,
    pub reseller_id: Option<String>,
    pub created_at: Micros,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Reseller {
    pub id: String,
    pub code: String,
    pub name: String,
    pub city: String,
    pub created_at: Micros,
}

/// Stores visible within an optional store or reseller scope.
pub async fn list_stores(
    db: &Db,
    store: Option<&str>,
    reseller: Option<&str>,
) -> Result<Vec<Store>> {
    Ok(sqlx::query_as::<_, Store>(
        "SELECT id, code, name, kind, city, reseller_id, created_at FROM stores \
         WHERE ($1 IS NULL OR id = $1) AND ($2 IS NULL OR reseller_id = $2) ORDER BY code",
    )
    .bind(store)
    .bind(reseller)
    .fetch_all(db.read())
    .await?)
}

pub async fn list_resellers(db: &Db, reseller: Option<&str>) -> Result<Vec<Reseller>> {
    Ok(sqlx::query_as::<_, Reseller>(
        "SELECT id, code, name, city, created_at FROM resellers WHERE ($1 IS NULL OR id = $1) ORDER BY code",
    )
    .bind(reseller)
    .fetch_all(db.read())
    .await?)
}
