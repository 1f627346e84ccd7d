//! The session cookie as Django's `SessionMiddleware` sends it: `HttpResponse.set_cookie` /
//! `delete_cookie` with the `SESSION_COOKIE_*` settings, serialised as Python's `http.cookies.Morsel` does
//! (attributes in sorted order, values quoted only when they need it), so a browser sees the same header
//! from Django and from our services.

use chrono::{DateTime, Utc};

/// `SESSION_COOKIE_SAMESITE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// `"Lax"`, Django's default: `SameSite=Lax`.
    Lax,
    /// `"Strict"`: `SameSite=Strict`.
    Strict,
    /// `"None"`: `SameSite=None`, which also makes `delete_cookie` send `Secure`.
    None,
}

/// `SESSION_COOKIE_NAME`, `_DOMAIN`, `_PATH`, `_SECURE`, `_HTTPONLY`, `_SAMESITE` (Django's defaults in
/// `Default`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieSettings {
    /// `SESSION_COOKIE_NAME`, default `sessionid`.
    pub name: String,
    /// `SESSION_COOKIE_DOMAIN`: the `Domain` attribute; `None` (Django's default) sends none.
    pub domain: Option<String>,
    /// `SESSION_COOKIE_PATH`, default `/`.
    pub path: String,
    /// `SESSION_COOKIE_SECURE`: `set_cookie` adds `Secure`; default `false`.
    pub secure: bool,
    /// `SESSION_COOKIE_HTTPONLY`: `set_cookie` adds `HttpOnly`; default `true`.
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

/// `django.http.cookie.parse_cookie`: the `Cookie` header as Django reads it into `request.COOKIES`. Chunks
/// split at `;`; a chunk without `=` is a value with an empty name; names and values are stripped of
/// whitespace, empty pairs dropped, and values unquoted as Python's `http.cookies._unquote` does (`"…"`
/// with `\ooo` octal and `\x` escapes). A name seen twice keeps its last value, as Django's dict does.
pub fn parse_cookie(header: &str) -> Vec<(String, String)> {
    let mut cookies: Vec<(String, String)> = Vec::new();
    for chunk in header.split(';') {
        let (name, value) = chunk.split_once('=').unwrap_or(("", chunk));
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() && value.is_empty() {
            continue;
        }
        let value = unquote(value);
        match cookies.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = value,
            None => cookies.push((name.to_string(), value)),
        }
    }
    cookies
}

/// The value of the cookie `name` in a `Cookie` header, as `request.COOKIES.get(name)` reads it
/// ([`parse_cookie`]: the last one of that name).
pub fn get_cookie(header: &str, name: &str) -> Option<String> {
    // The same walk as `parse_cookie`, without allocating for the other cookies: the last chunk whose
    // stripped name is `name` wins (an empty pair is skipped there, and can only match an empty name).
    header
        .split(';')
        .rev()
        .find_map(|chunk| {
            let (n, v) = chunk.split_once('=').unwrap_or(("", chunk));
            let (n, v) = (n.trim(), v.trim());
            (n == name && !(n.is_empty() && v.is_empty())).then_some(v)
        })
        .map(unquote)
}

/// Python's `http.cookies._unquote`: a value in double quotes loses them, `\ooo` (octal, first digit 0–3)
/// becomes that code point and `\x` becomes `x`; any other value is returned as it is.
fn unquote(value: &str) -> String {
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .filter(|_| value.len() >= 2)
    else {
        return value.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let rest: String = chars.clone().take(3).collect();
        let octal = rest.len() == 3
            && rest.as_bytes()[0].is_ascii_digit()
            && rest.as_bytes()[0] <= b'3'
            && rest.bytes().skip(1).all(|b| (b'0'..=b'7').contains(&b));
        if octal {
            if let Ok(code) = u8::from_str_radix(&rest, 8) {
                out.push(char::from(code));
            }
            chars.nth(2);
        } else if let Some(next) = chars.next() {
            out.push(next);
        } else {
            // A trailing lone backslash: Python's pattern needs a character after it and keeps it.
            out.push('\\');
        }
    }
    out
}

#[cfg(test)]
mod parse_cookie_tests {
    use super::*;

    /// Django's own cases (tests/requests_tests/tests.py `CookieTests`, `test_python_cookies`,
    /// `test_cookie_edgecases`, `test_invalid_cookies`, `test_repeated_nonstandard_keys`).
    #[test]
    fn parse_cookie_is_djangos() {
        let map = |header: &str| parse_cookie(header);
        let pairs = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            map("chips=ahoy; vienna=finger"),
            pairs(&[("chips", "ahoy"), ("vienna", "finger")])
        );
        assert_eq!(
            map("keebler=\"E=mc2; L=\\\"Loves\\\"; fudge=\\012;\""),
            pairs(&[
                ("keebler", "\"E=mc2"),
                ("L", "\\\"Loves\\\""),
                ("fudge", "\\012"),
                ("", "\"")
            ])
        );
        assert_eq!(map("keebler=\"E=mc2\""), pairs(&[("keebler", "E=mc2")]));
        assert_eq!(
            map("key:term=value:term"),
            pairs(&[("key:term", "value:term")])
        );
        assert_eq!(
            map("a=b; c=[; d=r; f=h"),
            pairs(&[("a", "b"), ("c", "["), ("d", "r"), ("f", "h")])
        );
        assert_eq!(
            map("a=b; Domain=example.com"),
            pairs(&[("a", "b"), ("Domain", "example.com")])
        );
        assert_eq!(map("a=b; h=i; a=c"), pairs(&[("a", "c"), ("h", "i")]));
        assert_eq!(
            map("  =b  ;  ;  =  ;   c  =  ;  "),
            pairs(&[("", "b"), ("c", "")])
        );
        assert_eq!(
            map("abc=def; unnamed; django_language=en"),
            pairs(&[("abc", "def"), ("", "unnamed"), ("django_language", "en")])
        );
        assert_eq!(
            map("a b c=d e = f; gh=i"),
            pairs(&[("a b c", "d e = f"), ("gh", "i")])
        );
        assert_eq!(map("a=\"b=\\\"c\\\"\""), pairs(&[("a", "b=\"c\"")]));
        assert_eq!(map("a=\"\\101\\102\""), pairs(&[("a", "AB")]));
        assert_eq!(
            get_cookie("sessionid=one; csrftoken=t; sessionid=two", "sessionid").as_deref(),
            Some("two")
        );
        assert_eq!(get_cookie("csrftoken=t", "sessionid"), None);
    }
}
