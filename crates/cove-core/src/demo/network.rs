//! The seeded stores, resellers and staff, as the history generator uses them.

use crate::db::Db;
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct Store {
    pub id: String,
    /// One of the member cities when it is one; stores name their city in Chinese.
    pub city: &'static str,
    pub reseller_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Network {
    /// Ordered by code.
    pub stores: Vec<Store>,
    /// The store staff sign-in (also the brand's WeCom salesperson) and their store.
    pub store_staff: Option<(String, usize)>,
    /// The reseller sign-in and their reseller.
    pub reseller_staff: Option<(String, String)>,
}

impl Network {
    pub async fn load(db: &Db) -> anyhow::Result<Self> {
        let rows = sqlx::query("SELECT id, city, reseller_id FROM stores ORDER BY code")
            .fetch_all(db.pool())
            .await?;
        let mut stores = Vec::with_capacity(rows.len());
        for row in rows {
            let city: String = row.try_get("city")?;
            stores.push(Store {
                id: row.try_get("id")?,
                city: super::customers::CITIES
                    .iter()
                    .map(|c| c.0)
                    .find(|c| *c == city)
                    .unwrap_or("上海"),
                reseller_id: row.try_get("reseller_id")?,
            });
        }
        let users = sqlx::query(
            "SELECT id, role, store_id, reseller_id FROM users \
             WHERE role IN ('store_staff', 'reseller') ORDER BY email",
        )
        .fetch_all(db.pool())
        .await?;
        let mut network = Network {
            stores,
            ..Network::default()
        };
        for user in users {
            let id: String = user.try_get("id")?;
            let role: String = user.try_get("role")?;
            let store_id: Option<String> = user.try_get("store_id")?;
            let reseller_id: Option<String> = user.try_get("reseller_id")?;
            match (role.as_str(), store_id, reseller_id) {
                ("store_staff", Some(store), _) if network.store_staff.is_none() => {
                    if let Some(at) = network.stores.iter().position(|s| s.id == store) {
                        network.store_staff = Some((id, at));
                    }
                }
                ("reseller", _, Some(reseller)) if network.reseller_staff.is_none() => {
                    network.reseller_staff = Some((id, reseller));
                }
                _ => {}
            }
        }
        Ok(network)
    }

    pub fn own_stores(&self) -> Vec<usize> {
        (0..self.stores.len())
            .filter(|i| self.stores[*i].reseller_id.is_none())
            .collect()
    }

    pub fn reseller_stores(&self) -> Vec<usize> {
        (0..self.stores.len())
            .filter(|i| self.stores[*i].reseller_id.is_some())
            .collect()
    }

    /// The sign-in credited for a member or order at `store`, if that store
    /// has one and `credit` says the staff member was involved.
    pub fn staff_at(&self, store: &Store, credit: bool) -> Option<String> {
        if !credit {
            return None;
        }
        if let Some((user, at)) = &self.store_staff {
            if self.stores.get(*at).is_some_and(|s| s.id == store.id) {
                return Some(user.clone());
            }
        }
        if let Some((user, reseller)) = &self.reseller_staff {
            if store.reseller_id.as_deref() == Some(reseller.as_str()) {
                return Some(user.clone());
            }
        }
        None
    }
}
