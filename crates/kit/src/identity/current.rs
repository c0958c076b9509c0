//! A value replaced whole while others read it: the keys of a gate or a signer, swapped by
//! the key ring when the key files change. A reader takes the value current when it looks
//! and keeps it for the one token it makes or checks.

use std::sync::{Arc, PoisonError, RwLock};

#[derive(Debug)]
pub struct Current<T>(RwLock<Arc<T>>);

impl<T> Current<T> {
    pub fn new(value: T) -> Self {
        Self(RwLock::new(Arc::new(value)))
    }

    pub fn get(&self) -> Arc<T> {
        // A writer only swaps one pointer: a panic cannot leave the value half-made.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set(&self, value: T) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(value);
    }
}
