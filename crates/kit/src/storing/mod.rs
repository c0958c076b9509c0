//! Each service's own database: SQLite or PostgreSQL behind one pool, migrated at start
//! ([`db`]). Its hot reads ([`readers`]) and its write transactions ([`write`]) take a
//! [`statement::Statement`] and give [`statement::Record`]s; on SQLite they run on threads
//! of our own, two reading and one writing per database, each with a connection of its own.

pub mod db;
pub mod options;
pub mod readers;
mod sqlite_readers;
mod sqlite_statement;
mod sqlite_threads;
pub mod statement;
pub mod write;
