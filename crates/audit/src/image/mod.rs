//! `msa audit image` (issue 17, under way): what an image gives away before it runs.
//!
//! [`archive`] reads a `docker save` archive: manifest, config, history and layers.
//! [`layers`] rebuilds an image's filesystem from its layers, in order, applying the
//! whiteouts of each, and keeps what a later layer deleted: a secret removed in a later
//! layer is still in the image for anyone who pulls it.

pub mod archive;
pub mod layers;
