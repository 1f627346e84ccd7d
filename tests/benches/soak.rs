//! `make soak`: a chaos soak, a benchmark rather than a test (nothing here is timed against a limit). For
//! `SOAK_SECONDS` (300), `SOAK_CLIENTS` (8) clients run mixed traffic against the portal, the api and the
//! Django site (release builds of ours; Redis behind Sentinel, Django with django-redis's
//! `SentinelClient`), while a controller, every 5 to 15 s, does one of: a forced Sentinel failover, a
//! killed Redis primary (restarted later as a replica), or PostgreSQL stopped for 1 to 4 s.
//!
//! Each client, in a loop: logs in on the portal, calls `GET /api/v1/me` ten times, every third round
//! `PATCH /api/v1/me` with a counter, every seventh round changes its password on the portal, and logs
//! out on the portal, the api or Django in turn. A checker replays every cookie whose logout was answered
//! as done, every 2 s.
//!
//! Printed at the end: requests by service and status; 5xx other than 503 from our services (must be 0);
//! resurrected sessions (a cookie that got 401 after its logout, later 200: must be 0); lost updates (a
//! `PATCH` answered 200 whose value a later 200 read no longer shows); for each store outage, the time
//! from the store's return to the first 200 of `/api/v1/me`, and the longest; the api's RSS at the start
//! and the end. The process exits non-zero when one of the "must be 0" figures is not.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use suite::{Page, Stack, json};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Where the clients send requests (plain strings, shared with the tasks).
#[derive(Clone)]
struct Targets {
    portal: String,
    api: String,
    django: String,
}

#[derive(Default)]
struct Tally {
    /// (service, status) → count; status 0 is a request that got no answer at all.
    statuses: BTreeMap<(&'static str, u16), u64>,
    /// When `GET /api/v1/me` answered 200.
    me_ok: Vec<Instant>,
    /// Cookies (a whole client) whose logout was answered as done, with when.
    logged_out: Vec<(String, &'static str, Instant, reqwest::Client)>,
    /// Resurrected sessions, with the service that logged them out and when.
    resurrected: BTreeMap<String, (&'static str, Instant)>,
    lost_updates: u64,
    patches_ok: u64,
}

type Shared = Arc<Mutex<Tally>>;

fn record(tally: &Shared, service: &'static str, status: u16) {
    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
    *t.statuses.entry((service, status)).or_default() += 1;
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

async fn send(
    tally: &Shared,
    service: &'static str,
    request: reqwest::RequestBuilder,
) -> Option<Page> {
    match request.send().await {
        Ok(response) => {
            let page = Page::read(response).await;
            record(tally, service, page.status);
            Some(page)
        }
        Err(_) => {
            record(tally, service, 0);
            None
        }
    }
}

/// GET the form, POST it with its CSRF token; the POST's answer, or `None` if the form did not come.
async fn submit(
    tally: &Shared,
    service: &'static str,
    http: &reqwest::Client,
    url: &str,
    fields: &[(&str, &str)],
) -> Option<Page> {
    let form = send(tally, service, http.get(url)).await?;
    if form.status != 200 {
        return None;
    }
    let token = form.csrf_token();
    let mut all: Vec<(&str, &str)> = vec![("csrfmiddlewaretoken", token.as_str())];
    all.extend_from_slice(fields);
    send(tally, service, http.post(url).form(&all)).await
}

/// The session cookie's value from a `Set-Cookie` of `page`, if it set one.
fn session_cookie(page: &Page) -> Option<String> {
    page.set_cookies()
        .iter()
        .find_map(|c| c.strip_prefix(&format!("{}=", suite::SESSION_COOKIE_NAME)))
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .filter(|v| !v.is_empty() && !v.starts_with('"'))
}

/// A client holding only this session cookie (to replay after the logout).
fn replay_client(targets: &Targets, session: &str) -> reqwest::Client {
    let jar = reqwest::cookie::Jar::default();
    for base in [&targets.portal, &targets.api, &targets.django] {
        if let Ok(url) = base.parse() {
            jar.add_cookie_str(
                &format!("{}={session}; Path=/", suite::SESSION_COOKIE_NAME),
                &url,
            );
        }
    }
    reqwest::Client::builder()
        .cookie_provider(Arc::new(jar))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

async fn run_client(
    index: usize,
    targets: Targets,
    tally: Shared,
    deadline: Instant,
    mut password: String,
) {
    let username = format!("soak{index}");
    let mut round = 0u64;
    let mut counter = 0u64;
    let mut acknowledged = 0u64;
    while Instant::now() < deadline {
        round += 1;
        let http = client();
        let login_url = format!("{}/accounts/login/", targets.portal);
        let Some(login) = submit(
            &tally,
            "portal",
            &http,
            &login_url,
            &[("username", &username), ("password", &password)],
        )
        .await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Some(session) = (login.status == 302)
            .then(|| session_cookie(&login))
            .flatten()
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        for _ in 0..10 {
            if let Some(me) = send(
                &tally,
                "api",
                http.get(format!("{}/api/v1/me", targets.api)),
            )
            .await
            {
                if me.status == 200 {
                    let value: serde_json::Value =
                        serde_json::from_str(&me.body).unwrap_or_default();
                    assert_eq!(value["username"], json!(username), "another user's session");
                    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                    t.me_ok.push(Instant::now());
                    let seen: u64 = value["first_name"]
                        .as_str()
                        .and_then(|s| s.strip_prefix('n'))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    if seen < acknowledged {
                        t.lost_updates += 1;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The api's CSRF token: the one the portal's login form set (the shared `csrftoken` cookie).
        let token = login_csrf(&http, &targets).await;
        if round % 3 == 0 {
            if let Some(token) = &token {
                counter += 1;
                let patch = http
                    .patch(format!("{}/api/v1/me", targets.api))
                    .header("X-CSRFToken", token)
                    .header("Referer", format!("{}/", targets.api))
                    .json(&json!({"first_name": format!("n{counter}")}));
                if send(&tally, "api", patch)
                    .await
                    .is_some_and(|p| p.status == 200)
                {
                    acknowledged = counter;
                    tally.lock().unwrap_or_else(|e| e.into_inner()).patches_ok += 1;
                }
            }
        }
        if round % 7 == 0 {
            let new = format!("soak password {index} {round}");
            let url = format!("{}/accounts/password_change/", targets.portal);
            if let Some(page) = submit(
                &tally,
                "portal",
                &http,
                &url,
                &[
                    ("old_password", &password),
                    ("new_password1", &new),
                    ("new_password2", &new),
                ],
            )
            .await
            {
                if page.status == 302 {
                    password = new;
                }
            }
        }
        let replay = replay_client(&targets, &session);
        let side = ["portal", "api", "django"][(round % 3) as usize];
        let done = match round % 3 {
            0 => {
                let url = format!("{}/accounts/logout/", targets.portal);
                // The portal's LogoutView renders its "Logged out" page, as Django's does.
                submit(&tally, "portal", &http, &url, &[])
                    .await
                    .is_some_and(|p| p.status == 200 && p.body.contains("Logged out"))
            }
            1 => match &token {
                Some(token) => send(
                    &tally,
                    "api",
                    http.delete(format!("{}/api/v1/session", targets.api))
                        .header("X-CSRFToken", token)
                        .header("Referer", format!("{}/", targets.api)),
                )
                .await
                .is_some_and(|p| [200, 204].contains(&p.status)),
                None => false,
            },
            _ => {
                // Django's LogoutView: a POST with the token of a Django form (its login page).
                let url = format!("{}/accounts/login/", targets.django);
                match send(&tally, "django", http.get(&url)).await {
                    Some(form) if form.status == 200 => {
                        let token = form.csrf_token();
                        send(
                            &tally,
                            "django",
                            http.post(format!("{}/accounts/logout/", targets.django))
                                .form(&[("csrfmiddlewaretoken", token.as_str())]),
                        )
                        .await
                        .is_some_and(|p| p.status == 302 || p.status == 200)
                    }
                    _ => false,
                }
            }
        };
        if done {
            tally
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .logged_out
                .push((session, side, Instant::now(), replay));
        }
    }
}

/// The `csrftoken` the portal set, read back from a form of the portal (its home page has none, the login
/// form does, and the cookie is shared by the services).
async fn login_csrf(http: &reqwest::Client, targets: &Targets) -> Option<String> {
    let page = http
        .get(format!("{}/accounts/password_change/", targets.portal))
        .send()
        .await
        .ok()?;
    if page.status() != 200 {
        return None;
    }
    let page = Page::read(page).await;
    Some(page.csrf_token())
}

/// Every 2 s, replays each logged-out cookie on the api: a 200 is a resurrected session.
async fn check_logouts(targets: Targets, tally: Shared, deadline: Instant) {
    while Instant::now() < deadline + Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let cookies: Vec<(String, &'static str, Instant, reqwest::Client)> = tally
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .logged_out
            .clone();
        for (session, side, at, replay) in cookies {
            if let Ok(response) = replay
                .get(format!("{}/api/v1/me", targets.api))
                .send()
                .await
            {
                if response.status() == 200 {
                    tally
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .resurrected
                        .entry(session)
                        .or_insert((side, at));
                }
            }
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let seconds: u64 = env_or("SOAK_SECONDS", 300);
    let clients: usize = env_or("SOAK_CLIENTS", 8);
    let mut stack = Stack::start_behind_sentinel(
        "soak",
        &[
            ("REDIS_SOCKET_TIMEOUT", "0.5"),
            ("REDIS_SOCKET_CONNECT_TIMEOUT", "0.5"),
            ("DATABASE_CONNECT_TIMEOUT", "1"),
            ("DATABASE_TIMEOUT", "2"),
            // Logins are what the soak repeats; their hashing is proven elsewhere.
            (
                "PASSWORD_HASHERS",
                "django.contrib.auth.hashers.MD5PasswordHasher",
            ),
        ],
    );
    let mut passwords = Vec::new();
    for i in 0..clients {
        let password = format!("soak password {i}");
        stack.create_user(&format!("soak{i}"), &password, None);
        passwords.push(password);
    }
    let targets = Targets {
        portal: stack.portal.base.clone(),
        api: stack.api.base.clone(),
        django: stack.django.base.clone(),
    };
    let api_pid = stack.api.pid().expect("the api's process");
    let rss_start = rss_kib(api_pid);
    let tally: Shared = Arc::default();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let mut tasks = Vec::new();
    for (i, password) in passwords.into_iter().enumerate() {
        tasks.push(runtime.spawn(run_client(
            i,
            targets.clone(),
            tally.clone(),
            deadline,
            password,
        )));
    }
    tasks.push(runtime.spawn(check_logouts(targets.clone(), tally.clone(), deadline)));

    // The controller, on this thread: an outage every 5 to 15 s; when each store came back.
    let mut returns: Vec<(&'static str, Instant)> = Vec::new();
    let mut seed = started.elapsed().as_nanos() as u64 | 1;
    let mut next = move |n: u64| {
        // xorshift: enough randomness for intervals.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut killed: Option<u16> = None;
    while Instant::now() + Duration::from_secs(20) < deadline {
        std::thread::sleep(Duration::from_secs(5 + next(11)));
        let set = stack.sentinel();
        let only: Option<u64> = match std::env::var("SOAK_EVENTS").ok().as_deref() {
            Some("failover") => Some(0),
            Some("kill") => Some(1),
            Some("postgresql") => Some(2),
            _ => None,
        };
        let event = match only.unwrap_or_else(|| next(3)) {
            0 => {
                let mut set = set.lock().expect("the Sentinel set");
                if let Some(port) = killed.take() {
                    set.restart_as_replica(port)
                        .expect("the killed primary back");
                }
                set.failover().expect("a forced failover");
                "redis failover"
            }
            1 => {
                let mut set = set.lock().expect("the Sentinel set");
                if let Some(port) = killed.take() {
                    set.restart_as_replica(port)
                        .expect("the killed primary back");
                }
                let old = set.kill_primary().expect("a killed primary");
                set.wait_for_new_primary(old, Duration::from_secs(30))
                    .expect("a new primary");
                killed = Some(old);
                "redis primary killed"
            }
            _ => {
                stack.pg_mut().stop();
                std::thread::sleep(Duration::from_millis(1000 + 1000 * next(4)));
                stack.pg_mut().start_again().expect("PostgreSQL back");
                "postgresql stopped"
            }
        };
        eprintln!("soak: {:>5.1} s: {event}", started.elapsed().as_secs_f64());
        returns.push((event, Instant::now()));
    }
    for task in tasks {
        runtime.block_on(task).expect("a client task");
    }
    let rss_end = rss_kib(api_pid);

    let tally = tally.lock().unwrap_or_else(|e| e.into_inner());
    println!(
        "\nsoak: {seconds} s, {clients} clients, {} store outages",
        returns.len()
    );
    println!("requests by service and status (0: no answer):");
    for ((service, status), count) in &tally.statuses {
        println!("  {service:<7} {status:>3}  {count}");
    }
    let bad: u64 = tally
        .statuses
        .iter()
        .filter(|((service, status), _)| {
            *service != "django" && (*status >= 500 && *status != 503 || *status == 0)
        })
        .map(|(_, n)| n)
        .sum();
    println!("5xx other than 503 (or no answer) from the portal and the api: {bad}");
    let mut by_side: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (_, side, _, _) in &tally.logged_out {
        by_side.entry(side).or_default().0 += 1;
    }
    for (side, _) in tally.resurrected.values() {
        by_side.entry(side).or_default().1 += 1;
    }
    println!(
        "logouts replayed: {}; resurrected: {} (by the service that logged out: {by_side:?})",
        tally.logged_out.len(),
        tally.resurrected.len()
    );
    for (side, at) in tally.resurrected.values() {
        let since = at.duration_since(started).as_secs_f64();
        let near = returns
            .iter()
            .map(|(event, t)| (event, t.duration_since(started).as_secs_f64() - since))
            .filter(|(_, d)| d.abs() < 30.0)
            .map(|(event, d)| format!("{event} {d:+.1} s"))
            .collect::<Vec<_>>();
        eprintln!("  resurrected: logged out on {side} at {since:.1} s; events near: {near:?}");
    }
    println!(
        "PATCH /api/v1/me answered 200: {}; lost updates: {}",
        tally.patches_ok, tally.lost_updates
    );
    let mut longest = Duration::ZERO;
    for (event, at) in &returns {
        let first = tally.me_ok.iter().filter(|t| *t >= at).min();
        let gap = first.map(|t| *t - *at);
        println!("  {event}: first 200 {gap:?} after the store's return");
        longest = longest.max(gap.unwrap_or(Duration::MAX));
    }
    println!("longest time from a store's return to the first 200: {longest:?}");
    println!(
        "api RSS: {:.1} MiB at the start, {:.1} MiB at the end",
        rss_start as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
    let ours_resurrected = tally
        .resurrected
        .values()
        .filter(|(side, _)| *side != "django")
        .count();
    if bad > 0 || ours_resurrected > 0 || tally.lost_updates > 0 {
        eprintln!(
            "soak: FAILED (see the figures above; the processes' logs are in suite-logs/soak)"
        );
        std::process::exit(1);
    }
}
