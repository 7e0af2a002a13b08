//! Roles, the areas they may view or change, token scopes, and the principal
//! every request is checked as.

use crate::audit::Actor;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The capabilities of Cove, as areas of access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    Commerce,
    Membership,
    Service,
    Channels,
    Audience,
    Journeys,
    Insight,
    Network,
    Privacy,
    /// Users, tokens, audit log, jobs.
    System,
}

impl Area {
    pub const ALL: [Area; 10] = [
        Area::Commerce,
        Area::Membership,
        Area::Service,
        Area::Channels,
        Area::Audience,
        Area::Journeys,
        Area::Insight,
        Area::Network,
        Area::Privacy,
        Area::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::Commerce => "commerce",
            Area::Membership => "membership",
            Area::Service => "service",
            Area::Channels => "channels",
            Area::Audience => "audience",
            Area::Journeys => "journeys",
            Area::Insight => "insight",
            Area::Network => "network",
            Area::Privacy => "privacy",
            Area::System => "system",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    StoreManager,
    MembershipManager,
    Marketing,
    ProductManager,
    DataAnalyst,
    ServiceAgent,
    FieldEngineer,
    /// Works in one offline store; sees only that store's members and orders.
    StoreStaff,
    /// Works for one reseller; sees only that reseller's stores.
    Reseller,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::Admin,
        Role::StoreManager,
        Role::MembershipManager,
        Role::Marketing,
        Role::ProductManager,
        Role::DataAnalyst,
        Role::ServiceAgent,
        Role::FieldEngineer,
        Role::StoreStaff,
        Role::Reseller,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::StoreManager => "store_manager",
            Role::MembershipManager => "membership_manager",
            Role::Marketing => "marketing",
            Role::ProductManager => "product_manager",
            Role::DataAnalyst => "data_analyst",
            Role::ServiceAgent => "service_agent",
            Role::FieldEngineer => "field_engineer",
            Role::StoreStaff => "store_staff",
            Role::Reseller => "reseller",
        }
    }

    /// The most this role may do in `area`; `None` means the area is hidden.
    pub fn grant(self, area: Area) -> Option<Access> {
        use Access::{Read as R, Write as W};
        use Area::*;
        let grant = match (self, area) {
            (Role::Admin, _) => W,
            (Role::StoreManager, Commerce) => W,
            (Role::StoreManager, Network | Insight | Audience | Membership) => R,
            (Role::MembershipManager, Membership) => W,
            (Role::MembershipManager, Audience | Insight | Commerce | Service | Network) => R,
            (Role::Marketing, Audience | Journeys | Channels) => W,
            (Role::Marketing, Insight | Membership | Commerce | Network) => R,
            (
                Role::ProductManager,
                Insight | Audience | Commerce | Journeys | Membership | Service,
            ) => R,
            (Role::DataAnalyst, Insight | Audience | Commerce | Membership | Service | Network) => {
                R
            }
            (Role::ServiceAgent, Service) => W,
            (Role::ServiceAgent, Membership | Commerce) => R,
            (Role::FieldEngineer, Service) => W,
            (Role::StoreStaff, Membership) => W,
            (Role::StoreStaff, Network | Commerce) => R,
            (Role::Reseller, Network | Commerce) => R,
            _ => return None,
        };
        Some(grant)
    }

    /// Store staff and resellers work inside one store or reseller.
    pub fn is_scoped(self) -> bool {
        matches!(self, Role::StoreStaff | Role::Reseller)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::invalid("invalid_role", format!("unknown role '{s}'")))
    }
}

/// A token scope such as `commerce:read` or `audience:write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub area: Area,
    pub access: Access,
}

impl FromStr for Scope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "invalid_scope",
                format!("unknown scope '{s}' (expected AREA:read or AREA:write)"),
            )
        };
        let (area, access) = s.split_once(':').ok_or_else(bad)?;
        let area = Area::ALL
            .into_iter()
            .find(|a| a.as_str() == area)
            .ok_or_else(bad)?;
        let access = match access {
            "read" => Access::Read,
            "write" => Access::Write,
            _ => return Err(bad()),
        };
        Ok(Scope { area, access })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = if self.access == Access::Write {
            "write"
        } else {
            "read"
        };
        write!(f, "{}:{access}", self.area.as_str())
    }
}

/// Who is making a request, and through what.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub store_id: Option<String>,
    pub reseller_id: Option<String>,
    pub locale: String,
    pub via: Via,
}

#[derive(Debug, Clone)]
pub enum Via {
    /// A console session; `csrf` must accompany every unsafe request.
    Session { csrf: String },
    /// An API token, limited to its scopes (and to its owner's role).
    Token { id: String, scopes: Vec<Scope> },
}

impl Principal {
    /// The one access check every endpoint uses.
    pub fn require(&self, area: Area, access: Access) -> Result<()> {
        if self.can(area, access) {
            Ok(())
        } else {
            Err(Error::Forbidden(
                format!(
                    "the {} role may not {} {}",
                    self.role,
                    if access == Access::Write {
                        "change"
                    } else {
                        "view"
                    },
                    area.as_str()
                )
                .into(),
            ))
        }
    }

    pub fn can(&self, area: Area, access: Access) -> bool {
        let role_allows = self.role.grant(area).is_some_and(|g| g >= access);
        let via_allows = match &self.via {
            Via::Session { .. } => true,
            Via::Token { scopes, .. } => {
                scopes.iter().any(|s| s.area == area && s.access >= access)
            }
        };
        role_allows && via_allows
    }

    pub fn actor(&self, ip: Option<String>) -> Actor {
        match &self.via {
            Via::Session { .. } => Actor {
                kind: "user",
                id: Some(self.user_id.clone()),
                label: self.email.clone(),
                ip,
            },
            Via::Token { id, .. } => Actor {
                kind: "token",
                id: Some(id.clone()),
                label: format!("token of {}", self.email),
                ip,
            },
        }
    }
}
