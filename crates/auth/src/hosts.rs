//! `ALLOWED_HOSTS`: Django's `HttpRequest.get_host()` check against Host-header poisoning, with
//! `split_domain_port` and `validate_host` as Django writes them.

use crate::csrf::is_same_domain;

/// `django.http.request.split_domain_port`: the lowercased domain (without one trailing dot) and port of a
/// Host header, or two empty strings when it is not a valid host (RFC 1034/1035 names, IPv4, bracketed
/// IPv6, as Django's `host_validation_re` accepts them).
pub fn split_domain_port(host: &str) -> (String, String) {
    let lower = host.to_lowercase();
    let invalid = || (String::new(), String::new());
    let (domain, rest) = if let Some(inner) = lower.strip_prefix('[') {
        // `\[[a-f0-9]*:[a-f0-9.:]+\]`
        let Some(end) = inner.find(']') else {
            return invalid();
        };
        let body = &inner[..end];
        let Some(colon) = body.find(':') else {
            return invalid();
        };
        let (head, tail) = (&body[..colon], &body[colon + 1..]);
        let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if !head.chars().all(hex)
            || tail.is_empty()
            || !tail.chars().all(|c| hex(c) || c == '.' || c == ':')
        {
            return invalid();
        }
        lower.split_at(end + 2)
    } else {
        // `[a-z0-9.-]+`
        let end = lower
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'))
            .unwrap_or(lower.len());
        if end == 0 {
            return invalid();
        }
        lower.split_at(end)
    };
    // `(?::([0-9]+))?$`
    let port = match rest.strip_prefix(':') {
        None if rest.is_empty() => "",
        Some(port) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => port,
        _ => return invalid(),
    };
    (
        domain.strip_suffix('.').unwrap_or(domain).to_string(),
        port.to_string(),
    )
}

/// `django.http.request.validate_host`: `*` matches anything, `.example.com` the domain and its
/// subdomains, anything else exactly. `domain` is already lowercased and without its port.
pub fn validate_host(domain: &str, allowed_hosts: &[String]) -> bool {
    allowed_hosts
        .iter()
        .any(|pattern| pattern == "*" || is_same_domain(domain, pattern))
}

/// `HttpRequest.get_host()`'s verdict, with Django's `DisallowedHost` message. With `DEBUG` and an empty
/// `ALLOWED_HOSTS`, the localhost variants are allowed, as in Django.
pub fn check_host(host: &str, allowed_hosts: &[String], debug: bool) -> Result<(), String> {
    let debug_hosts: Vec<String>;
    let allowed = if debug && allowed_hosts.is_empty() {
        debug_hosts = vec![".localhost".into(), "127.0.0.1".into(), "[::1]".into()];
        &debug_hosts
    } else {
        allowed_hosts
    };
    let (domain, _port) = split_domain_port(host);
    if !domain.is_empty() && validate_host(&domain, allowed) {
        return Ok(());
    }
    let mut message = format!("Invalid HTTP_HOST header: {host:?}.");
    if domain.is_empty() {
        message.push_str(" The domain name provided is not valid according to RFC 1034/1035.");
    } else {
        message.push_str(&format!(
            " You may need to add {domain:?} to ALLOWED_HOSTS."
        ));
    }
    Err(message)
}
/// `HttpRequest._get_raw_host()`'s choice of header: `X-Forwarded-Host` (whole, as Django takes it) when
/// `USE_X_FORWARDED_HOST` is on and the header is present, else `Host`.
pub fn raw_host<'a>(
    host: Option<&'a str>,
    forwarded_host: Option<&'a str>,
    use_x_forwarded_host: bool,
) -> &'a str {
    match forwarded_host {
        Some(forwarded) if use_x_forwarded_host => forwarded,
        _ => host.unwrap_or(""),
    }
}

/// `HttpRequest.is_secure()` with `SECURE_PROXY_SSL_HEADER`: the first comma-separated value of the
/// configured header, stripped, equals the configured value. Without the setting, only a TLS listener is
/// secure (`listener_is_tls`); a proxy's headers are never trusted unless configured.
pub fn is_secure(
    proxy_header: Option<&(String, String)>,
    header_value: impl Fn(&str) -> Option<String>,
    listener_is_tls: bool,
) -> bool {
    if let Some((name, expected)) = proxy_header {
        if let Some(value) = header_value(name) {
            let first = value.split(',').next().unwrap_or("");
            return first.trim() == expected;
        }
    }
    listener_is_tls
}

/// The client's address as Django REST framework's `SimpleRateThrottle.get_ident` finds it: with
/// `NUM_PROXIES` = n > 0 and an `X-Forwarded-For` header, the n-th address from its end (each proxy
/// appends the address it saw); otherwise the connection's peer address (`REMOTE_ADDR`).
pub fn client_address(peer: &str, x_forwarded_for: Option<&str>, num_proxies: usize) -> String {
    match x_forwarded_for {
        Some(xff) if num_proxies > 0 => {
            let addresses: Vec<&str> = xff.split(',').collect();
            let index = addresses.len() - num_proxies.min(addresses.len());
            addresses[index].trim().to_string()
        }
        _ => peer.to_string(),
    }
}

/// `django.utils.http.url_has_allowed_host_and_scheme(url, allowed_hosts, require_https)`: may the user be
/// sent to `url` (a login's `next`)? Relative URLs are, and absolute ones whose netloc is exactly an
/// allowed host with an allowed scheme; `///x`, `http:///x`, backslash tricks (Chrome reads `\` as `/`)
/// and leading control characters are not.
///
/// Stricter than Django in one way, on purpose: a URL holding any character outside printable ASCII is
/// refused outright (Django applies Unicode categories and NFKC netloc rules that vary across Python
/// versions). Redirect targets this portal makes are always ASCII, so nothing legitimate is lost.
pub fn url_has_allowed_host_and_scheme(
    url: &str,
    allowed_hosts: &[&str],
    require_https: bool,
) -> bool {
    // Python's `str.strip()` (ASCII whitespace is all that can reach the check below).
    let url = url.trim_matches(|c: char| c.is_ascii_whitespace() || ('\x1c'..='\x1f').contains(&c));
    if url.is_empty() || !url.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return false;
    }
    allowed_one(url, allowed_hosts, require_https)
        && allowed_one(&url.replace('\\', "/"), allowed_hosts, require_https)
}

fn allowed_one(url: &str, allowed_hosts: &[&str], require_https: bool) -> bool {
    // Chrome reads any URL starting with three slashes as absolute.
    if url.starts_with("///") {
        return false;
    }
    let Some((scheme, netloc)) = urlsplit_scheme_netloc(url) else {
        return false;
    };
    // `http:///example.com`: Chrome takes example.com as the host, urlsplit as a path.
    if netloc.is_empty() && !scheme.is_empty() {
        return false;
    }
    let scheme = if scheme.is_empty() && !netloc.is_empty() {
        "http".to_string()
    } else {
        scheme
    };
    let valid_schemes: &[&str] = if require_https {
        &["https"]
    } else {
        &["http", "https"]
    };
    (netloc.is_empty() || allowed_hosts.contains(&netloc))
        && (scheme.is_empty() || valid_schemes.contains(&scheme.as_str()))
}

/// `urlsplit(url)`'s scheme (lowercased) and netloc for printable-ASCII input; `None` where urlsplit raises
/// `ValueError` (unbalanced IPv6 brackets).
fn urlsplit_scheme_netloc(url: &str) -> Option<(String, &str)> {
    let mut rest = url;
    let mut scheme = String::new();
    if let Some(i) = url.find(':') {
        let candidate = &url[..i];
        // Django 4.2's own copy of `urlsplit` takes any run of scheme characters as a scheme (so `1:/x` has
        // the invalid scheme `1`); Django 5's, Python's, wants a letter first (so `1:/x` is a path). The
        // stricter reading refuses what either refuses.
        if i > 0
            && candidate
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            scheme = candidate.to_ascii_lowercase();
            rest = &url[i + 1..];
        }
    }
    let netloc = match rest.strip_prefix("//") {
        Some(after) => &after[..after.find(['/', '?', '#']).unwrap_or(after.len())],
        None => "",
    };
    if netloc.contains('[') != netloc.contains(']') {
        return None;
    }
    Some((scheme, netloc))
}
