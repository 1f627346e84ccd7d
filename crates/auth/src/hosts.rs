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
