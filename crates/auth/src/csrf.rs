//! `django.middleware.csrf`: the 32-character secret, the 64-character masked token, and the token check
//! with Django's rejection reasons, so a `csrftoken` cookie from Django validates here and ours in Django.

use crate::crypto::{RANDOM_STRING_CHARS, RandomError, constant_time_compare, get_random_string};

/// `CSRF_SECRET_LENGTH`.
pub const CSRF_SECRET_LENGTH: usize = 32;
/// `CSRF_TOKEN_LENGTH`: a mask and the masked secret.
pub const CSRF_TOKEN_LENGTH: usize = 64;
/// `CSRF_ALLOWED_CHARS` in Django's order (`ascii_letters + digits`): masking adds indices in this order,
/// so another order would produce tokens Django cannot unmask.
pub const CSRF_ALLOWED_CHARS: &str = RANDOM_STRING_CHARS;
/// The form field Django reads on POST.
pub const CSRF_FORM_FIELD: &str = "csrfmiddlewaretoken";

fn index(c: u8) -> Option<usize> {
    CSRF_ALLOWED_CHARS.bytes().position(|x| x == c)
}

fn char_at(i: usize) -> char {
    CSRF_ALLOWED_CHARS.as_bytes()[i % CSRF_ALLOWED_CHARS.len()] as char
}

/// `_get_new_csrf_string()`: a new 32-character secret.
pub fn get_new_csrf_string() -> Result<String, RandomError> {
    get_random_string(CSRF_SECRET_LENGTH, CSRF_ALLOWED_CHARS)
}

/// `_mask_cipher_secret(secret)` with a fresh random mask: what `get_token()` puts in forms. The secret must
/// be well-formed (32 allowed characters).
pub fn mask_cipher_secret(secret: &str) -> Result<String, RandomError> {
    let mask = get_new_csrf_string()?;
    Ok(mask_cipher_secret_with(secret, &mask))
}

/// The masking itself: `mask + cipher`, `cipher[i] = chars[(idx(secret[i]) + idx(mask[i])) % 62]`.
/// Characters outside the alphabet count as index 0 (callers pass validated secrets).
pub fn mask_cipher_secret_with(secret: &str, mask: &str) -> String {
    let cipher: String = secret
        .bytes()
        .zip(mask.bytes())
        .map(|(s, m)| char_at(index(s).unwrap_or(0) + index(m).unwrap_or(0)))
        .collect();
    format!("{mask}{cipher}")
}

/// `_unmask_cipher_token(token)` of a 64-character token: `chars[idx(cipher[i]) - idx(mask[i])]`, wrapping.
pub fn unmask_cipher_token(token: &str) -> String {
    let (mask, cipher) = token
        .as_bytes()
        .split_at(token.len().min(CSRF_SECRET_LENGTH));
    let n = CSRF_ALLOWED_CHARS.len();
    cipher
        .iter()
        .zip(mask)
        .map(|(&c, &m)| char_at(index(c).unwrap_or(0) + n - index(m).unwrap_or(0)))
        .collect()
}

/// `InvalidTokenFormat` reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFormatError {
    /// Neither 32 (a secret) nor 64 (a masked token) characters: "has incorrect length".
    IncorrectLength,
    /// A character outside `[a-zA-Z0-9]`: "has invalid characters".
    InvalidCharacters,
}

impl TokenFormatError {
    fn reason(self) -> &'static str {
        match self {
            TokenFormatError::IncorrectLength => "has incorrect length",
            TokenFormatError::InvalidCharacters => "has invalid characters",
        }
    }
}

/// `_check_token_format(token)`: 32 or 64 characters of `[a-zA-Z0-9]`.
pub fn check_token_format(token: &str) -> Result<(), TokenFormatError> {
    if token.len() != CSRF_TOKEN_LENGTH && token.len() != CSRF_SECRET_LENGTH {
        return Err(TokenFormatError::IncorrectLength);
    }
    if !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(TokenFormatError::InvalidCharacters);
    }
    Ok(())
}

/// `CsrfViewMiddleware._get_secret` for the cookie: the secret a `csrftoken` cookie holds, unmasking the
/// 64-character form Django ≤ 4.0 stored. `Ok(None)` when there is no cookie.
pub fn secret_from_cookie(cookie: Option<&str>) -> Result<Option<String>, TokenFormatError> {
    let Some(cookie) = cookie else {
        return Ok(None);
    };
    check_token_format(cookie)?;
    Ok(Some(if cookie.len() == CSRF_TOKEN_LENGTH {
        unmask_cipher_token(cookie)
    } else {
        cookie.to_string()
    }))
}

/// `_does_token_match(request_token, secret)`: unmask a 64-character token, then compare in constant time.
/// The token must have passed `check_token_format`.
pub fn does_token_match(request_token: &str, secret: &str) -> bool {
    let token = if request_token.len() == CSRF_TOKEN_LENGTH {
        unmask_cipher_token(request_token)
    } else {
        request_token.to_string()
    };
    token.len() == CSRF_SECRET_LENGTH && constant_time_compare(token, secret)
}

/// Where the request's token came from, as Django names it in its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource<'a> {
    /// The `csrfmiddlewaretoken` POST field.
    Post,
    /// A header, by its display name (`X-Csrftoken` for Django's default `HTTP_X_CSRFTOKEN`).
    Header(&'a str),
}

/// Why a request was refused. `Display` gives Django's exact reason text (what its 403 page and log show).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CsrfRejection {
    /// `REASON_NO_CSRF_COOKIE`: the request has no `csrftoken` cookie.
    #[error("CSRF cookie not set.")]
    NoCookie,
    /// The `csrftoken` cookie is malformed (Django's `InvalidTokenFormat` on the cookie).
    #[error("CSRF cookie {}.", .0.reason())]
    BadCookie(TokenFormatError),
    /// `REASON_CSRF_TOKEN_MISSING`: neither the POST field nor the header carried a token.
    #[error("CSRF token missing.")]
    TokenMissing,
    /// The request's token is malformed (Django's `InvalidTokenFormat` on the token).
    #[error("CSRF token from {from} {}.", .error.reason())]
    BadToken {
        /// Where the token came from, as Django words it: `POST` or `the 'X-Csrftoken' HTTP header`.
        from: String,
        /// What is wrong with it.
        error: TokenFormatError,
    },
    /// `REASON_CSRF_TOKEN_INCORRECT`: the token is well-formed but does not unmask to the cookie's secret.
    #[error("CSRF token from {from} incorrect.")]
    Incorrect {
        /// Where the token came from, as Django words it: `POST` or `the 'X-Csrftoken' HTTP header`.
        from: String,
    },
    /// `REASON_BAD_ORIGIN`: the `Origin` header (held here) is neither this site nor a trusted origin.
    #[error("Origin checking failed - {0} does not match any trusted origins.")]
    BadOrigin(String),
    /// `REASON_NO_REFERER`: an HTTPS request without `Origin` sent no `Referer`.
    #[error("Referer checking failed - no Referer.")]
    NoReferer,
    /// `REASON_MALFORMED_REFERER`: the `Referer` has no scheme or no host.
    #[error("Referer checking failed - Referer is malformed.")]
    MalformedReferer,
    /// `REASON_INSECURE_REFERER`: the `Referer` of an HTTPS request is not `https`.
    #[error("Referer checking failed - Referer is insecure while host is secure.")]
    InsecureReferer,
    /// `REASON_BAD_REFERER`: the `Referer` (held here) is neither this site nor a trusted host.
    #[error("Referer checking failed - {0} does not match any trusted origins.")]
    BadReferer(String),
}

fn source_name(source: TokenSource) -> String {
    match source {
        TokenSource::Post => "POST".into(),
        TokenSource::Header(name) => format!("the '{name}' HTTP header"),
    }
}

/// `CsrfViewMiddleware._check_token`: the cookie's secret against the request's token (the POST field, else
/// the header; `None` when neither was sent).
pub fn check_token(
    cookie: Option<&str>,
    token: Option<(&str, TokenSource)>,
) -> Result<(), CsrfRejection> {
    let secret = secret_from_cookie(cookie)
        .map_err(CsrfRejection::BadCookie)?
        .ok_or(CsrfRejection::NoCookie)?;
    let (token, source) = token.ok_or(CsrfRejection::TokenMissing)?;
    check_token_format(token).map_err(|error| CsrfRejection::BadToken {
        from: source_name(source),
        error,
    })?;
    if !does_token_match(token, &secret) {
        return Err(CsrfRejection::Incorrect {
            from: source_name(source),
        });
    }
    Ok(())
}

/// `django.utils.http.is_same_domain(host, pattern)`: a pattern starting with `.` matches the domain and
/// its subdomains; anything else must match exactly. The pattern is lowercased, the host is not (as Django).
pub fn is_same_domain(host: &str, pattern: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    let pattern = pattern.to_lowercase();
    match pattern.strip_prefix('.') {
        Some(bare) => host.ends_with(&pattern) || host == bare,
        None => pattern == host,
    }
}

/// The scheme and netloc of a URL as Python's `urlsplit` finds them (scheme lowercased; netloc empty when
/// there is no `//`).
fn split_scheme_netloc(url: &str) -> (String, &str) {
    let scheme_end = url.find(':').filter(|&i| {
        let s = &url[..i];
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    let (scheme, rest) = match scheme_end {
        Some(i) => (url[..i].to_ascii_lowercase(), &url[i + 1..]),
        None => (String::new(), url),
    };
    let netloc = rest
        .strip_prefix("//")
        .map(|r| &r[..r.find(['/', '?', '#']).unwrap_or(r.len())])
        .unwrap_or("");
    (scheme, netloc)
}

/// `CSRF_TRUSTED_ORIGINS`, pre-split as `CsrfViewMiddleware` does at start-up.
#[derive(Clone, Debug, Default)]
pub struct TrustedOrigins {
    exact: Vec<String>,
    /// `(scheme, ".example.com")` for wildcard entries such as `https://*.example.com`.
    subdomains: Vec<(String, String)>,
    /// Every entry's netloc without its leading `*`, for the Referer check (which ignores the scheme).
    hosts: Vec<String>,
}

impl TrustedOrigins {
    /// Splits the `CSRF_TRUSTED_ORIGINS` entries into exact origins, `*` wildcard entries (by scheme and
    /// domain) and the hosts the Referer check accepts.
    pub fn new(origins: &[String]) -> TrustedOrigins {
        let mut t = TrustedOrigins::default();
        for origin in origins {
            let (scheme, netloc) = split_scheme_netloc(origin);
            let host = netloc.trim_start_matches('*').to_string();
            if origin.contains('*') {
                t.subdomains.push((scheme, host.clone()));
            } else {
                t.exact.push(origin.clone());
            }
            t.hosts.push(host);
        }
        t
    }
}

/// The request facts the Origin and Referer checks read. `host` is `request.get_host()`, `None` when
/// `ALLOWED_HOSTS` refused it; `port` is `request.get_port()`.
#[derive(Clone, Copy, Debug)]
pub struct RequestOrigin<'a> {
    /// `request.is_secure()`: the request came over HTTPS.
    pub is_secure: bool,
    /// `request.get_host()`, or `None` when `ALLOWED_HOSTS` refused it.
    pub host: Option<&'a str>,
    /// `request.get_port()`, e.g. `"443"`.
    pub port: &'a str,
    /// The `Origin` header (`HTTP_ORIGIN`), if sent.
    pub origin: Option<&'a str>,
    /// The `Referer` header (`HTTP_REFERER`), if sent.
    pub referer: Option<&'a str>,
}

/// The first half of `CsrfViewMiddleware.process_view` for an unsafe method: with an `Origin` header, it
/// must be this site or a trusted origin (`_origin_verified`); without one, an HTTPS request must carry a
/// Referer from this site or a trusted host (`_check_referer`). `cookie_domain` is `CSRF_COOKIE_DOMAIN`.
pub fn check_origin_and_referer(
    request: &RequestOrigin,
    trusted: &TrustedOrigins,
    cookie_domain: Option<&str>,
) -> Result<(), CsrfRejection> {
    if let Some(origin) = request.origin {
        return if origin_verified(origin, request, trusted) {
            Ok(())
        } else {
            Err(CsrfRejection::BadOrigin(origin.to_string()))
        };
    }
    if request.is_secure {
        check_referer(request, trusted, cookie_domain)?;
    }
    Ok(())
}

fn origin_verified(origin: &str, request: &RequestOrigin, trusted: &TrustedOrigins) -> bool {
    if let Some(host) = request.host {
        let scheme = if request.is_secure { "https" } else { "http" };
        if origin == format!("{scheme}://{host}") {
            return true;
        }
    }
    if trusted.exact.iter().any(|o| o == origin) {
        return true;
    }
    let (scheme, netloc) = split_scheme_netloc(origin);
    trusted
        .subdomains
        .iter()
        .any(|(s, host)| *s == scheme && is_same_domain(netloc, host))
}

fn check_referer(
    request: &RequestOrigin,
    trusted: &TrustedOrigins,
    cookie_domain: Option<&str>,
) -> Result<(), CsrfRejection> {
    let referer = request.referer.ok_or(CsrfRejection::NoReferer)?;
    let (scheme, netloc) = split_scheme_netloc(referer);
    if scheme.is_empty() || netloc.is_empty() {
        return Err(CsrfRejection::MalformedReferer);
    }
    if scheme != "https" {
        return Err(CsrfRejection::InsecureReferer);
    }
    if trusted
        .hosts
        .iter()
        .any(|host| is_same_domain(netloc, host))
    {
        return Ok(());
    }
    let bad = || CsrfRejection::BadReferer(referer.to_string());
    let good = match cookie_domain {
        None => request.host.ok_or_else(bad)?.to_string(),
        Some(domain) if request.port == "443" || request.port == "80" => domain.to_string(),
        Some(domain) => format!("{domain}:{}", request.port),
    };
    if is_same_domain(netloc, &good) {
        Ok(())
    } else {
        Err(bad())
    }
}

/// The CSRF state of one request, as `CsrfViewMiddleware` keeps it in `request.META`: the secret from the
/// `csrftoken` cookie (`CSRF_COOKIE`) and whether the response must (re)set the cookie
/// (`CSRF_COOKIE_NEEDS_UPDATE`). A service makes one per request with [`CsrfCookie::from_cookie`]
/// (`process_request`), hands out tokens with [`CsrfCookie::get_token`], rotates at login, and asks
/// [`CsrfCookie::set_cookie`] what to send (`process_response`).
#[derive(Clone, Default)]
pub struct CsrfCookie {
    /// The request's cookie as sent: the token check reads it, not the repaired secret (Django's
    /// `_check_token` calls `_get_secret` again and rejects a malformed cookie with its reason).
    raw: Option<String>,
    secret: Option<String>,
    needs_update: bool,
}

impl std::fmt::Debug for CsrfCookie {
    // The secret is a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsrfCookie")
            .field("needs_update", &self.needs_update)
            .finish_non_exhaustive()
    }
}

impl CsrfCookie {
    /// `process_request`: a well-formed cookie is kept; a malformed one is replaced by a new secret that the
    /// response will set (`_add_new_csrf_cookie`); no cookie leaves no secret until a page asks for a token.
    pub fn from_cookie(cookie: Option<&str>) -> Result<CsrfCookie, RandomError> {
        let mut state = CsrfCookie {
            raw: cookie.map(str::to_string),
            ..CsrfCookie::default()
        };
        match secret_from_cookie(cookie) {
            Ok(secret) => state.secret = secret,
            Err(_) => state.rotate()?,
        }
        Ok(state)
    }

    /// `get_token(request)`: a freshly masked token for a form or header; the first call without a secret
    /// makes one, which the response then sets.
    pub fn get_token(&mut self) -> Result<String, RandomError> {
        let secret = match &self.secret {
            Some(secret) => secret.clone(),
            None => {
                self.rotate()?;
                self.secret.clone().unwrap_or_default()
            }
        };
        mask_cipher_secret(&secret)
    }

    /// `rotate_token(request)`: a new secret (at login, against token fixation); the response sets it.
    pub fn rotate(&mut self) -> Result<(), RandomError> {
        self.secret = Some(get_new_csrf_string()?);
        self.needs_update = true;
        Ok(())
    }

    /// `_check_token` for an unsafe request: the cookie as sent against the form field or header token.
    pub fn check(&self, token: Option<(&str, TokenSource)>) -> Result<(), CsrfRejection> {
        check_token(self.raw.as_deref(), token)
    }

    /// `process_response`: the `Set-Cookie` value when the secret is new or rotated (`_set_csrf_cookie`,
    /// with `CSRF_COOKIE_AGE` as max-age), else `None`. The response must also vary on `Cookie`.
    pub fn set_cookie(
        &self,
        cookie: &crate::cookie::CookieSettings,
        cookie_age: Option<i64>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<String> {
        let secret = self.secret.as_deref().filter(|_| self.needs_update)?;
        Some(cookie.set_cookie(secret, cookie_age, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_vector() {
        let token = mask_cipher_secret_with(
            "abcdefghijklmnopqrstuvwxyzABCDEF",
            "0123456789ABCDEFGHIJKLMNOPQRSTUV",
        );
        assert_eq!(
            token,
            "0123456789ABCDEFGHIJKLMNOPQRSTUV02468acegiKMOQSUWY02468acegikmoq"
        );
        assert_eq!(
            unmask_cipher_token(&token),
            "abcdefghijklmnopqrstuvwxyzABCDEF"
        );
    }

    #[test]
    fn djangos_matrix() {
        let secret = get_new_csrf_string().unwrap();
        let masked = mask_cipher_secret(&secret).unwrap();
        assert_eq!(
            check_token(Some(&secret), Some((&masked, TokenSource::Post))),
            Ok(())
        );
        assert_eq!(
            check_token(
                Some(&secret),
                Some((&secret, TokenSource::Header("X-Csrftoken")))
            ),
            Ok(())
        );
        // A Django ≤ 4.0 masked cookie with a plain form token.
        assert_eq!(
            check_token(Some(&masked), Some((&secret, TokenSource::Post))),
            Ok(())
        );
        let msg = |r: Result<(), CsrfRejection>| r.unwrap_err().to_string();
        assert_eq!(msg(check_token(Some(&secret), None)), "CSRF token missing.");
        assert_eq!(
            msg(check_token(None, Some((&secret, TokenSource::Post)))),
            "CSRF cookie not set."
        );
        assert_eq!(
            msg(check_token(Some(&"!".repeat(32)), None)),
            "CSRF cookie has invalid characters."
        );
        assert_eq!(
            msg(check_token(Some("short"), None)),
            "CSRF cookie has incorrect length."
        );
        assert_eq!(
            msg(check_token(
                Some(&secret),
                Some(("0123456789", TokenSource::Post))
            )),
            "CSRF token from POST has incorrect length."
        );
        let other = mask_cipher_secret(&get_new_csrf_string().unwrap()).unwrap();
        assert_eq!(
            msg(check_token(
                Some(&secret),
                Some((&other, TokenSource::Post))
            )),
            "CSRF token from POST incorrect."
        );
        assert_eq!(
            msg(check_token(
                Some(&secret),
                Some((&other, TokenSource::Header("X-Csrftoken")))
            )),
            "CSRF token from the 'X-Csrftoken' HTTP header incorrect."
        );
    }
}
