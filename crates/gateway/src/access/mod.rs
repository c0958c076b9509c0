//! Access control at the door: who is calling ([`authn`], [`identity`]), the sessions and
//! API keys they prove it with ([`sessions`], [`secret`], and the `/api/v1/auth` routes in
//! [`auth`]), what they may reach ([`policy`], [`scopes`]), and how that ends when their
//! account is deleted or its role changes ([`deprovision`]). A change to who may do
//! what belongs in this folder, and nowhere else.

pub mod auth;
pub mod authn;
pub mod deprovision;
pub mod identity;
pub mod policy;
pub mod scopes;
pub mod secret;
pub mod sessions;
