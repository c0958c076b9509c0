//! The demo data every test system starts with, as user-service, product-service and
//! order-service seed it.

pub const ALICE: i64 = 1;
pub const BOB: i64 = 2;
pub const ADMIN: i64 = 3;
/// The demo accounts by id, as seeded by user-service.
pub const DEMO_EMAILS: [(i64, &str); 3] = [
    (ALICE, "alice@example.com"),
    (BOB, "bob@example.com"),
    (ADMIN, "admin@example.com"),
];
pub const LAPTOP: i64 = 101;
pub const PHONE: i64 = 102;
pub const DEMO_ORDER: i64 = 9001;
