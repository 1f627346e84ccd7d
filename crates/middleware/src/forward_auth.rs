//! Forward auth: a reverse proxy (nginx `auth_request`, Caddy `forward_auth`, Traefik `ForwardAuth`,
//! Envoy `ext_authz`) asks, before each request to a service behind it, whether the request's Django
//! session is a logged-in user's, and passes the user on to the service in headers. The service needs no
//! code: Django's login, logout and password change apply to it through the proxy.
//!
//! [`DjangoAuth::forward_auth`] answers one such question: 200 with the identity headers
//! ([`IDENTITY_HEADERS`], as oauth2-proxy and Authelia name them), 401 when the request has no logged-in
//! user, 403 when the user is not allowed (`FORWARD_AUTH_REQUIRE_STAFF`, `FORWARD_AUTH_GROUPS`, the CSRF
//! check of `FORWARD_AUTH_CSRF`, a host outside `ALLOWED_HOSTS`), 503 when a store does not answer.
//! Never a redirect: nginx takes a 3xx from `auth_request` for an error and Envoy only a 200; the
//! proxies' configurations redirect browsers to the login page themselves.
//!
//! The original request is what the proxy says it was ([`Original`]): `X-Forwarded-Method`,
//! `X-Forwarded-Uri` (or nginx's `X-Original-URI`), `X-Forwarded-Host` and `X-Forwarded-Proto`, believed
//! only when `NUM_PROXIES` says the service is behind a proxy. Without one, the request itself is the
//! original (Envoy's `ext_authz` sends the original method, host and path).

use django_auth_core::settings::{ForwardAuthCsrf, Settings};
use django_auth_core::users::User;
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::request::{DjangoAuth, Rejection, RequestHead, ResponseHeaders, client, is_safe_method};

/// The headers a 200 carries, in this order: oauth2-proxy's `X-Auth-Request-User` (the `USERNAME_FIELD`),
/// `-Email`, `-User-Id` (`str(user.pk)`) and `-Groups` (the user's Django group names, comma-separated),
/// then Authelia's `Remote-User`, `Remote-Email`, `Remote-Groups` and `Remote-Name` (`get_full_name()`).
/// Every one of them is sent on a 200, empty when the user has no such value (no email, no group), so a
/// proxy that copies the answer's headers onto the request (Envoy, Caddy) replaces each one a client sent;
/// the shipped configurations also strip them from the client's request.
pub const IDENTITY_HEADERS: [&str; 8] = [
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-User-Id",
    "X-Auth-Request-Groups",
    "Remote-User",
    "Remote-Email",
    "Remote-Groups",
    "Remote-Name",
];

/// Why a forward-auth request is not let through.
#[derive(Debug, thiserror::Error)]
pub enum ForwardAuthError {
    /// 401: no session, or one whose user Django's `get_user` does not accept (log in).
    #[error("Authentication credentials were not provided.")]
    NotAuthenticated,
    /// 401: a session cookie longer than any browser keeps (the message says what to do).
    #[error("{0}")]
    BadCookie(String),
    /// 403: the original host is not in `ALLOWED_HOSTS`.
    #[error("The original host is not in ALLOWED_HOSTS.")]
    DisallowedHost,
    /// 403: the user is logged in but not allowed (`FORWARD_AUTH_REQUIRE_STAFF`, `FORWARD_AUTH_GROUPS`).
    #[error("You do not have permission to perform this action.")]
    PermissionDenied,
    /// 403: Django's CSRF check of the original unsafe request failed (`FORWARD_AUTH_CSRF`).
    #[error("CSRF Failed: {0}")]
    CsrfFailed(django_auth_core::csrf::CsrfRejection),
    /// 503: Redis or PostgreSQL did not answer.
    #[error("The session or user store is unavailable. Please retry shortly.")]
    Unavailable(#[source] django_auth_core::connections::StoreError),
    /// 500: the operating system's random source failed.
    #[error("A server error occurred.")]
    Random(#[source] django_auth_core::crypto::RandomError),
}

impl ForwardAuthError {
    /// What kind of refusal, for logs (the messages may quote a header: a Referer can carry a token).
    pub fn kind(&self) -> &'static str {
        match self {
            ForwardAuthError::NotAuthenticated => "not authenticated",
            ForwardAuthError::BadCookie(_) => "oversized session cookie",
            ForwardAuthError::DisallowedHost => "host not in ALLOWED_HOSTS",
            ForwardAuthError::PermissionDenied => "permission denied",
            ForwardAuthError::CsrfFailed(_) => "CSRF failed",
            ForwardAuthError::Unavailable(_) => "store unavailable",
            ForwardAuthError::Random(_) => "random source failed",
        }
    }

    /// The status to answer with: 401, 403, 503 or 500.
    pub fn status(&self) -> u16 {
        match self {
            ForwardAuthError::NotAuthenticated | ForwardAuthError::BadCookie(_) => 401,
            ForwardAuthError::DisallowedHost
            | ForwardAuthError::PermissionDenied
            | ForwardAuthError::CsrfFailed(_) => 403,
            ForwardAuthError::Unavailable(_) => 503,
            ForwardAuthError::Random(_) => 500,
        }
    }
}

/// Who a forward-auth request is from, when it may go through.
pub struct Identity {
    /// The logged-in user.
    pub user: User,
    /// The headers the answer carries ([`identity_headers`]).
    pub headers: Vec<(&'static str, String)>,
}

/// The answer to one forward-auth request.
pub struct ForwardAuth {
    /// The user and the identity headers, or why the request is refused.
    pub outcome: Result<Identity, ForwardAuthError>,
    /// The session cookie's `Set-Cookie` (a key cycled by `get_user`, a session ended) and `Vary`: the
    /// answer carries them whatever its status, and the proxy copies them to the client. Only the session
    /// cookie's: proxies join several `Set-Cookie`s into one (nginx 1.23+, Caddy), which breaks them, and
    /// the idle-timeout notice and a CSRF cookie are the portal's business.
    pub response: ResponseHeaders,
    /// For a 401: the original path and query as the login page's `next` ([`next_parameter`]), when the
    /// proxy said what it was.
    pub next: Option<String>,
}

impl ForwardAuth {
    /// The status to answer with: 200 or [`ForwardAuthError::status`].
    pub fn status(&self) -> u16 {
        match &self.outcome {
            Ok(_) => 200,
            Err(error) => error.status(),
        }
    }

    /// Every header of the answer, in order: the identity headers (a 200), `X-Auth-Request-Next` (a 401,
    /// for the login page's `next`), `Retry-After` (a 503), the session's `Set-Cookie`, `Vary: Cookie` and `Cache-Control: private, no-store` (an answer about
    /// one user's cookie, which no cache may keep). `Set-Cookie` may repeat: append, don't replace.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = match &self.outcome {
            Ok(identity) => identity.headers.clone(),
            Err(ForwardAuthError::Unavailable(_)) => vec![("Retry-After", "5".to_string())],
            Err(error) if error.status() == 401 => self
                .next
                .iter()
                .map(|next| ("X-Auth-Request-Next", next.clone()))
                .collect(),
            Err(_) => Vec::new(),
        };
        headers.extend(
            self.response
                .set_cookie
                .iter()
                .map(|cookie| ("Set-Cookie", cookie.clone())),
        );
        headers.push(("Vary", "Cookie".into()));
        headers.push(("Cache-Control", "private, no-store".into()));
        headers
    }

    /// A refusal's JSON body, as Django REST framework writes errors (`{"detail": "…"}`); none for a 200.
    pub fn body(&self) -> Option<String> {
        let error = self.outcome.as_ref().err()?;
        Some(serde_json::json!({ "detail": error.to_string() }).to_string())
    }
}

/// The original request a proxy asks about, as a [`RequestHead`]: with `NUM_PROXIES` > 0 the proxy's
/// `X-Forwarded-Method`, `X-Forwarded-Host`, `X-Forwarded-Proto` and `X-Forwarded-Port` replace the
/// request's own method, host, scheme and port; with `NUM_PROXIES` = 0 they are ignored and the request
/// is its own original. Everything else (the cookies, `Origin`, `Referer`, the CSRF header, the
/// client's address) is the request's, as the proxy forwards them.
pub struct Original<'a, R> {
    req: &'a R,
    trusted: bool,
}

impl<'a, R: RequestHead> Original<'a, R> {
    /// The original of `req`, trusting the proxy's headers as `settings.num_proxies` says.
    pub fn new(req: &'a R, settings: &Settings) -> Original<'a, R> {
        Original {
            req,
            trusted: settings.num_proxies > 0,
        }
    }

    /// The header `name` when the proxy's headers are trusted and it is set (not empty).
    fn forwarded(&self, name: &str) -> Option<&str> {
        self.req
            .header(name)
            .filter(|value| self.trusted && !value.is_empty())
    }

    /// The original path and query, `X-Forwarded-Uri` (else nginx's `X-Original-URI`) when trusted, for a
    /// service with rules of its own per path. (Never logged: a path may carry a token.)
    pub fn uri(&self) -> Option<&str> {
        self.forwarded("x-forwarded-uri")
            .or_else(|| self.forwarded("x-original-uri"))
    }
}

impl<R: RequestHead> RequestHead for Original<'_, R> {
    fn header(&self, name: &str) -> Option<&str> {
        match name {
            "host" => self
                .forwarded("x-forwarded-host")
                .or_else(|| self.req.header("host")),
            _ => self.req.header(name),
        }
    }

    fn cookie_header(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.req.cookie_header()
    }

    fn authority(&self) -> Option<&str> {
        self.req.authority()
    }

    fn method(&self) -> &str {
        match self.forwarded("x-forwarded-method") {
            // A method is a token (RFC 9110: `M-SEARCH` too).
            Some(method) if method.bytes().all(is_token_byte) => method,
            // Something the proxy passed on that is not a method: never a safe one.
            Some(_) => "INVALID",
            None => self.req.method(),
        }
    }

    fn peer_ip(&self) -> Option<std::net::IpAddr> {
        self.req.peer_ip()
    }

    fn server_port(&self) -> Option<u16> {
        if self.trusted {
            return self
                .forwarded("x-forwarded-port")
                .and_then(|port| port.trim().parse().ok());
        }
        self.req.server_port()
    }

    fn scheme(&self) -> Option<&str> {
        match self.forwarded("x-forwarded-proto") {
            // A proxy behind another appends: the first is the client's.
            Some(proto) => proto.split(',').next().map(str::trim),
            None => self.req.scheme(),
        }
    }
}

/// RFC 9110's `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A header value from a user's field: the bytes a header cannot carry, or that would change its meaning,
/// percent-encoded as in a URL (`%XX` of the UTF-8 bytes): control characters, `%` itself, a comma (the
/// groups' separator, so a group named `Sales, EMEA` is one item, `Sales%2C EMEA`), every non-ASCII byte
/// (`José` is `Jos%C3%A9`), and a space at either end (which HTTP strips). Any URL decoder gives the
/// value back; a plain ASCII name without a comma or `%` is sent as it is.
pub fn header_value(value: &str) -> String {
    // Control characters (C0 and DEL), `%`, the comma; `utf8_percent_encode` also encodes every
    // non-ASCII byte.
    const SET: &AsciiSet = &CONTROLS.add(b'%').add(b',');
    let encoded = utf8_percent_encode(value, SET).to_string();
    // HTTP strips the spaces around a value: keep them as `%20`.
    let trimmed = encoded.trim_matches(' ');
    let (leading, trailing) = match trimmed.is_empty() {
        true => (encoded.len(), 0),
        false => {
            let start = encoded.len() - encoded.trim_start_matches(' ').len();
            (start, encoded.len() - encoded.trim_end_matches(' ').len())
        }
    };
    format!(
        "{}{}{}",
        "%20".repeat(leading),
        trimmed,
        "%20".repeat(trailing)
    )
}

/// The original path and query as a login page's `next` parameter: every byte but the unreserved ones and
/// `/` percent-encoded, so a query's `&` and `=` stay inside `next`. `None` unless it is a path (`/…`).
pub fn next_parameter(uri: &str) -> Option<String> {
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'/');
    if !uri.starts_with('/') || uri.starts_with("//") {
        return None;
    }
    Some(utf8_percent_encode(uri, SET).to_string())
}

/// The identity headers of `user` ([`IDENTITY_HEADERS`]), every one (empty when the user has no value).
pub fn identity_headers(user: &User) -> Vec<(&'static str, String)> {
    let groups = user
        .groups
        .iter()
        .map(|g| header_value(g))
        .collect::<Vec<_>>()
        .join(",");
    let full_name = format!(
        "{} {}",
        user.first_name.as_deref().unwrap_or(""),
        user.last_name.as_deref().unwrap_or("")
    );
    let username = header_value(&user.username);
    let email = header_value(user.email());
    let name = header_value(full_name.trim());
    let [
        user_header,
        email_header,
        id_header,
        groups_header,
        remote_user,
        remote_email,
        remote_groups,
        remote_name,
    ] = IDENTITY_HEADERS;
    [
        (user_header, username.clone()),
        (email_header, email.clone()),
        (id_header, header_value(user.pk())),
        (groups_header, groups.clone()),
        (remote_user, username),
        (remote_email, email),
        (remote_groups, groups),
        (remote_name, name),
    ]
    .into()
}

impl DjangoAuth {
    /// Answers one forward-auth request ([module docs](crate::forward_auth)): the original request's host
    /// against `ALLOWED_HOSTS`, its session and user as Django's `SessionMiddleware` and `get_user` find
    /// them, the `FORWARD_AUTH_*` rules, then the session saved (a key `get_user` cycled, the idle
    /// stamp) with the `Set-Cookie` the answer carries.
    pub async fn forward_auth(&self, req: &impl RequestHead) -> ForwardAuth {
        let original = Original::new(req, &self.settings);
        if self.check_host(&original).is_err() {
            return ForwardAuth {
                outcome: Err(ForwardAuthError::DisallowedHost),
                response: ResponseHeaders::default(),
                next: None,
            };
        }
        let next = original.uri().and_then(next_parameter);
        let mut state = match self.begin(&original).await {
            Ok(state) => state,
            Err(rejection) => {
                return ForwardAuth {
                    outcome: Err(match rejection {
                        Rejection::BadRequest(message) => ForwardAuthError::BadCookie(message),
                        Rejection::Unavailable(error) => ForwardAuthError::Unavailable(error),
                        Rejection::Random(error) => ForwardAuthError::Random(error),
                    }),
                    response: ResponseHeaders::default(),
                    next,
                };
            }
        };
        let outcome = match self.get_user(&mut state).await {
            Err(error) => Err(ForwardAuthError::Unavailable(error)),
            Ok(None) => Err(ForwardAuthError::NotAuthenticated),
            // The groups, for the rules and the headers: one more query, only here.
            Ok(Some(mut user)) => match self.users.groups(user.pk()).await {
                Err(error) => Err(ForwardAuthError::Unavailable(error)),
                Ok(groups) => {
                    user.groups = groups;
                    self.forward_auth_rules(&original, &user, &state.csrf)
                        .map(|()| user)
                }
            },
        };
        if let Err(ForwardAuthError::Unavailable(cause)) = &outcome {
            tracing::warn!(error = %cause, "store unavailable");
        } else if let Err(error) = &outcome {
            // The method only: a path may carry a token, and nothing secret is ever logged.
            tracing::info!(
                status = error.status(),
                method = original.method(),
                reason = error.kind(),
                "forward auth refused"
            );
        }
        let status = match &outcome {
            Ok(_) => 200,
            Err(error) => error.status(),
        };
        match self
            .finish(state, status, || client(req, &self.settings))
            .await
        {
            Ok(mut response) => {
                let session_cookie = format!("{}=", self.settings.session_cookie.name);
                response
                    .set_cookie
                    .retain(|cookie| cookie.starts_with(&session_cookie));
                ForwardAuth {
                    outcome: outcome.map(|user| Identity {
                        headers: identity_headers(&user),
                        user,
                    }),
                    response,
                    next,
                }
            }
            Err(error) => ForwardAuth {
                outcome: Err(ForwardAuthError::Unavailable(error)),
                response: ResponseHeaders::default(),
                next,
            },
        }
    }

    /// `FORWARD_AUTH_REQUIRE_STAFF`, `FORWARD_AUTH_GROUPS` and `FORWARD_AUTH_CSRF` for a logged-in user.
    fn forward_auth_rules(
        &self,
        original: &impl RequestHead,
        user: &User,
        csrf: &django_auth_core::csrf::CsrfCookie,
    ) -> Result<(), ForwardAuthError> {
        let rules = &self.settings.forward_auth;
        if rules.require_staff && !user.is_staff.unwrap_or(false) {
            return Err(ForwardAuthError::PermissionDenied);
        }
        if !rules.groups.is_empty() && !user.groups.iter().any(|g| rules.groups.contains(g)) {
            return Err(ForwardAuthError::PermissionDenied);
        }
        if is_safe_method(original.method()) {
            return Ok(());
        }
        match rules.csrf {
            ForwardAuthCsrf::Off => Ok(()),
            ForwardAuthCsrf::Origin => self.check_csrf_origin(original),
            ForwardAuthCsrf::Full => self.enforce_csrf(original, csrf, None),
        }
        .map_err(ForwardAuthError::CsrfFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_keeps_the_query_inside_one_parameter() {
        assert_eq!(
            next_parameter("/a/b?x=1&y=2").as_deref(),
            Some("/a/b%3Fx%3D1%26y%3D2")
        );
        assert_eq!(
            next_parameter("/caf%C3%A9").as_deref(),
            Some("/caf%25C3%25A9")
        );
        assert_eq!(next_parameter("/").as_deref(), Some("/"));
        // Not a path: no `next` (the login page's own check would refuse another host anyway).
        for bad in [
            "https://evil.example.com/",
            "//evil.example.com/",
            "",
            "a/b",
        ] {
            assert_eq!(next_parameter(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_values_are_percent_encoded_where_needed() {
        assert_eq!(header_value("alice"), "alice");
        assert_eq!(header_value("a.b@c+d-e_f"), "a.b@c+d-e_f");
        assert_eq!(header_value("Sales, EMEA"), "Sales%2C EMEA");
        assert_eq!(header_value("100%"), "100%25");
        assert_eq!(header_value("José"), "Jos%C3%A9");
        assert_eq!(header_value("a\r\nX-Evil: 1"), "a%0D%0AX-Evil: 1");
        assert_eq!(header_value(" padded "), "%20padded%20");
        assert_eq!(header_value("tab\there\u{7f}"), "tab%09here%7F");
        assert_eq!(header_value(""), "");
        // Every encoded value is visible ASCII (a valid header value) without a comma.
        for raw in ["\u{0}x", "ü,ö", "李雷", "a%2Cb"] {
            let encoded = header_value(raw);
            assert!(
                encoded
                    .bytes()
                    .all(|b| (0x20..0x7f).contains(&b) && b != b','),
                "{encoded}"
            );
        }
    }
}
