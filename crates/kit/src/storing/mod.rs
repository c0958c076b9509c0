//! Each service's own database: SQLite or PostgreSQL behind one pool, migrated at start
//! ([`db`]).

pub mod db;
pub mod options;
