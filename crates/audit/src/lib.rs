//! The security toolkit: the same system seen from the attacker's side.
//!
//! [`container`] inspects the environment a process runs in, reading only what any process
//! may read (`/proc`, `/sys`, a few files), so that it works inside a `FROM scratch` image
//! where there is no `ps`, no shell and no other tool. [`report`] is how every audit tells
//! what it found.

pub mod api;
pub mod container;
pub mod report;
