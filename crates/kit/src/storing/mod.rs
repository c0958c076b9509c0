//! Each service's own database: SQLite or PostgreSQL behind one pool, migrated at start
//! ([`db`]), its hot reads ([`readers`], each a [`read::Read`] giving a [`read::Record`]),
//! on SQLite on threads of their own ([`sqlite_readers`]), and its writes, one writer at a
//! time on SQLite ([`write`]).

pub mod db;
pub mod options;
pub mod read;
pub mod readers;
mod sqlite_readers;
pub mod write;
