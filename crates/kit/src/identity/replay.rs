//! The memory of state-changing tokens already used, so that none is accepted twice.
//!
//! A token lives seconds, so the memory needs to hold each id only until its token expires:
//! after that the token is refused as expired anyway. It is bounded in count too; when it
//! is full, a write is refused as busy rather than let through unrecorded.
//!
//! The memory is the process's own. A replica of the same service, or the process after a
//! restart, does not share it: mutual TLS is what keeps tokens off the wire to begin with,
//! and this memory is the second line behind it (`docs/security.md`).

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use crate::identity::token::CLOCK_LEEWAY_SECONDS;

/// How many token ids are remembered at most: four thousand writes a second, each kept
/// for a token's longest life.
pub const MAX_REMEMBERED: usize = 1 << 18;

/// Why a token could not be recorded as used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unused {
    /// Its id was used before.
    Replayed,
    /// The memory is full: nothing can be recorded until older ids expire.
    Full,
}

#[derive(Debug, Default)]
pub struct Replays {
    remembered: Mutex<Remembered>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Remembered {
    ids: HashSet<u128>,
    /// The ids with their tokens' expiry, oldest first, to forget them in order.
    by_age: VecDeque<(i64, u128)>,
}

impl Replays {
    pub fn new() -> Self {
        Self::with_capacity(MAX_REMEMBERED)
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            remembered: Mutex::default(),
            capacity,
        }
    }

    /// Records the first use of token `id`, which expires at `expires`, or says why not.
    pub fn first_use(&self, id: u128, expires: i64, now: i64) -> Result<(), Unused> {
        // A panic elsewhere cannot leave the sets half-updated: each change below is whole.
        let mut remembered = self
            .remembered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        remembered.forget_expired(now);
        if remembered.ids.contains(&id) {
            return Err(Unused::Replayed);
        }
        if remembered.ids.len() >= self.capacity {
            return Err(Unused::Full);
        }
        remembered.ids.insert(id);
        remembered.by_age.push_back((expires, id));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.remembered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ids
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Remembered {
    /// Forgets the ids whose tokens every verifier now refuses as expired. Expiries arrive
    /// nearly in order (issuers' clocks differ by seconds); one a little out of order is
    /// forgotten a little late, never early.
    fn forget_expired(&mut self, now: i64) {
        while let Some(&(expires, id)) = self.by_age.front() {
            if expires > now - CLOCK_LEEWAY_SECONDS {
                break;
            }
            self.by_age.pop_front();
            self.ids.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_token_id_is_accepted_once() {
        let replays = Replays::new();
        assert_eq!(replays.first_use(1, NOW + 30, NOW), Ok(()));
        assert_eq!(
            replays.first_use(1, NOW + 30, NOW + 1),
            Err(Unused::Replayed)
        );
        assert_eq!(replays.first_use(2, NOW + 30, NOW + 1), Ok(()));
    }

    #[test]
    fn ids_are_forgotten_once_their_tokens_expire_and_not_before() {
        let replays = Replays::new();
        replays.first_use(1, NOW + 30, NOW).expect("first use");
        // Still refused up to the last second a verifier would take the token.
        let last_second = NOW + 30 + CLOCK_LEEWAY_SECONDS - 1;
        assert_eq!(
            replays.first_use(1, NOW + 30, last_second),
            Err(Unused::Replayed)
        );
        replays
            .first_use(2, NOW + 60, NOW + 30 + CLOCK_LEEWAY_SECONDS)
            .expect("another id");
        assert_eq!(replays.len(), 1, "the expired id is forgotten");
    }

    #[test]
    fn a_full_memory_refuses_rather_than_forgets() {
        let replays = Replays::with_capacity(2);
        replays.first_use(1, NOW + 30, NOW).expect("room");
        replays.first_use(2, NOW + 30, NOW).expect("room");
        assert_eq!(replays.first_use(3, NOW + 30, NOW), Err(Unused::Full));
        assert_eq!(replays.first_use(1, NOW + 30, NOW), Err(Unused::Replayed));
        // Room again once the oldest expire.
        assert_eq!(
            replays.first_use(3, NOW + 60, NOW + 30 + CLOCK_LEEWAY_SECONDS),
            Ok(())
        );
    }
}
