//! What a process can learn about the container it runs in. Every reader takes the root
//! of the file system to read (`/` in production, a fixture directory in tests), and
//! reports what it may not read as unknown instead of failing.

pub mod caps;
pub mod procfs;
