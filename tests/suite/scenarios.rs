//! Log in on one service, be logged in on the others: the portal and api binaries beside a real Django site,
//! on real Redis and PostgreSQL, each scenario its own deployment (`suite::Stack`). The scenarios are
//! numbered as in issue 6; each checks both directions wherever there are two.

use std::time::Duration;

use suite::{Client, SESSION_COOKIE_NAME, Seen, Stack, json};

const PASSWORD: &str = "correct horse battery 1";

/// Scenario 1: Log in on the portal: the api and Django see the user. Log in on Django: the portal and the
/// api do.
#[tokio::test]
async fn s01_a_login_anywhere_is_seen_everywhere() {
    let stack = Stack::start("s01_login", &[]);
    stack.create_user("ann", PASSWORD, None);

    let on_portal = Client::new();
    assert_eq!(stack.seen(&on_portal).await, Seen::anonymous());
    let login = stack.portal_log_in(&on_portal, "ann", PASSWORD).await;
    assert_eq!(login.status, 302, "portal login: {}", login.body);
    assert_eq!(stack.seen(&on_portal).await, Seen::everywhere("ann"));

    let on_django = Client::new();
    let login = stack.django_log_in(&on_django, "ann", PASSWORD).await;
    assert_eq!(login.status, 302, "Django login: {}", login.body);
    assert_eq!(login.location(), "/whoami/");
    assert_eq!(stack.seen(&on_django).await, Seen::everywhere("ann"));

    // Two logins, two sessions.
    assert_ne!(
        on_portal.cookie(SESSION_COOKIE_NAME),
        on_django.cookie(SESSION_COOKIE_NAME)
    );
}

/// Scenario 2: Log out anywhere (the portal, the api's `DELETE /api/v1/session`, Django): all three see an
/// anonymous user, and the old cookie, replayed, is anonymous too.
#[tokio::test]
async fn s02_a_logout_anywhere_is_seen_everywhere() {
    let stack = Stack::start("s02_logout", &[]);
    stack.create_user("ann", PASSWORD, None);
    for (log_in_on, log_out_on) in [
        ("django", "portal"),
        ("portal", "api"),
        ("portal", "django"),
    ] {
        let client = Client::new();
        let login = match log_in_on {
            "django" => stack.django_log_in(&client, "ann", PASSWORD).await,
            _ => stack.portal_log_in(&client, "ann", PASSWORD).await,
        };
        assert_eq!(login.status, 302, "login on {log_in_on}: {}", login.body);
        assert_eq!(stack.seen(&client).await, Seen::everywhere("ann"));
        let replay = Client::with_session_of(&client);

        let logout = match log_out_on {
            "portal" => stack.portal_log_out(&client).await,
            "api" => stack.api_log_out(&client).await,
            _ => stack.django_log_out(&client).await,
        };
        assert!(
            logout.status < 400,
            "logout on {log_out_on}: {} {}",
            logout.status,
            logout.body
        );
        assert_eq!(
            stack.seen(&client).await,
            Seen::anonymous(),
            "after a logout on {log_out_on}"
        );
        assert_eq!(
            stack.seen(&replay).await,
            Seen::anonymous(),
            "the cookie from before the logout on {log_out_on}, replayed"
        );
    }
}

/// Scenario 3: Change the password anywhere (the portal's page, Django's `PasswordChangeView`, `portal
/// changepassword`): every other session of the user ends on all three; the one that changed it stays.
#[tokio::test]
async fn s03_a_password_change_anywhere_ends_the_other_sessions_everywhere() {
    let stack = Stack::start("s03_password_change", &[]);
    stack.create_user("bob", PASSWORD, None);
    let (second, third, fourth) = (
        "second horse battery 2",
        "third horse battery 3",
        "fourth horse battery 4",
    );

    let a = Client::new();
    let b = Client::new();
    let c = Client::new();
    assert_eq!(stack.portal_log_in(&a, "bob", PASSWORD).await.status, 302);
    assert_eq!(stack.django_log_in(&b, "bob", PASSWORD).await.status, 302);
    assert_eq!(stack.portal_log_in(&c, "bob", PASSWORD).await.status, 302);

    // On the portal, from a.
    let change = stack.change_password(&a, "portal", PASSWORD, second).await;
    assert_eq!(
        change.status, 302,
        "portal password change: {}",
        change.body
    );
    assert_eq!(stack.seen(&a).await, Seen::everywhere("bob"));
    assert_eq!(stack.seen(&b).await, Seen::anonymous());
    assert_eq!(stack.seen(&c).await, Seen::anonymous());

    // On Django, from b.
    assert_eq!(stack.django_log_in(&b, "bob", second).await.status, 302);
    assert_eq!(stack.portal_log_in(&c, "bob", second).await.status, 302);
    let change = stack.change_password(&b, "django", second, third).await;
    assert_eq!(
        change.status, 302,
        "Django password change: {}",
        change.body
    );
    assert_eq!(change.location(), "/accounts/password_change/done/");
    assert_eq!(stack.seen(&b).await, Seen::everywhere("bob"));
    assert_eq!(stack.seen(&a).await, Seen::anonymous());
    assert_eq!(stack.seen(&c).await, Seen::anonymous());

    // From the command line: every session ends.
    assert_eq!(stack.portal_log_in(&a, "bob", third).await.status, 302);
    stack.run_portal_with_input(
        &["changepassword", "bob"],
        &[],
        &format!("{fourth}\n{fourth}\n"),
        "portal-changepassword",
    );
    assert_eq!(stack.seen(&a).await, Seen::anonymous());
    assert_eq!(stack.seen(&b).await, Seen::anonymous());
    let d = Client::new();
    assert_eq!(stack.django_log_in(&d, "bob", fourth).await.status, 302);
    assert_eq!(stack.seen(&d).await, Seen::everywhere("bob"));
}

/// Scenario 4: Rotate `SECRET_KEY` with the old key in `SECRET_KEY_FALLBACKS`: sessions made under the old
/// key stay valid on all three and are upgraded (key cycled, hash rewritten under the new key), so they
/// outlive the fallback; a session nobody used meanwhile does not.
async fn rotation(engine: &str) {
    let (old, new) = (
        "the-old-secret-key-of-the-cross-service-suite",
        "the-new-secret-key-of-the-cross-service-suite",
    );
    let mut stack = Stack::start(
        &format!("s04_rotation_{engine}"),
        &[("SECRET_KEY", old), ("SESSION_ENGINE", engine)],
    );
    let pk = stack.create_user("cyd", PASSWORD, None);
    let on_portal = Client::new();
    let on_django = Client::new();
    let unused = Client::new();
    assert_eq!(
        stack
            .portal_log_in(&on_portal, "cyd", PASSWORD)
            .await
            .status,
        302
    );
    assert_eq!(
        stack
            .django_log_in(&on_django, "cyd", PASSWORD)
            .await
            .status,
        302
    );
    assert_eq!(
        stack.portal_log_in(&unused, "cyd", PASSWORD).await.status,
        302
    );

    stack.restart(&[("SECRET_KEY", new), ("SECRET_KEY_FALLBACKS", old)]);
    // The portal's session is first seen by the api after the rotation, Django's by Django.
    let before = on_portal.cookie(SESSION_COOKIE_NAME);
    assert_eq!(stack.api_user(&on_portal).await.as_deref(), Some("cyd"));
    assert_ne!(on_portal.cookie(SESSION_COOKIE_NAME), before, "key cycled");
    assert_eq!(stack.seen(&on_portal).await, Seen::everywhere("cyd"));
    let before = on_django.cookie(SESSION_COOKIE_NAME);
    assert_eq!(stack.django_user(&on_django).await.as_deref(), Some("cyd"));
    assert_ne!(on_django.cookie(SESSION_COOKIE_NAME), before, "key cycled");
    assert_eq!(stack.seen(&on_django).await, Seen::everywhere("cyd"));

    // Upgraded: the hash the api wrote is the user's hash under the new key, as Django computes it.
    let mut peer = stack.peer();
    let expected = peer.call("session_auth_hash", json!({}), json!({"pk": pk}));
    let key = on_portal.cookie(SESSION_COOKIE_NAME).expect("a session");
    let session = peer.call("session_load", json!({}), json!({"session_key": key}));
    assert_eq!(session["data"]["_auth_user_hash"], expected);
    drop(peer);

    // The old key retired: the upgraded sessions live on; the one nobody used is anonymous everywhere.
    stack.restart(&[("SECRET_KEY_FALLBACKS", "")]);
    assert_eq!(stack.seen(&on_portal).await, Seen::everywhere("cyd"));
    assert_eq!(stack.seen(&on_django).await, Seen::everywhere("cyd"));
    assert_eq!(stack.seen(&unused).await, Seen::anonymous());
}

#[tokio::test]
async fn s04_a_rotated_secret_key_keeps_sessions_cache() {
    rotation("cache").await;
}

#[tokio::test]
async fn s04_a_rotated_secret_key_keeps_sessions_signed_cookies() {
    rotation("signed_cookies").await;
}

/// Scenario 5: Each engine and cache setting: a login on the portal and one on Django are seen by all three;
/// a logout on the api and one on Django are seen by all three.
async fn engine_round_trip(name: &str, settings: &[(&str, &str)]) -> Stack {
    let stack = Stack::start(name, settings);
    stack.create_user("dee", PASSWORD, None);
    let a = Client::new();
    let b = Client::new();
    assert_eq!(stack.portal_log_in(&a, "dee", PASSWORD).await.status, 302);
    assert_eq!(stack.seen(&a).await, Seen::everywhere("dee"));
    assert_eq!(stack.django_log_in(&b, "dee", PASSWORD).await.status, 302);
    assert_eq!(stack.seen(&b).await, Seen::everywhere("dee"));
    assert!(stack.api_log_out(&a).await.status < 400);
    assert_eq!(stack.seen(&a).await, Seen::anonymous());
    assert!(stack.django_log_out(&b).await.status < 400);
    assert_eq!(stack.seen(&b).await, Seen::anonymous());
    // A session left in place for the caller to look at.
    assert_eq!(stack.django_log_in(&b, "dee", PASSWORD).await.status, 302);
    stack
}

/// The Redis keys holding sessions, one per line.
fn session_keys(stack: &Stack) -> String {
    stack
        .redis()
        .keys("*django.contrib.sessions*")
        .expect("redis-cli")
        .join("\n")
}

#[tokio::test]
async fn s05_engine_cache_with_djangos_redis_cache() {
    let stack = engine_round_trip(
        "s05_cache_redis",
        &[
            ("SESSION_ENGINE", "cache"),
            (
                "CACHE_BACKEND",
                "django.core.cache.backends.redis.RedisCache",
            ),
        ],
    )
    .await;
    assert!(session_keys(&stack).contains(":1:django.contrib.sessions.cache"));
}

#[tokio::test]
async fn s05_engine_cache_with_django_redis() {
    let stack = engine_round_trip(
        "s05_cache_django_redis",
        &[
            ("SESSION_ENGINE", "cache"),
            ("CACHE_BACKEND", "django_redis.cache.RedisCache"),
        ],
    )
    .await;
    assert!(session_keys(&stack).contains(":1:django.contrib.sessions.cache"));
}

#[tokio::test]
async fn s05_engine_cache_with_a_key_prefix_and_version() {
    let stack = engine_round_trip(
        "s05_cache_prefix_version",
        &[
            ("SESSION_ENGINE", "cache"),
            ("CACHE_KEY_PREFIX", "shop"),
            ("CACHE_VERSION", "3"),
        ],
    )
    .await;
    let keys = session_keys(&stack);
    assert!(
        keys.contains("shop:3:django.contrib.sessions.cache"),
        "{keys}"
    );
    assert!(!keys.contains(":1:django.contrib.sessions"), "{keys}");
}

#[tokio::test]
async fn s05_engine_cached_db() {
    let stack = engine_round_trip("s05_cached_db", &[("SESSION_ENGINE", "cached_db")]).await;
    assert!(session_keys(&stack).contains("django.contrib.sessions.cached_db"));
    let rows = stack
        .pg()
        .psql("SELECT count(*) FROM django_session")
        .expect("psql");
    assert_ne!(rows.trim(), "0");
}

#[tokio::test]
async fn s05_engine_db() {
    let stack = engine_round_trip("s05_db", &[("SESSION_ENGINE", "db")]).await;
    let rows = stack
        .pg()
        .psql("SELECT count(*) FROM django_session")
        .expect("psql");
    assert_ne!(rows.trim(), "0");
    assert!(!session_keys(&stack).contains("django.contrib.sessions"));
}

#[tokio::test]
async fn s05_engine_signed_cookies() {
    let stack = engine_round_trip(
        "s05_signed_cookies",
        &[("SESSION_ENGINE", "signed_cookies")],
    )
    .await;
    assert!(!session_keys(&stack).contains("django.contrib.sessions"));
}

/// Scenario 6: Session data only Django understands (a `datetime`, a `date`, a `Decimal`, a `set`, in the
/// pickled session of the cache engine) survives our services writing the same session: the portal's login
/// (which cycles the key), the idle-timeout stamp, and `SESSION_SAVE_EVERY_REQUEST`.
#[tokio::test]
async fn s06_data_only_django_understands_survives_our_writes() {
    let stack = Stack::start(
        "s06_rich_data",
        &[
            ("SESSION_ENGINE", "cache"),
            ("SESSION_SAVE_EVERY_REQUEST", "true"),
            ("SESSION_IDLE_TIMEOUT", "20"),
        ],
    );
    let pk = stack.create_user("eve", PASSWORD, None);
    let client = Client::new();
    stack.django_user(&client).await;
    let token = client.csrf_cookie().expect("Django's CSRF cookie");
    let stored = client
        .send(
            client
                .http
                .post(stack.django.url("/session/rich/"))
                .header("X-CSRFToken", token),
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    let intact = |report: &serde_json::Value, after: &str| {
        for (key, value) in report["values"].as_object().expect("values") {
            assert_eq!(value["equal"], true, "{key} after {after}: {value}");
        }
    };
    let rich = || async { client.get(&stack.django.url("/session/rich/")).await.json() };
    intact(&rich().await, "Django's own save");

    // The portal's login keeps the anonymous session's data under a new key.
    let before = client.cookie(SESSION_COOKIE_NAME);
    assert_eq!(
        stack.portal_log_in(&client, "eve", PASSWORD).await.status,
        302
    );
    assert_ne!(client.cookie(SESSION_COOKIE_NAME), before);
    let report = rich().await;
    intact(&report, "the portal's login");
    assert_eq!(report["user"], pk);
    let stamp = report["last_activity"].clone();
    assert!(stamp.is_i64(), "the idle-timeout stamp: {report}");

    // A tenth of the idle timeout later, the api rewrites the stamp; it saves on every request anyway.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let me = client.get(&stack.api.url("/api/v1/me")).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert!(
        me.set_cookies()
            .iter()
            .any(|c| c.starts_with(&format!("{SESSION_COOKIE_NAME}="))),
        "SESSION_SAVE_EVERY_REQUEST: the api re-saves: {:?}",
        me.set_cookies()
    );
    let report = rich().await;
    intact(&report, "the api's save");
    assert_ne!(report["last_activity"], stamp, "the stamp was rewritten");

    // The portal's own save of every request.
    assert_eq!(stack.portal_user(&client).await.as_deref(), Some("eve"));
    intact(&rich().await, "the portal's save");
}

/// Scenario 7: A CSRF token issued by one service is accepted by the others; a wrong one by none.
#[tokio::test]
async fn s07_a_csrf_token_from_one_service_is_accepted_by_the_others() {
    let stack = Stack::start("s07_csrf", &[]);
    stack.create_user("fay", PASSWORD, None);
    let patch = |client: &Client, token: &str| {
        client
            .http
            .patch(stack.api.url("/api/v1/me"))
            .header("X-CSRFToken", token)
            .json(&json!({"first_name": "Fay"}))
    };

    // Issued by the portal (its login form), used on Django, then the api.
    let a = Client::new();
    let token = a
        .get(&stack.portal.url("/accounts/login/"))
        .await
        .csrf_token();
    let accepted = a
        .post_form(
            &stack.django.url("/csrf/"),
            &[("csrfmiddlewaretoken", &token)],
        )
        .await;
    assert_eq!(
        accepted.status, 200,
        "Django refused the portal's token: {}",
        accepted.body
    );
    assert_eq!(stack.portal_log_in(&a, "fay", PASSWORD).await.status, 302);
    let token = a
        .get(&stack.portal.url("/accounts/password_change/"))
        .await
        .csrf_token();
    let patched = a.send(patch(&a, &token)).await;
    assert_eq!(
        patched.status, 200,
        "the api refused the portal's token: {}",
        patched.body
    );

    // Issued by Django (its login form), used on the portal's login form, then the api.
    let b = Client::new();
    let token = b
        .get(&stack.django.url("/accounts/login/"))
        .await
        .csrf_token();
    let login = b
        .post_form(
            &stack.portal.url("/accounts/login/"),
            &[
                ("csrfmiddlewaretoken", &token),
                ("username", "fay"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        login.status, 302,
        "the portal refused Django's token: {}",
        login.body
    );
    let token = b
        .get(&stack.django.url("/accounts/password_change/"))
        .await
        .csrf_token();
    let patched = b.send(patch(&b, &token)).await;
    assert_eq!(
        patched.status, 200,
        "the api refused Django's token: {}",
        patched.body
    );

    // A token of the right shape but not this cookie's: refused by all three.
    let wrong = "a".repeat(64);
    let refused = b
        .post_form(
            &stack.django.url("/csrf/"),
            &[("csrfmiddlewaretoken", &wrong)],
        )
        .await;
    assert_eq!(refused.status, 403);
    let refused = b
        .post_form(
            &stack.portal.url("/accounts/logout/"),
            &[("csrfmiddlewaretoken", &wrong)],
        )
        .await;
    assert_eq!(refused.status, 403);
    let refused = b.send(patch(&b, &wrong)).await;
    assert_eq!(refused.status, 403);
    assert_eq!(stack.seen(&b).await, Seen::everywhere("fay"));
}

/// Scenario 8: A password-reset link made by Django works on the portal, and one made by the portal on
/// Django.
#[tokio::test]
async fn s08_reset_links_work_across_services() {
    let stack = Stack::start("s08_reset", &[]);
    stack.create_user("gus", PASSWORD, None);
    let (second, third) = ("second horse battery 2", "third horse battery 3");

    // Django mails the link; the portal sets the password.
    let (link, set) = stack
        .reset_password("django", "gus@example.com", second)
        .await;
    assert_eq!(set.status, 302, "{}", set.body);
    assert_eq!(set.location(), "/accounts/reset/done/");
    // The link is spent on Django too (the token hashes the old password).
    let spent = Client::new().get(&stack.django.url(&link)).await;
    assert_eq!(
        spent.status, 200,
        "a spent link is not redirected: {}",
        spent.body
    );
    let fresh = Client::new();
    assert_eq!(stack.django_log_in(&fresh, "gus", second).await.status, 302);

    // The portal mails the link; Django sets the password.
    let (_, set) = stack
        .reset_password("portal", "gus@example.com", third)
        .await;
    assert_eq!(set.status, 302, "{}", set.body);
    assert_eq!(set.location(), "/accounts/reset/done/");
    assert_eq!(
        stack.seen(&fresh).await,
        Seen::anonymous(),
        "the reset ended the other session"
    );
    let fresh = Client::new();
    assert_eq!(
        stack.portal_log_in(&fresh, "gus", second).await.status,
        200,
        "the old password is refused"
    );
    assert_eq!(stack.portal_log_in(&fresh, "gus", third).await.status, 302);
    assert_eq!(stack.seen(&fresh).await, Seen::everywhere("gus"));
}

/// Scenario 9: Users Django made with each of its hashers log in on the portal; a superuser made with `portal
/// createsuperuser` logs into Django and its admin.
#[tokio::test]
async fn s09_every_djangos_hasher_and_portal_createsuperuser() {
    let stack = Stack::start("s09_hashers", &[]);
    let mut peer = stack.peer();
    for hasher in [
        "pbkdf2_sha256",
        "pbkdf2_sha1",
        "argon2",
        "bcrypt_sha256",
        "scrypt",
    ] {
        let username = format!("user_{hasher}");
        let pk = stack.create_user(&username, PASSWORD, Some(hasher));
        let row = peer.call("get_user_row", json!({}), json!({"pk": pk}));
        let encoded = row["password"].as_str().expect("a password");
        assert!(encoded.starts_with(&format!("{hasher}$")), "{encoded}");
        let client = Client::new();
        let login = stack.portal_log_in(&client, &username, PASSWORD).await;
        assert_eq!(login.status, 302, "{hasher}: {}", login.body);
        assert_eq!(
            stack.seen(&client).await,
            Seen::everywhere(&username),
            "{hasher}"
        );
    }
    drop(peer);

    stack.run_portal(
        &[
            "createsuperuser",
            "--noinput",
            "--username",
            "boss",
            "--email",
            "boss@example.com",
        ],
        &[("DJANGO_SUPERUSER_PASSWORD", PASSWORD)],
        "portal-createsuperuser",
    );
    let client = Client::new();
    let login = client
        .submit(
            &stack.django.url("/admin/login/?next=/admin/"),
            &[
                ("username", "boss"),
                ("password", PASSWORD),
                ("next", "/admin/"),
            ],
        )
        .await;
    assert_eq!(login.status, 302, "Django's admin login: {}", login.body);
    assert_eq!(login.location(), "/admin/");
    let admin = client.get(&stack.django.url("/admin/")).await;
    assert_eq!(admin.status, 200);
    assert!(admin.body.contains("Site administration"), "{}", admin.body);
    assert!(
        admin.body.contains("Users"),
        "the superuser sees the auth models"
    );
    assert_eq!(stack.seen(&client).await, Seen::everywhere("boss"));
}

/// Scenario 10: The seed project's acceptance list, with our api where its FastAPI service was.
#[tokio::test]
async fn s10_the_seed_projects_acceptance_list() {
    let stack = Stack::start("s10_seed", &[]);
    stack.create_user("hal", PASSWORD, None);

    // Django login, then api access; Django logout, then 401.
    let a = Client::new();
    assert_eq!(stack.django_log_in(&a, "hal", PASSWORD).await.status, 302);
    let me = a.get(&stack.api.url("/api/v1/me")).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], "hal");
    assert!(stack.django_log_out(&a).await.status < 400);
    let me = a.get(&stack.api.url("/api/v1/me")).await;
    assert_eq!(me.status, 401);
    assert!(me.json()["detail"].is_string());

    // Register, log in, access, log out, 401, log in again, 200.
    let b = Client::new();
    let registered = stack.portal_register(&b, "ivy", PASSWORD).await;
    assert_eq!(registered.status, 302, "{}", registered.body);
    assert_eq!(stack.portal_log_in(&b, "ivy", PASSWORD).await.status, 302);
    assert_eq!(b.get(&stack.api.url("/api/v1/me")).await.status, 200);
    assert!(stack.portal_log_out(&b).await.status < 400);
    assert_eq!(b.get(&stack.api.url("/api/v1/me")).await.status, 401);
    assert_eq!(stack.portal_log_in(&b, "ivy", PASSWORD).await.status, 302);
    assert_eq!(b.get(&stack.api.url("/api/v1/me")).await.status, 200);

    // A fresh client carrying only the session cookie is recognised by the api and by Django.
    let bare = Client::with_session_of(&b);
    assert_eq!(stack.api_user(&bare).await.as_deref(), Some("ivy"));
    assert_eq!(stack.django_user(&bare).await.as_deref(), Some("ivy"));
}

/// Scenario 11: a `POST` without a body or a `Content-Type` (`curl -X POST` with the session cookie) is an
/// empty form, refused by the CSRF check (403) on Django and the portal alike, and the user stays logged
/// in; with the token in `X-CSRFToken` the same bodiless logout is accepted on both.
#[tokio::test]
async fn s11_a_bodiless_post_is_refused_for_csrf_everywhere() {
    let stack = Stack::start("s11_bodiless_post", &[]);
    stack.create_user("ann", PASSWORD, None);
    let client = Client::new();
    assert_eq!(
        stack.portal_log_in(&client, "ann", PASSWORD).await.status,
        302
    );
    for service in [&stack.django, &stack.portal] {
        for path in [
            "/accounts/logout/",
            "/accounts/login/",
            "/accounts/password_change/",
        ] {
            let refused = client.send(client.http.post(service.url(path))).await;
            assert_eq!(
                refused.status, 403,
                "{} {path}: {}",
                service.name, refused.body
            );
            assert!(
                refused.body.contains("CSRF"),
                "{} {path}: {}",
                service.name,
                refused.body
            );
        }
        assert_eq!(stack.seen(&client).await, Seen::everywhere("ann"));
    }
    for service in [&stack.django, &stack.portal] {
        let client = Client::new();
        assert_eq!(
            stack.portal_log_in(&client, "ann", PASSWORD).await.status,
            302
        );
        let token = client.csrf_cookie().expect("a csrftoken cookie");
        let logout = client
            .send(
                client
                    .http
                    .post(service.url("/accounts/logout/"))
                    .header("X-CSRFToken", token)
                    .header("Origin", service.url("").trim_end_matches('/')),
            )
            .await;
        assert!(
            [200, 302].contains(&logout.status),
            "{}: {} {}",
            service.name,
            logout.status,
            logout.body
        );
        assert_eq!(
            stack.seen(&client).await,
            Seen::anonymous(),
            "{}",
            service.name
        );
    }
}

/// Scenario 12: every service behind PgBouncer in transaction pooling mode (Debian's, which predates its
/// prepared-statement support), sessions in the database: logins, `/api/v1/me` under concurrent requests,
/// a registration and a logout, with Django on the same pool.
#[tokio::test]
async fn s12_every_service_through_pgbouncer_in_transaction_mode() {
    let stack = Stack::start_through_pgbouncer("s12_pgbouncer", &[("SESSION_ENGINE", "db")]);
    stack.create_user("ann", PASSWORD, None);

    let on_portal = Client::new();
    let login = stack.portal_log_in(&on_portal, "ann", PASSWORD).await;
    assert_eq!(login.status, 302, "portal login: {}", login.body);
    assert_eq!(stack.seen(&on_portal).await, Seen::everywhere("ann"));
    let on_django = Client::new();
    let login = stack.django_log_in(&on_django, "ann", PASSWORD).await;
    assert_eq!(login.status, 302, "Django login: {}", login.body);
    assert_eq!(stack.seen(&on_django).await, Seen::everywhere("ann"));

    // Concurrent requests on every service share PgBouncer's two server connections.
    let mut requests = Vec::new();
    for i in 0..60 {
        let (http, url) = match i % 3 {
            0 => (on_portal.http.clone(), stack.api.url("/api/v1/me")),
            1 => (on_django.http.clone(), stack.api.url("/api/v1/me")),
            _ => (on_django.http.clone(), stack.django.url("/whoami/")),
        };
        requests.push(tokio::spawn(async move {
            let response = http.get(&url).send().await.expect("a response");
            let status = response.status().as_u16();
            (url, status, response.text().await.unwrap_or_default())
        }));
    }
    for request in requests {
        let (url, status, body) = request.await.expect("the request task");
        assert_eq!(status, 200, "{url}: {body}");
        assert!(body.contains("ann"), "{url}: {body}");
    }

    let on_register = Client::new();
    let registered = stack.portal_register(&on_register, "bob", PASSWORD).await;
    assert_eq!(registered.status, 302, "register: {}", registered.body);
    // Registered through the pool, logged in on Django through the same pool.
    let login = stack.django_log_in(&on_register, "bob", PASSWORD).await;
    assert_eq!(login.status, 302, "Django login: {}", login.body);
    assert_eq!(stack.seen(&on_register).await, Seen::everywhere("bob"));

    let logout = stack.api_log_out(&on_portal).await;
    assert!([200, 204].contains(&logout.status), "{}", logout.body);
    assert_eq!(stack.seen(&on_portal).await, Seen::anonymous());
    assert_eq!(stack.seen(&on_django).await, Seen::everywhere("ann"));
}

/// A GET with exactly this `Cookie` header (none when empty): no cookie jar, no redirects followed.
async fn get_with_cookies(url: &str, cookies: &str) -> suite::Page {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let mut request = http.get(url);
    if !cookies.is_empty() {
        request = request.header("Cookie", cookies);
    }
    suite::Page::read(request.send().await.expect("a response")).await
}

/// The entries the api's CORS layer (actix-cors) adds to `Vary` before the session middleware adds its
/// own: they concern the `Origin` of cross-site requests, not the session.
const CORS_VARY: [&str; 3] = [
    "Origin",
    "Access-Control-Request-Method",
    "Access-Control-Request-Headers",
];

/// The `Vary` a client sees (every `Vary` line, joined as one), without the api's CORS entries; `None`
/// when there is none.
fn vary(page: &suite::Page) -> Option<String> {
    let entries: Vec<&str> = page
        .headers
        .get_all("vary")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !CORS_VARY.contains(entry))
        .collect();
    (!entries.is_empty()).then(|| entries.join(", "))
}

/// The session cookie's `Set-Cookie`, its date (`expires=…`, which moves by the second) masked.
fn session_set_cookie(page: &suite::Page) -> Option<String> {
    let set_cookie = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with(&format!("{SESSION_COOKIE_NAME}=")))?;
    Some(
        set_cookie
            .split("; ")
            .map(|part| match part.split_once('=') {
                Some(("expires", date)) if !date.starts_with("Thu, 01 Jan 1970") => {
                    "expires=<date>"
                }
                _ => part,
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Scenario 13: the headers of `SessionMiddleware` are Django's, for the same requests, with
/// `SESSION_SAVE_EVERY_REQUEST` off and on: `Vary` (`Cookie` whenever the session was read, its cookie set
/// or deleted; Django 5.2.14 and 6.0.5 also vary when only `SESSION_SAVE_EVERY_REQUEST` saved it) and the
/// session's `Set-Cookie` (whether there is one, its value and attributes). Django answers `/whoami/`,
/// which reads the user and so the session, as our services read theirs on every request; the portal `/`
/// and the api `/api/v1/me`. Django's `/plain/` touches neither: with `SESSION_SAVE_EVERY_REQUEST` it
/// answers as ours (the 5.2.14/6.0.5 rule); without, it has no `Vary`, where ours, which always read the
/// session, vary on `Cookie`: stricter, and the one difference.
#[tokio::test]
async fn s13_the_session_middlewares_headers_are_djangos() {
    let mut stack = Stack::start("s13_session_headers", &[]);
    stack.create_user("ann", PASSWORD, None);
    for save_every_request in [false, true] {
        if save_every_request {
            stack.restart(&[("SESSION_SAVE_EVERY_REQUEST", "true")]);
        }
        let client = Client::new();
        let login = stack.django_log_in(&client, "ann", PASSWORD).await;
        assert_eq!(login.status, 302, "Django login: {}", login.body);
        // Our services record a session's activity the first time they see it, a write Django never
        // makes (and then not again for a minute); past that, their answers are the middleware's alone.
        assert_eq!(stack.seen(&client).await, Seen::everywhere("ann"));
        let session = client
            .cookie(SESSION_COOKIE_NAME)
            .expect("Django's session cookie");
        let csrf = client.csrf_cookie().expect("Django's CSRF cookie");
        let unknown = "0123456789abcdefghijklmnopqrstuv";
        let cases = [
            ("no cookie", String::new()),
            ("a CSRF cookie", format!("csrftoken={csrf}")),
            (
                "an unknown session",
                format!("{SESSION_COOKIE_NAME}={unknown}; csrftoken={csrf}"),
            ),
            (
                "a logged-in session",
                format!("{SESSION_COOKIE_NAME}={session}; csrftoken={csrf}"),
            ),
            (
                "a logged-in session without a CSRF cookie",
                format!("{SESSION_COOKIE_NAME}={session}"),
            ),
        ];
        for (case, cookies) in &cases {
            let what = format!("{case}, SESSION_SAVE_EVERY_REQUEST={save_every_request}");
            let django = get_with_cookies(&stack.django.url("/whoami/"), cookies).await;
            assert_eq!(django.status, 200, "Django, {what}: {}", django.body);
            assert_eq!(vary(&django).as_deref(), Some("Cookie"), "Django, {what}");
            for (service, url) in [
                ("portal", stack.portal.url("/")),
                ("api", stack.api.url("/api/v1/me")),
            ] {
                let ours = get_with_cookies(&url, cookies).await;
                assert!(ours.status < 500, "{service}, {what}: {}", ours.body);
                assert_eq!(vary(&ours), vary(&django), "{service}, {what}");
                assert_eq!(
                    session_set_cookie(&ours),
                    session_set_cookie(&django),
                    "{service}, {what}"
                );
            }
        }
        // What each side sends, so the comparison above cannot pass on two empty answers.
        let logged_in = &cases[3].1;
        let django = get_with_cookies(&stack.django.url("/whoami/"), logged_in).await;
        let renewed = session_set_cookie(&django);
        if save_every_request {
            assert_eq!(
                renewed.as_deref(),
                Some(
                    format!(
                        "{SESSION_COOKIE_NAME}={session}; expires=<date>; HttpOnly; Max-Age=1209600; \
                         Path=/; SameSite=Lax"
                    )
                    .as_str()
                )
            );
        } else {
            assert_eq!(renewed, None);
        }
        let deleted = get_with_cookies(&stack.django.url("/whoami/"), &cases[2].1).await;
        assert_eq!(
            session_set_cookie(&deleted).as_deref(),
            Some(
                format!(
                    "{SESSION_COOKIE_NAME}=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; \
                     Path=/; SameSite=Lax"
                )
                .as_str()
            )
        );

        // A Django view that never reads the session, and the api, for a logged-in session.
        let plain = get_with_cookies(&stack.django.url("/plain/"), logged_in).await;
        let ours = get_with_cookies(&stack.api.url("/api/v1/me"), logged_in).await;
        assert_eq!(plain.status, 200, "{}", plain.body);
        if save_every_request {
            assert_eq!(vary(&plain).as_deref(), Some("Cookie"));
            assert_eq!(vary(&ours), vary(&plain));
            assert_eq!(session_set_cookie(&ours), session_set_cookie(&plain));
        } else {
            assert_eq!(vary(&plain), None);
            assert_eq!(session_set_cookie(&plain), None);
            assert_eq!(vary(&ours).as_deref(), Some("Cookie"));
            assert_eq!(session_set_cookie(&ours), None);
        }
    }
}

/// Scenario 14: Redis behind Sentinel (a primary, a replica, three Sentinels), Django with django-redis's
/// `SentinelClient`: logins and `GET /api/v1/me` go on through a forced failover and a killed primary,
/// every answer a 200 or a 503 (never a 500), none slower than the Redis timeout, 200 again within 5 s of
/// the new primary, without restarting anything; sessions logged out before the failovers stay out.
#[tokio::test]
async fn s14_every_service_through_a_sentinel_failover() {
    let stack = Stack::start_behind_sentinel(
        "s14_sentinel",
        &[
            ("REDIS_SOCKET_TIMEOUT", "0.5"),
            ("REDIS_SOCKET_CONNECT_TIMEOUT", "0.5"),
        ],
    );
    stack.create_user("ann", PASSWORD, None);
    let on_portal = Client::new();
    let login = stack.portal_log_in(&on_portal, "ann", PASSWORD).await;
    assert_eq!(login.status, 302, "portal login: {}", login.body);
    assert_eq!(stack.seen(&on_portal).await, Seen::everywhere("ann"));
    let on_django = Client::new();
    let login = stack.django_log_in(&on_django, "ann", PASSWORD).await;
    assert_eq!(login.status, 302, "Django login: {}", login.body);
    assert_eq!(stack.seen(&on_django).await, Seen::everywhere("ann"));

    // Logged out on each side before the failovers, the cookies kept to replay.
    let mut replayed = Vec::new();
    for side in ["portal", "api", "django"] {
        let client = Client::new();
        let login = stack.portal_log_in(&client, "ann", PASSWORD).await;
        assert_eq!(login.status, 302, "{}", login.body);
        let copy = Client::with_session_of(&client);
        let logout = match side {
            "portal" => stack.portal_log_out(&client).await,
            "api" => stack.api_log_out(&client).await,
            _ => stack.django_log_out(&client).await,
        };
        assert!(
            [200, 204, 302].contains(&logout.status),
            "{side}: {}",
            logout.body
        );
        assert_eq!(stack.seen(&copy).await, Seen::anonymous(), "{side}");
        replayed.push(copy);
    }

    for event in ["forced failover", "killed primary"] {
        let started = std::time::Instant::now();
        let set = stack.sentinel();
        let failover = tokio::task::spawn_blocking(move || {
            let mut set = set.lock().expect("the Sentinel set");
            let new_primary = match event {
                "forced failover" => set.failover(),
                _ => {
                    let old = set.kill_primary()?;
                    set.wait_for_new_primary(old, Duration::from_secs(30))
                }
            };
            // When the Sentinels named it (within the test kit's 50 ms poll), not when this loop looks:
            // a login round may take seconds.
            new_primary.map(|port| (port, std::time::Instant::now()))
        });
        let mut failover = Some(failover);
        let mut done_at = None;
        let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
        let mut last_not_200 = None;
        let mut streak = 0;
        let mut round = 0;
        // Until 20 answers in a row and 3 s after the new primary (a demoted primary drops its clients a
        // moment after the Sentinels name the new one).
        while streak < 20
            || done_at.is_none_or(|at: std::time::Instant| at.elapsed() < Duration::from_secs(3))
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{event}: no recovery"
            );
            round += 1;
            let t = std::time::Instant::now();
            let login = round % 5 == 0;
            let status = if login {
                let client = Client::new();
                stack.portal_log_in(&client, "ann", PASSWORD).await.status
            } else {
                let client = if round % 2 == 0 {
                    &on_portal
                } else {
                    &on_django
                };
                client
                    .http
                    .get(stack.api.url("/api/v1/me"))
                    .send()
                    .await
                    .expect("a response")
                    .status()
                    .as_u16()
            };
            // The Redis deadline is 1 s (connect + response timeouts); a login makes several calls.
            let took = t.elapsed();
            let limit = Duration::from_millis(if login { 3500 } else { 1500 });
            assert!(took < limit, "{event}: {took:?}");
            *statuses.entry(status).or_default() += 1;
            match status {
                200 | 302 => streak += 1,
                503 => {
                    streak = 0;
                    last_not_200 = Some(std::time::Instant::now());
                }
                other => panic!("{event}: status {other}"),
            }
            if failover.as_ref().is_some_and(|f| f.is_finished()) {
                let (new_primary, at) = failover.take().unwrap().await.unwrap().unwrap();
                eprintln!("{event}: new primary on port {new_primary}");
                done_at = Some(at);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let done = done_at.unwrap();
        let back = match last_not_200 {
            Some(at) if at > done => at - done,
            _ => Duration::ZERO,
        };
        println!("{event}: statuses {statuses:?}; 200 again {back:?} after the new primary");
        assert!(back < Duration::from_secs(5), "{event}: {back:?}");
        for copy in &replayed {
            assert_eq!(
                stack.seen(copy).await,
                Seen::anonymous(),
                "{event}: resurrected"
            );
        }
        assert_eq!(
            stack.seen(&on_portal).await,
            Seen::everywhere("ann"),
            "{event}"
        );
        if event == "forced failover" {
            let set = stack.sentinel();
            tokio::task::spawn_blocking(move || {
                set.lock()
                    .expect("the Sentinel set")
                    .wait_for_replica_in_sync()
            })
            .await
            .expect("the task")
            .expect("the demoted primary in sync");
        }
    }
}
