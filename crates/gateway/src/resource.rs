//! The resources the gateway publishes under `/api/v1`, and the service that owns each:
//! the one list that routing, policy, scopes and the public API dictionary share.

/// The public API's version prefix.
pub const PREFIX: &str = "/api/v1";

/// A resource published through the gateway, and the service that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Users,
    Products,
    Orders,
}

impl Resource {
    pub const ALL: [Self; 3] = [Self::Users, Self::Products, Self::Orders];

    pub fn segment(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Products => "products",
            Self::Orders => "orders",
        }
    }
}
