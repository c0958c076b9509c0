//! The security toolkit: the same system seen from the attacker's side.
//!
//! [`container`] inspects the environment a process runs in, reading only what any process
//! may read (`/proc`, `/sys`, a few files), so that it works inside a `FROM scratch` image
//! where there is no `ps`, no shell and no other tool; [`report`] holds its findings.
//! [`api`] probes a running deployment from outside, item by item of the OWASP API
//! Security Top 10.
//! [`image`] reads an image before it runs (every layer, deleted files included, its config
//! and history) and inventories it; [`engine`] looks at the Docker engine from the host. Both
//! speak to the engine through [`docker`], its API over the socket.

pub mod api;
pub mod container;
pub mod docker;
pub mod engine;
pub mod image;
pub mod report;
