//! `msa audit image`: what an image gives away before it runs.
//!
//! [`archive`] reads a `docker save` archive and [`oci`] an OCI image layout, both into an
//! [`model::Image`]: config, history and the filesystem [`layers`] rebuilds from the layers,
//! in order, applying the whiteouts of each, keeping what a later layer deleted (a secret
//! removed in a later layer is still in the image for anyone who pulls it).

pub mod archive;
pub mod layers;
pub mod model;
pub mod oci;
pub mod secrets;
pub mod config;
pub mod files;
