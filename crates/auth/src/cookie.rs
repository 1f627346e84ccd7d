//! The session cookie as Django's `SessionMiddleware` sends it: `HttpResponse.set_cookie` /
//! `delete_cookie` with the `SESSION_COOKIE_*` settings, serialised as Python's `http.cookies.Morsel` does
//! (attributes in sorted order, values quoted only when they need it), so a browser sees the same header
//! from Django and from our services.

use chrono::{DateTime, Utc};

/// `SESSION_COOKIE_SAMESITE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

/// `SESSION_COOKIE_NAME`, `_DOMAIN`, `_PATH`, `_SECURE`, `_HTTPONLY`, `_SAMESITE` (Django's defaults in
/// `Default`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieSettings {
    pub name: String,
    pub domain: Option<String>,
    pub path: String,
    pub secure: bool,
    pub httponly: bool,
    /// `None` is Django's `SESSION_COOKIE_SAMESITE = False` (no attribute).
    pub samesite: Option<SameSite>,
}

impl Default for CookieSettings {
    fn default() -> CookieSettings {
        CookieSettings {
            name: "sessionid".into(),
            domain: None,
            path: "/".into(),
            secure: false,
            httponly: true,
            samesite: Some(SameSite::Lax),
        }
    }
}

/// `django.utils.http.http_date`: `Sat, 05 Dec 2026 16:01:15 GMT`.
pub fn http_date(when: DateTime<Utc>) -> String {
    when.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// `http.cookies._LegalChars`: a value made only of these is sent as it is.
fn is_legal(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:".contains(&b))
}

/// `http.cookies._quote`: a value with other characters is sent in double quotes, `"` and `\` escaped and
/// the other characters below 256 that a cookie cannot hold as three-digit octal escapes.
fn quote(value: &str) -> String {
    if is_legal(value) {
        return value.to_string();
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        let code = c as u32;
        let unescaped = (c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~: ()/<=>?@[]{}".contains(c))
            && c != '"'
            && c != '\\';
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ if unescaped || code >= 256 => out.push(c),
            _ => out.push_str(&format!("\\{code:03o}")),
        }
    }
    out.push('"');
    out
}

impl CookieSettings {
    fn attributes(&self, expires: Option<&str>, max_age: Option<i64>, secure: bool) -> String {
        // `Morsel.OutputString` emits the set attributes sorted by their key:
        // domain, expires, httponly, max-age, path, samesite, secure.
        let mut out = String::new();
        if let Some(domain) = &self.domain {
            out.push_str(&format!("; Domain={domain}"));
        }
        if let Some(expires) = expires {
            out.push_str(&format!("; expires={expires}"));
        }
        if self.httponly {
            out.push_str("; HttpOnly");
        }
        if let Some(max_age) = max_age {
            out.push_str(&format!("; Max-Age={max_age}"));
        }
        out.push_str(&format!("; Path={}", self.path));
        if let Some(samesite) = self.samesite {
            out.push_str(match samesite {
                SameSite::Lax => "; SameSite=Lax",
                SameSite::Strict => "; SameSite=Strict",
                SameSite::None => "; SameSite=None",
            });
        }
        if secure {
            out.push_str("; Secure");
        }
        out
    }

    /// The `Set-Cookie` value `SessionMiddleware` sends after saving: `max_age` and `expires` from the
    /// session's expiry age, or neither when it expires at browser close.
    pub fn set_cookie(&self, value: &str, expiry_age: Option<i64>, now: DateTime<Utc>) -> String {
        let expires = expiry_age.map(|age| {
            let when = chrono::Duration::try_seconds(age)
                .and_then(|d| now.checked_add_signed(d))
                .unwrap_or(now);
            http_date(when)
        });
        format!(
            "{}={}{}",
            self.name,
            quote(value),
            self.attributes(expires.as_deref(), expiry_age, self.secure)
        )
    }

    /// `response.delete_cookie(SESSION_COOKIE_NAME, path, domain, samesite)`: an empty value that expired
    /// in 1970. `SESSION_COOKIE_SECURE` is not passed, so `Secure` appears only for a `__Secure-`/`__Host-`
    /// name or `SameSite=None`, as in Django; `HttpOnly` is not sent.
    pub fn delete_cookie(&self) -> String {
        let secure = self.name.starts_with("__Secure-")
            || self.name.starts_with("__Host-")
            || self.samesite == Some(SameSite::None);
        let without_httponly = CookieSettings {
            httponly: false,
            ..self.clone()
        };
        format!(
            "{}=\"\"{}",
            self.name,
            without_httponly.attributes(Some("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0), secure)
        )
    }
}
