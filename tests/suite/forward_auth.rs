//! Forward auth (issue 20): real nginx and real Caddy (Debian's packages), each running the configuration
//! shipped in `deploy/forward-auth/`, in front of a service that echoes the headers it receives. The api's
//! `/auth/verify` decides every request from the Django session: a Django login is seen by the service with
//! the user's groups; a logout on Django, the portal or the api, and a password change elsewhere, end it;
//! forged identity headers never get through; a Redis outage is a 503; `FORWARD_AUTH_REQUIRE_STAFF` is a
//! 403; a session upgraded after a `SECRET_KEY` rotation gets its new cookie through the proxy.

use std::path::PathBuf;

use suite::{Client, Page, SESSION_COOKIE_NAME, Stack, Value};
use testkit::{Caddy, EchoUpstream, Nginx};

const PASSWORD: &str = "correct horse battery 1";
const NEW_PASSWORD: &str = "another horse battery 2";

/// A file of `deploy/forward-auth/`, as shipped.
fn shipped(file: &str) -> PathBuf {
    testkit::django::workspace_root()
        .join("deploy/forward-auth")
        .join(file)
}

/// One proxy in front of the echo service: its name (for messages), its address and its log.
struct Proxy {
    name: &'static str,
    url: String,
    log: Box<dyn Fn() -> String>,
}

impl Proxy {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// `GET <path>` through the proxy as an API client (JSON accepted), with `headers` added.
    async fn get(&self, client: &Client, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut request = client
            .http
            .get(self.url(path))
            .header("Accept", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        client.send(request).await
    }

    /// What the service behind the proxy received (the proxy must answer 200).
    async fn seen(&self, client: &Client) -> Value {
        let page = self.get(client, "/service/page?a=1", &[]).await;
        assert_eq!(
            page.status,
            200,
            "{}: {}\n{}",
            self.name,
            page.body,
            (self.log)()
        );
        serde_json::from_str(&page.body).expect("the echo's JSON")
    }

    /// The status of a request through the proxy as an API client.
    async fn status(&self, client: &Client) -> u16 {
        self.get(client, "/service/page", &[]).await.status
    }
}

fn header<'a>(seen: &'a Value, name: &str) -> Option<&'a str> {
    seen["headers"][name].as_str()
}

/// The identity headers of `seen` (the echo's view) that are set and not empty.
fn identity(seen: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = seen["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .filter(|(name, _)| {
            let name = name.replace('_', "-");
            name.starts_with("x-auth-request-") || name.starts_with("remote-")
        })
        .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_string())))
        .filter(|(_, value)| !value.is_empty())
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn nginx_and_caddy_let_djangos_users_through_and_nobody_else() {
    let mut stack = Stack::start("forward_auth", &[("NUM_PROXIES", "1")]);
    let alice_id = stack.create_user("alice", PASSWORD, None);
    let root_id = stack.create_user("root", PASSWORD, None);
    // Groups and staff as Django makes them; a group name with a comma and one with a non-ASCII letter.
    stack.run_django(
        &[
            "shell",
            "-c",
            "from django.contrib.auth.models import Group, User\n\
             alice = User.objects.get(username='alice')\n\
             for name in ['editors', 'Sales, EMEA', 'Zürich']:\n\
             \x20   alice.groups.add(Group.objects.get_or_create(name=name)[0])\n\
             User.objects.filter(username='root').update(email='root@example.com', is_staff=True)\n\
             User.objects.filter(username='alice').update(email='alice@example.com', first_name='Alice', last_name='Liddell')\n",
        ],
        "groups",
    );
    let echo = EchoUpstream::start().expect("the echo service");
    let api = format!("127.0.0.1:{}", stack.api.port);
    let portal = format!("127.0.0.1:{}", stack.portal.port);
    let upstream = echo.address();
    let vars = [
        ("API_ADDRESS", api.as_str()),
        ("PORTAL_ADDRESS", portal.as_str()),
        ("UPSTREAM_ADDRESS", upstream.as_str()),
    ];
    let nginx =
        std::rc::Rc::new(Nginx::start(&shipped("nginx.conf.template"), &vars).expect("nginx"));
    let caddy = std::rc::Rc::new(Caddy::start(&shipped("Caddyfile"), &vars).expect("caddy"));
    let proxies = [
        Proxy {
            name: "nginx",
            url: nginx.url(),
            log: Box::new({
                let nginx = nginx.clone();
                move || nginx.log()
            }),
        },
        Proxy {
            name: "caddy",
            url: caddy.url(),
            log: Box::new({
                let caddy = caddy.clone();
                move || caddy.log()
            }),
        },
    ];

    let forged = [
        ("X-Auth-Request-User", "root"),
        ("X-Auth-Request-Groups", "admins"),
        ("X-Auth-Request-User-Id", "1"),
        ("X-Auth-Request-Email", "root@example.com"),
        ("Remote-User", "root"),
        ("Remote-Groups", "admins"),
        ("X_Auth_Request_User", "root"),
        ("Remote_User", "root"),
    ];

    for proxy in &proxies {
        let name = proxy.name;
        // Anonymous: an API client gets a 401 (forged headers or not), a browser the login page with `next`.
        let anonymous = Client::new();
        let page = proxy.get(&anonymous, "/service/page?a=1", &forged).await;
        assert_eq!(page.status, 401, "{name}: {}", page.body);
        assert!(
            page.body.contains("Authentication credentials"),
            "{name}: {}",
            page.body
        );
        let page = anonymous
            .send(
                anonymous
                    .http
                    .get(proxy.url("/service/page?a=1&b=2"))
                    .header("Accept", "text/html,application/xhtml+xml"),
            )
            .await;
        assert_eq!(page.status, 302, "{name}: {}", page.body);
        // nginx makes the location absolute (`absolute_redirect`), Caddy leaves it as written.
        let location = page
            .headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(
            location.strip_prefix(&proxy.url).unwrap_or(location),
            "/accounts/login/?next=/service/page%3Fa%3D1%26b%3D2",
            "{name}"
        );

        // A Django login: the service sees alice, her groups, never the forged values.
        let client = Client::new();
        stack.django_log_in(&client, "alice", PASSWORD).await;
        let page = proxy.get(&client, "/service/page?a=1", &forged).await;
        assert_eq!(page.status, 200, "{name}: {}\n{}", page.body, (proxy.log)());
        let seen: Value = serde_json::from_str(&page.body).expect("the echo's JSON");
        assert_eq!(seen["path"], "/service/page?a=1", "{name}");
        let alice_id = alice_id.to_string();
        let mut expected: Vec<(String, String)> = [
            ("remote-email", "alice@example.com"),
            ("remote-groups", "Sales%2C EMEA,Z%C3%BCrich,editors"),
            ("remote-name", "Alice Liddell"),
            ("remote-user", "alice"),
            ("x-auth-request-email", "alice@example.com"),
            ("x-auth-request-groups", "Sales%2C EMEA,Z%C3%BCrich,editors"),
            ("x-auth-request-user", "alice"),
            ("x-auth-request-user-id", alice_id.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        // The groups' order is the database's collation's: compare them as sets.
        let sorted_groups = |value: &str| {
            let mut groups: Vec<&str> = value.split(',').collect();
            groups.sort_unstable();
            groups.join(",")
        };
        let mut found = identity(&seen);
        for (k, v) in expected.iter_mut().chain(found.iter_mut()) {
            if k.ends_with("-groups") {
                *v = sorted_groups(v);
            }
        }
        assert_eq!(found, expected, "{name}: {seen}");

        // Logged out on Django: the proxy says 401.
        stack.django_log_out(&client).await;
        assert_eq!(
            proxy.status(&client).await,
            401,
            "{name} after Django's logout"
        );

        // A portal login through the proxy itself (its /accounts/), then a portal logout.
        let page = client
            .submit(
                &proxy.url("/accounts/login/"),
                &[("username", "alice"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(page.status, 302, "{name}: portal login: {}", page.body);
        assert_eq!(
            header(&proxy.seen(&client).await, "x-auth-request-user"),
            Some("alice")
        );
        stack.portal_log_out(&client).await;
        assert_eq!(
            proxy.status(&client).await,
            401,
            "{name} after the portal's logout"
        );

        // The api's logout.
        stack.portal_log_in(&client, "alice", PASSWORD).await;
        assert_eq!(proxy.status(&client).await, 200, "{name}");
        stack.api_log_out(&client).await;
        assert_eq!(
            proxy.status(&client).await,
            401,
            "{name} after the api's logout"
        );
    }

    // A password change on the portal: the other sessions get 401 through both proxies, the one that
    // changed it goes on.
    let changer = Client::new();
    let other = Client::new();
    stack.portal_log_in(&changer, "alice", PASSWORD).await;
    stack.django_log_in(&other, "alice", PASSWORD).await;
    for proxy in &proxies {
        assert_eq!(proxy.status(&other).await, 200, "{}", proxy.name);
    }
    let page = stack
        .change_password(&changer, "portal", PASSWORD, NEW_PASSWORD)
        .await;
    assert_eq!(page.status, 302, "password change: {}", page.body);
    for proxy in &proxies {
        assert_eq!(
            proxy.status(&other).await,
            401,
            "{}: the other session",
            proxy.name
        );
        assert_eq!(
            proxy.status(&changer).await,
            200,
            "{}: the changer's session",
            proxy.name
        );
    }

    // Redis away: the proxies answer 503 (never 200, never a 500 page), and 200 once it is back.
    stack.redis_mut().stop();
    for proxy in &proxies {
        let page = proxy.get(&changer, "/service/page", &[]).await;
        assert_eq!(
            page.status,
            503,
            "{}: {}\n{}",
            proxy.name,
            page.body,
            (proxy.log)()
        );
    }
    stack.redis_mut().start_again().expect("Redis again");
    // Back: no more 503 once the services have reconnected (the test kit's Redis keeps nothing, so the
    // session is gone and the answer is a 401).
    for proxy in &proxies {
        let mut status = 503;
        for _ in 0..100 {
            status = proxy.status(&changer).await;
            if status != 503 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, 401, "{} after Redis came back", proxy.name);
    }
    let alice = Client::new();
    // The portal reconnects on its own schedule: its first answers may still be 503.
    let mut page = stack.portal_log_in(&alice, "alice", NEW_PASSWORD).await;
    for _ in 0..100 {
        if page.status != 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        page = stack.portal_log_in(&alice, "alice", NEW_PASSWORD).await;
    }
    assert_eq!(page.status, 302, "alice's login: {}", page.body);
    let staff: Vec<Client> = (0..proxies.len()).map(|_| Client::new()).collect();
    for client in &staff {
        let page = stack.django_log_in(client, "root", PASSWORD).await;
        assert_eq!(page.status, 302, "root's login: {}", page.body);
    }

    // FORWARD_AUTH_REQUIRE_STAFF, with SECRET_KEY rotated (the old key a fallback): alice is 403; each
    // staff session is upgraded on its first request (Django's get_user cycles the key), and the new
    // cookie reaches the client through the proxy, so the next request is still the same user.
    let old_key = stack.var("SECRET_KEY").expect("SECRET_KEY").to_string();
    stack.restart(&[
        ("FORWARD_AUTH_REQUIRE_STAFF", "true"),
        (
            "SECRET_KEY",
            "a-rotated-secret-key-for-forward-auth-0123456789",
        ),
        ("SECRET_KEY_FALLBACKS", old_key.as_str()),
    ]);
    let forged_empty = [
        ("Remote-Name", "Mallory"),
        ("Remote-Groups", "admins"),
        ("X-Auth-Request-Groups", "admins"),
        ("Remote_Name", "Mallory"),
    ];
    for (proxy, client) in proxies.iter().zip(&staff) {
        let name = proxy.name;
        let page = proxy.get(&alice, "/service/page", &[]).await;
        assert_eq!(page.status, 403, "{name}: {}", page.body);
        let before = client.cookie(SESSION_COOKIE_NAME).expect("a session");
        let page = proxy.get(client, "/service/page", &[]).await;
        assert_eq!(page.status, 200, "{name}: {}\n{}", page.body, (proxy.log)());
        let after = client.cookie(SESSION_COOKIE_NAME).expect("a session");
        assert_ne!(
            before, after,
            "{name}: the cycled key's cookie reached the client"
        );
        // root has no name and no group: forged values of those never get through either.
        let page = proxy.get(client, "/service/page", &forged_empty).await;
        assert_eq!(page.status, 200, "{name}: {}", page.body);
        let seen: Value = serde_json::from_str(&page.body).expect("the echo's JSON");
        let root_id = root_id.to_string();
        let expected: Vec<(String, String)> = [
            ("remote-email", "root@example.com"),
            ("remote-user", "root"),
            ("x-auth-request-email", "root@example.com"),
            ("x-auth-request-user", "root"),
            ("x-auth-request-user-id", root_id.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(identity(&seen), expected, "{name}: {seen}");
    }
}
