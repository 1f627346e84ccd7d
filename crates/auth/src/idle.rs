//! The idle timeout (`SESSION_IDLE_TIMEOUT`), as OpenStack Horizon's `SESSION_TIMEOUT` does it on Django:
//! each logged-in session carries `last_activity` (Unix seconds, an `int`, Horizon's key and type, so a
//! Horizon-style middleware on the Django side reads the same stamp); a request arriving more than the
//! timeout after it ends the session.
//!
//! Horizon rewrites the stamp on every request, which makes every page view a session write. Here the
//! stamp is only rewritten once it is [`touch_interval`] old, so a session may end up to that much earlier
//! than the exact timeout; never later.

use crate::auth;
use crate::session::SessionData;
use crate::value::Value;

/// Horizon's session key for the time of the last request.
pub const LAST_ACTIVITY_KEY: &str = "last_activity";

/// What the idle rule says about a session at a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// Not logged in, or the timeout is off: nothing to do.
    NotApplicable,
    /// Within the timeout, stamped recently enough: no write.
    Fresh,
    /// Within the timeout (or never stamped): stamp it with the request's time.
    Touch,
    /// Idle too long: the session ends (flush), and the user is told why.
    Expired,
}

/// How old the stamp may get before it is rewritten: a tenth of the timeout, between 1 and 60 seconds.
pub fn touch_interval(timeout: i64) -> i64 {
    (timeout / 10).clamp(1, 60)
}

/// The decision for `data` at `now` (Unix seconds) with `timeout` seconds (`None`: off). Only sessions
/// holding a user are concerned, so anonymous visitors cause no writes. A stamp that is not an `int` (or
/// lies in the future) is treated as missing and rewritten.
pub fn check(data: &SessionData, timeout: Option<i64>, now: i64) -> Activity {
    let Some(timeout) = timeout else {
        return Activity::NotApplicable;
    };
    if !data.contains_key(auth::SESSION_KEY) {
        return Activity::NotApplicable;
    }
    match data.get(LAST_ACTIVITY_KEY) {
        Some(Value::Int(last)) if *last <= now => {
            let idle = now - last;
            if idle > timeout {
                Activity::Expired
            } else if idle >= touch_interval(timeout) {
                Activity::Touch
            } else {
                Activity::Fresh
            }
        }
        _ => Activity::Touch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(last: Option<Value>) -> SessionData {
        let mut data = SessionData::new();
        data.insert(auth::SESSION_KEY.to_string(), Value::from("1"));
        if let Some(last) = last {
            data.insert(LAST_ACTIVITY_KEY.to_string(), last);
        }
        data
    }

    #[test]
    fn decisions() {
        let now = 1_800_000_000;
        assert_eq!(
            check(&session(None), None, now),
            Activity::NotApplicable,
            "off"
        );
        assert_eq!(
            check(&SessionData::new(), Some(600), now),
            Activity::NotApplicable,
            "anonymous"
        );
        assert_eq!(check(&session(None), Some(600), now), Activity::Touch);
        let at = |secs_ago: i64| session(Some(Value::Int(now - secs_ago)));
        assert_eq!(check(&at(0), Some(600), now), Activity::Fresh);
        assert_eq!(check(&at(59), Some(600), now), Activity::Fresh);
        assert_eq!(check(&at(60), Some(600), now), Activity::Touch);
        assert_eq!(check(&at(600), Some(600), now), Activity::Touch);
        assert_eq!(check(&at(601), Some(600), now), Activity::Expired);
        assert_eq!(check(&at(-5), Some(600), now), Activity::Touch, "future");
        assert_eq!(
            check(&session(Some(Value::from("x"))), Some(600), now),
            Activity::Touch
        );
        assert_eq!(touch_interval(5), 1);
        assert_eq!(touch_interval(100), 10);
        assert_eq!(touch_interval(86_400), 60);
    }
}

/// Where this project keeps what the sessions page shows about a logged-in session: a dict of `created`,
/// `seen` (Unix seconds), `ip` and `ua` (the browser's User-Agent, cut to [`MAX_USER_AGENT`] characters).
/// Django ignores keys it does not know and keeps them through its own saves, so the key travels with the
/// session on every engine. Not secret, but personal: only the session's own user is shown it.
pub const SESSION_META_KEY: &str = "_django_rs_session";

/// The longest User-Agent kept.
pub const MAX_USER_AGENT: usize = 200;

/// How often `seen` is rewritten when the idle timeout is off.
pub const SEEN_INTERVAL: i64 = 60;

/// The client of the current request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Client {
    /// The client's IP address (`hosts::client_address`: the peer, or `X-Forwarded-For` per `NUM_PROXIES`).
    pub ip: String,
    /// The `User-Agent` header as sent (`to_value` stores at most [`MAX_USER_AGENT`] characters of it).
    pub user_agent: String,
}

/// A session's activity record (see [`SESSION_META_KEY`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionMeta {
    /// When the record was first written for this login, in Unix seconds (`created`).
    pub created: i64,
    /// The last request that updated the record, in Unix seconds (`seen`).
    pub seen: i64,
    /// The client of that request (`ip` and `ua`).
    pub client: Client,
}

impl SessionMeta {
    /// The record in `data`, if it is there and well-formed.
    pub fn read(data: &SessionData) -> Option<SessionMeta> {
        let Some(Value::Dict(items)) = data.get(SESSION_META_KEY) else {
            return None;
        };
        let get = |name: &str| {
            items
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == name))
                .map(|(_, v)| v)
        };
        let int = |name| match get(name) {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        };
        let text = |name| match get(name) {
            Some(Value::Str(s)) => s.clone(),
            _ => String::new(),
        };
        Some(SessionMeta {
            created: int("created")?,
            seen: int("seen")?,
            client: Client {
                ip: text("ip"),
                user_agent: text("ua"),
            },
        })
    }

    /// As stored: a dict with string keys.
    pub fn to_value(&self) -> Value {
        let user_agent: String = self
            .client
            .user_agent
            .chars()
            .take(MAX_USER_AGENT)
            .collect();
        Value::Dict(vec![
            (Value::from("created"), Value::Int(self.created)),
            (Value::from("seen"), Value::Int(self.seen)),
            (Value::from("ip"), Value::from(self.client.ip.as_str())),
            (Value::from("ua"), Value::Str(user_agent)),
        ])
    }
}

/// What to write for a logged-in session at a request: a new record, or `seen` (and the client) brought up
/// to date once it is `interval` old; `None` when nothing changes.
pub fn updated_meta(
    data: &SessionData,
    client: impl FnOnce() -> Client,
    now: i64,
    interval: i64,
) -> Option<SessionMeta> {
    if !data.contains_key(auth::SESSION_KEY) {
        return None;
    }
    match SessionMeta::read(data) {
        None => Some(SessionMeta {
            created: now,
            seen: now,
            client: client(),
        }),
        Some(meta) if now - meta.seen >= interval || meta.seen > now => Some(SessionMeta {
            seen: now,
            client: client(),
            ..meta
        }),
        Some(_) => None,
    }
}
