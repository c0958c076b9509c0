//! A service's shared state as axum hands it around: axum clones the state for each
//! middleware on each request, so the state is one `Arc` and a clone is one reference count
//! (cloning a struct of a dozen `Arc`s was a fifth of the gateway's CPU on `/hello`).

use std::ops::Deref;
use std::sync::Arc;

pub struct Handle<T>(Arc<T>);

impl<T> Handle<T> {
    pub fn new(state: T) -> Self {
        Self(Arc::new(state))
    }
}

// By hand: a derived Clone would ask `T: Clone`, which the state need not be.
impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Deref for Handle<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}
