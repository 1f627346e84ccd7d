//! What the stores count for the services' `/metrics`: session data that could not be read, by reason,
//! and store errors, by store. Process-wide counters (the stores run below any one service's registry);
//! the services export them at each scrape.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::connections::StoreError;
use crate::pickle::PickleError;
use crate::session::SessionError;
use crate::signing::SigningError;

/// Why a session cookie or stored session was not used (each is anonymous, as in Django). Declared in
/// [`DecodeFailure::ALL`]'s order, so `reason as usize` is its counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeFailure {
    /// A cookie that no engine could have issued (wrong length or characters): refused before any
    /// round trip.
    MalformedKey,
    /// A pickle cut short.
    Truncated,
    /// A pickle needing what Django's values never need (persistent ids, extension codes…).
    UnsupportedPickle,
    /// Any other pickle Python itself would refuse.
    InvalidPickle,
    /// Over a size, depth or count limit.
    TooLarge,
    /// A signature that does not match any of the keys (signed cookies, pre-3.1 data).
    BadSignature,
    /// A signed cookie older than `SESSION_COOKIE_AGE`.
    ExpiredSignature,
    /// A signed payload that does not decode, or JSON that does not parse.
    InvalidPayload,
    /// Valid data that is not a dict of str keys.
    NotADict,
    /// Data in no known format.
    Unrecognised,
    /// A `_session_expiry` Django could not compute an expiry from.
    BadExpiry,
}

impl DecodeFailure {
    /// Every reason, in declaration order: index `reason as usize` is that reason's counter.
    pub const ALL: [DecodeFailure; 11] = [
        DecodeFailure::MalformedKey,
        DecodeFailure::Truncated,
        DecodeFailure::UnsupportedPickle,
        DecodeFailure::InvalidPickle,
        DecodeFailure::TooLarge,
        DecodeFailure::BadSignature,
        DecodeFailure::ExpiredSignature,
        DecodeFailure::InvalidPayload,
        DecodeFailure::NotADict,
        DecodeFailure::Unrecognised,
        DecodeFailure::BadExpiry,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            DecodeFailure::MalformedKey => "malformed_key",
            DecodeFailure::Truncated => "truncated",
            DecodeFailure::UnsupportedPickle => "unsupported_pickle",
            DecodeFailure::InvalidPickle => "invalid_pickle",
            DecodeFailure::TooLarge => "too_large",
            DecodeFailure::BadSignature => "bad_signature",
            DecodeFailure::ExpiredSignature => "expired_signature",
            DecodeFailure::InvalidPayload => "invalid_payload",
            DecodeFailure::NotADict => "not_a_dict",
            DecodeFailure::Unrecognised => "unrecognised",
            DecodeFailure::BadExpiry => "bad_expiry",
        }
    }

    fn of_signing(error: &SigningError) -> DecodeFailure {
        match error {
            SigningError::NoSeparator(_) | SigningError::BadSignature => {
                DecodeFailure::BadSignature
            }
            SigningError::Expired { .. } => DecodeFailure::ExpiredSignature,
            SigningError::TooLarge => DecodeFailure::TooLarge,
            SigningError::BadTimestamp | SigningError::BadPayload(_) | SigningError::Json(_) => {
                DecodeFailure::InvalidPayload
            }
        }
    }

    /// The reason a decode error counts under.
    pub fn of(error: &SessionError) -> DecodeFailure {
        match error {
            SessionError::Pickle(e) => match e {
                PickleError::Truncated { .. } => DecodeFailure::Truncated,
                PickleError::Unsupported { .. }
                | PickleError::UnsupportedProtocol(_)
                | PickleError::UnsupportedDumpsProtocol(_) => DecodeFailure::UnsupportedPickle,
                PickleError::InputTooLarge { .. }
                | PickleError::LengthTooLarge { .. }
                | PickleError::TooDeep { .. }
                | PickleError::TooManyNodes { .. }
                | PickleError::TooMuchHashing { .. }
                | PickleError::TooManyBytes { .. }
                | PickleError::MemoTooLarge { .. } => DecodeFailure::TooLarge,
                _ => DecodeFailure::InvalidPickle,
            },
            SessionError::Signing(e) => DecodeFailure::of_signing(e),
            SessionError::Json(_) => DecodeFailure::InvalidPayload,
            SessionError::NotADict => DecodeFailure::NotADict,
            SessionError::LegacyHashMismatch => DecodeFailure::BadSignature,
            SessionError::Unrecognised | SessionError::Random(_) => DecodeFailure::Unrecognised,
            SessionError::BadExpiry => DecodeFailure::BadExpiry,
        }
    }
}

static DECODE_FAILURES: [AtomicU64; DecodeFailure::ALL.len()] =
    [const { AtomicU64::new(0) }; DecodeFailure::ALL.len()];

/// Counts one session that could not be used, for `reason`.
pub fn record_decode_failure(reason: DecodeFailure) {
    DECODE_FAILURES[reason as usize].fetch_add(1, Ordering::Relaxed);
}

/// Every reason with its count so far (zeros included, so the series exist from the start).
pub fn decode_failures() -> Vec<(&'static str, u64)> {
    DecodeFailure::ALL
        .iter()
        .zip(DECODE_FAILURES.iter())
        .map(|(reason, count)| (reason.label(), count.load(Ordering::Relaxed)))
        .collect()
}

/// The stores, as `StoreError::Unavailable` names them.
pub const STORES: [&str; 2] = ["redis", "postgresql"];

static STORE_ERRORS: [AtomicU64; STORES.len()] = [const { AtomicU64::new(0) }; STORES.len()];

/// Counts a failed call to a store (an outage, a timeout, a refused query).
pub fn record_store_error(error: &StoreError) {
    if let StoreError::Unavailable { service, .. } = error {
        if let Some(i) = STORES.iter().position(|s| s == service) {
            STORE_ERRORS[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Every store with its error count so far.
pub fn store_errors() -> Vec<(&'static str, u64)> {
    STORES
        .iter()
        .zip(STORE_ERRORS.iter())
        .map(|(store, count)| (*store, count.load(Ordering::Relaxed)))
        .collect()
}

static REDIS_WAIT_TIMEOUTS: AtomicU64 = AtomicU64::new(0);

/// Counts a deletion that no replica acknowledged within `REDIS_WAIT_TIMEOUT` (done on the primary only).
pub fn record_redis_wait_timeout() {
    REDIS_WAIT_TIMEOUTS.fetch_add(1, Ordering::Relaxed);
}

/// Deletions that no replica acknowledged in time, so far ([`crate::connections::Redis::delete_acknowledged`]).
pub fn redis_wait_timeouts() -> u64 {
    REDIS_WAIT_TIMEOUTS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_counted_under_their_labels() {
        let before = decode_failures();
        record_decode_failure(DecodeFailure::of(&SessionError::NotADict));
        record_decode_failure(DecodeFailure::of(&SessionError::Pickle(
            PickleError::Truncated { offset: 3 },
        )));
        let after = decode_failures();
        let delta = |label: &str| {
            let get = |v: &Vec<(&str, u64)>| v.iter().find(|(l, _)| *l == label).map(|(_, n)| *n);
            get(&after).unwrap_or(0) - get(&before).unwrap_or(0)
        };
        assert!(delta("not_a_dict") >= 1);
        assert!(delta("truncated") >= 1);
        assert_eq!(after.len(), DecodeFailure::ALL.len());
        for (i, reason) in DecodeFailure::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i, "{reason:?}");
        }
    }
}
