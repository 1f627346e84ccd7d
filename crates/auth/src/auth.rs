//! `django.contrib.auth`'s keys in the session: who is logged in, with which backend, under which password.

use crate::crypto::{Algorithm, SaltedHmac, constant_time_compare, salted_hmac_hex, to_hex};
use crate::session::SessionData;
use crate::signing::{KeyMatch, Keys};
use crate::value::Value;

/// `django.contrib.auth.SESSION_KEY`: the user's primary key, as a string (`pk.value_to_string`).
pub const SESSION_KEY: &str = "_auth_user_id";
/// `django.contrib.auth.BACKEND_SESSION_KEY`: the dotted path of the backend that authenticated the user.
pub const BACKEND_SESSION_KEY: &str = "_auth_user_backend";
/// `django.contrib.auth.HASH_SESSION_KEY`: `get_session_auth_hash()` at login time.
pub const HASH_SESSION_KEY: &str = "_auth_user_hash";
/// The backend Django's default `AUTHENTICATION_BACKENDS` names.
pub const MODEL_BACKEND: &str = "django.contrib.auth.backends.ModelBackend";

/// The backend a login records in `_auth_user_backend` (Django's `user.backend`, the one that
/// authenticated): `ModelBackend` when `AUTHENTICATION_BACKENDS` lists it (our services check passwords as
/// it does), else the first listed backend (a project's subclass of it); `None` when none is configured,
/// and then nobody can log in, as in Django.
pub fn login_backend(authentication_backends: &[String]) -> Option<&str> {
    authentication_backends
        .iter()
        .find(|b| b.as_str() == MODEL_BACKEND)
        .or_else(|| authentication_backends.first())
        .map(String::as_str)
}

const SESSION_AUTH_HASH_SALT: &str =
    "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash";

/// `AbstractBaseUser.get_session_auth_hash()` (Django ≥ 4.0): HMAC-SHA256 hex of the *encoded* password
/// (`auth_user.password`) under `SECRET_KEY`. Any password change, including a hasher upgrade, changes it
/// and so ends every other session of the user.
pub fn get_session_auth_hash(encoded_password: &str, secret: &str) -> String {
    salted_hmac_hex(
        SESSION_AUTH_HASH_SALT,
        encoded_password.as_bytes(),
        secret,
        Algorithm::Sha256,
    )
}

/// The check in `django.contrib.auth.get_user`, with a one-off [`SessionAuthHasher`]: see
/// [`SessionAuthHasher::verify`]. Services checking on every request should keep a `SessionAuthHasher`.
pub fn verify_session_auth_hash(
    session_hash: Option<&str>,
    encoded_password: &str,
    keys: &Keys,
) -> Option<KeyMatch> {
    SessionAuthHasher::new(keys).verify(session_hash, encoded_password)
}

/// `get_session_auth_hash` under `SECRET_KEY` and each of `SECRET_KEY_FALLBACKS`, with each key's HMAC
/// derived once (at start-up) instead of on every request.
#[derive(Clone)]
pub struct SessionAuthHasher {
    /// `[SECRET_KEY, *SECRET_KEY_FALLBACKS]`, in Django's order of verification.
    macs: Vec<SaltedHmac>,
}

impl SessionAuthHasher {
    /// Derives `get_session_auth_hash`'s `salted_hmac` key (`H(key_salt + secret)`) once for `SECRET_KEY`
    /// and once for each of `SECRET_KEY_FALLBACKS`, in that order.
    pub fn new(keys: &Keys) -> SessionAuthHasher {
        let macs = keys
            .verification_keys()
            .map(|key| {
                SaltedHmac::new(
                    SESSION_AUTH_HASH_SALT.as_bytes(),
                    key.as_bytes(),
                    Algorithm::Sha256,
                )
            })
            .collect();
        SessionAuthHasher { macs }
    }

    /// `user.get_session_auth_hash()` under the current `SECRET_KEY`.
    pub fn get_session_auth_hash(&self, encoded_password: &str) -> String {
        self.macs
            .first()
            .map(|mac| to_hex(&mac.mac(encoded_password.as_bytes())))
            .unwrap_or_default()
    }

    /// The check in `django.contrib.auth.get_user`: the stored hash against the hash under `SECRET_KEY`,
    /// then under each of `SECRET_KEY_FALLBACKS`, each compare in constant time. A missing or empty hash
    /// never verifies. On `Fallback`, Django (and the stores) cycle the session key and store the
    /// current-key hash.
    pub fn verify(&self, session_hash: Option<&str>, encoded_password: &str) -> Option<KeyMatch> {
        let session_hash = session_hash.filter(|h| !h.is_empty())?;
        self.macs.iter().enumerate().find_map(|(i, mac)| {
            let expected = to_hex(&mac.mac(encoded_password.as_bytes()));
            constant_time_compare(session_hash, expected).then_some(if i == 0 {
                KeyMatch::Current
            } else {
                KeyMatch::Fallback(i - 1)
            })
        })
    }
}

/// The three auth keys of a session, as `get_user` reads them.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionAuth {
    /// `_auth_user_id` as stored (a string since Django 1.7; an int in older pickled sessions).
    pub user_id: String,
    /// `_auth_user_backend`: the dotted path of the backend that logged the user in.
    pub backend: String,
    /// `_auth_user_hash`: `get_session_auth_hash()` at login; `None` when absent or not a string.
    pub hash: Option<String>,
}

impl std::fmt::Debug for SessionAuth {
    // The auth hash is a credential: it never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionAuth")
            .field("user_id", &self.user_id)
            .field("backend", &self.backend)
            .field("hash", &self.hash.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl SessionAuth {
    /// `_auth_user_id` as stored: `str(pk)` as Django wrote it. The user model parses it
    /// ([`crate::user_model::PkKind::to_python`]); the per-user session index keys on it as it is.
    pub fn user_pk(&self) -> &str {
        &self.user_id
    }
}

/// Reads the auth keys; `None` when `_auth_user_id` or `_auth_user_backend` is missing (anonymous).
pub fn session_auth(data: &SessionData) -> Option<SessionAuth> {
    let user_id = match data.get(SESSION_KEY)? {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => return None,
    };
    let backend = data.get(BACKEND_SESSION_KEY)?.as_str()?.to_string();
    let hash = data
        .get(HASH_SESSION_KEY)
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(SessionAuth {
        user_id,
        backend,
        hash,
    })
}

/// The last step of `django.contrib.auth.login()`: sets the three keys in Django's order (the order shows
/// in the pickled and JSON bytes). The caller has already cycled or flushed the session as `login()` does.
pub fn set_session_auth(
    data: &mut SessionData,
    user_pk: &str,
    backend: &str,
    session_auth_hash: &str,
) {
    data.insert(SESSION_KEY, user_pk);
    data.insert(BACKEND_SESSION_KEY, backend);
    data.insert(HASH_SESSION_KEY, session_auth_hash);
}

/// Django's backends whose `user_can_authenticate` is `True` for everyone: their sessions keep an inactive
/// user logged in. Every other backend listed in `AUTHENTICATION_BACKENDS` is taken to be `ModelBackend`'s
/// lookup by key with its `is_active` rule (a subclass, such as django-allauth's
/// `allauth.account.auth_backends.AuthenticationBackend`).
pub const ALLOWS_INACTIVE_BACKENDS: &[&str] = &[
    "django.contrib.auth.backends.AllowAllUsersModelBackend",
    "django.contrib.auth.backends.AllowAllUsersRemoteUserBackend",
];

/// What `django.contrib.auth.get_user` decides once the session and the user row are loaded.
#[derive(Clone, PartialEq, Eq)]
pub enum GetUser {
    /// The session's user, with the hash under the current `SECRET_KEY`.
    Authenticated {
        /// `str(user.pk)` of the user row.
        user_pk: String,
    },
    /// The hash matched a key in `SECRET_KEY_FALLBACKS`: the user is authenticated, and Django then calls
    /// `cycle_key()` and stores `new_hash` (the current-key hash) under `_auth_user_hash`.
    AuthenticatedUpgrade {
        /// `str(user.pk)` of the user row.
        user_pk: String,
        /// `get_session_auth_hash()` of the user's password under the current `SECRET_KEY`.
        new_hash: String,
    },
    /// Anonymous, the session left as it is (no auth keys, a backend not in `AUTHENTICATION_BACKENDS`, or no
    /// active user with that pk).
    Anonymous,
    /// Anonymous, and Django calls `session.flush()`: the hash is missing or matches no key (the password
    /// changed, or the session was forged).
    AnonymousFlush,
}

/// The user row as `get_user` needs it; `None` from the store when no user has that pk.
#[derive(Clone)]
pub struct UserForSession<'a> {
    /// `str(user.pk)`.
    pub pk: &'a str,
    /// The encoded password (`user.password`, e.g. `pbkdf2_sha256$...`) the session hash is derived from.
    pub password: &'a str,
    /// `user.is_active`: an inactive user is anonymous unless the backend allows inactive users.
    pub is_active: bool,
}

impl std::fmt::Debug for GetUser {
    // The new hash is a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GetUser::Authenticated { user_pk } => {
                write!(f, "Authenticated {{ user_pk: {user_pk} }}")
            }
            GetUser::AuthenticatedUpgrade { user_pk, .. } => {
                write!(
                    f,
                    "AuthenticatedUpgrade {{ user_pk: {user_pk}, new_hash: <hidden> }}"
                )
            }
            GetUser::Anonymous => write!(f, "Anonymous"),
            GetUser::AnonymousFlush => write!(f, "AnonymousFlush"),
        }
    }
}

impl std::fmt::Debug for UserForSession<'_> {
    // The password hash never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserForSession")
            .field("pk", &self.pk)
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

/// `django.contrib.auth.get_user(request)` (4.1.8+/5.x) as a pure decision: the caller loads the session, reads
/// `session_auth`, fetches the user whose key `user_id` names (the backend's `get_user(user_id)`: `user` is
/// that row or `None`), then applies the outcome (cycle, rewrite or flush).
///
/// `ModelBackend.get_user` answers `None` for an inactive user (`user_can_authenticate`), so an inactive user
/// is anonymous without a flush, exactly as in Django; the `AllowAllUsers…` backends accept inactive users
/// ([`ALLOWS_INACTIVE_BACKENDS`]).
pub fn get_user(
    auth: Option<&SessionAuth>,
    authentication_backends: &[String],
    user: Option<&UserForSession>,
    hasher: &SessionAuthHasher,
) -> GetUser {
    let Some(auth) = auth else {
        return GetUser::Anonymous;
    };
    if !authentication_backends.iter().any(|b| b == &auth.backend) {
        return GetUser::Anonymous;
    }
    let allows_inactive = ALLOWS_INACTIVE_BACKENDS.contains(&auth.backend.as_str());
    let Some(user) = user.filter(|u| u.is_active || allows_inactive) else {
        return GetUser::Anonymous;
    };
    match hasher.verify(auth.hash.as_deref(), user.password) {
        Some(KeyMatch::Current) => GetUser::Authenticated {
            user_pk: user.pk.to_string(),
        },
        Some(KeyMatch::Fallback(_)) => GetUser::AuthenticatedUpgrade {
            user_pk: user.pk.to_string(),
            new_hash: hasher.get_session_auth_hash(user.password),
        },
        None => GetUser::AnonymousFlush,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_backend_prefers_model_backend() {
        let listed = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            login_backend(&listed(&["x.Custom", MODEL_BACKEND])),
            Some(MODEL_BACKEND)
        );
        assert_eq!(login_backend(&listed(&["x.Custom"])), Some("x.Custom"));
        assert_eq!(login_backend(&[]), None);
    }

    const ENCODED: &str =
        "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv$ESUkIq3XvMIs+R/ZmdQSkE1EDQIVk18SzognBfgBuPQ=";

    #[test]
    fn hash_vectors_and_fallbacks() {
        let current = get_session_auth_hash(ENCODED, "django-insecure-test-secret-key-0123456789");
        assert_eq!(
            current,
            "0d00fe7cc42a4b051a24843251944d3fab8fb64fd364c54bcce7e775ae9b4b3e"
        );
        let old = get_session_auth_hash(ENCODED, "old-secret-key-1");
        assert_eq!(
            old,
            "a915f315ae44c78627851eb198f89fc82155c67db3b396114e2e0a138226c819"
        );
        let keys = Keys::new(
            "django-insecure-test-secret-key-0123456789",
            vec!["x".into(), "old-secret-key-1".into()],
        );
        assert_eq!(
            verify_session_auth_hash(Some(&current), ENCODED, &keys),
            Some(KeyMatch::Current)
        );
        assert_eq!(
            verify_session_auth_hash(Some(&old), ENCODED, &keys),
            Some(KeyMatch::Fallback(1))
        );
        assert_eq!(
            verify_session_auth_hash(Some("garbage"), ENCODED, &keys),
            None
        );
        assert_eq!(verify_session_auth_hash(Some(""), ENCODED, &keys), None);
        assert_eq!(verify_session_auth_hash(None, ENCODED, &keys), None);
    }

    #[test]
    fn get_user_outcomes() {
        let keys = SessionAuthHasher::new(&Keys::new("new", vec!["old".into()]));
        let backends = vec![MODEL_BACKEND.to_string()];
        let user = UserForSession {
            pk: "1",
            password: ENCODED,
            is_active: true,
        };
        let auth = |hash: Option<String>, backend: &str| SessionAuth {
            user_id: "1".into(),
            backend: backend.into(),
            hash,
        };
        let current = Some(get_session_auth_hash(ENCODED, "new"));
        let old = Some(get_session_auth_hash(ENCODED, "old"));
        assert_eq!(
            get_user(
                Some(&auth(current.clone(), MODEL_BACKEND)),
                &backends,
                Some(&user),
                &keys
            ),
            GetUser::Authenticated {
                user_pk: "1".into()
            }
        );
        assert_eq!(
            get_user(
                Some(&auth(old, MODEL_BACKEND)),
                &backends,
                Some(&user),
                &keys
            ),
            GetUser::AuthenticatedUpgrade {
                user_pk: "1".into(),
                new_hash: current.clone().unwrap()
            }
        );
        assert_eq!(
            get_user(
                Some(&auth(Some("x".into()), MODEL_BACKEND)),
                &backends,
                Some(&user),
                &keys
            ),
            GetUser::AnonymousFlush
        );
        assert_eq!(
            get_user(
                Some(&auth(None, MODEL_BACKEND)),
                &backends,
                Some(&user),
                &keys
            ),
            GetUser::AnonymousFlush
        );
        assert_eq!(
            get_user(
                Some(&auth(current.clone(), "other.Backend")),
                &backends,
                Some(&user),
                &keys
            ),
            GetUser::Anonymous
        );
        let inactive = UserForSession {
            is_active: false,
            ..user.clone()
        };
        assert_eq!(
            get_user(
                Some(&auth(current.clone(), MODEL_BACKEND)),
                &backends,
                Some(&inactive),
                &keys
            ),
            GetUser::Anonymous
        );
        let allow_all = ALLOWS_INACTIVE_BACKENDS[0];
        assert_eq!(
            get_user(
                Some(&auth(current.clone(), allow_all)),
                &[allow_all.to_string()],
                Some(&inactive),
                &keys
            ),
            GetUser::Authenticated {
                user_pk: "1".into()
            }
        );
        assert_eq!(
            get_user(Some(&auth(current, MODEL_BACKEND)), &backends, None, &keys),
            GetUser::Anonymous
        );
        assert_eq!(
            get_user(None, &backends, Some(&user), &keys),
            GetUser::Anonymous
        );
    }

    #[test]
    fn keys_in_djangos_order() {
        let mut s = SessionData::new();
        s.insert("counter", Value::Int(1));
        set_session_auth(&mut s, "1", MODEL_BACKEND, "h");
        let keys: Vec<&str> = s.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "counter",
                SESSION_KEY,
                BACKEND_SESSION_KEY,
                HASH_SESSION_KEY
            ]
        );
        let auth = session_auth(&s).unwrap();
        assert_eq!((auth.user_pk(), auth.hash.as_deref()), ("1", Some("h")));
    }
}
