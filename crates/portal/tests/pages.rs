//! Every page of the portal, success and failure, against the real service on a throwaway Redis and
//! PostgreSQL, with the peer Django reading the same stores: what a Django project sees after each step.

mod app;

use std::time::{Duration, Instant};

use app::spawn_app;
use serde_json::{Value, json};

fn session_key(browser: &app::Browser) -> String {
    browser.cookie("sessionid").expect("a session cookie")
}

/// Who Django's `get_user` finds for this session key (None: anonymous).
fn django_user(peer: &mut app::oracle::Oracle, key: &str) -> Option<String> {
    let answer = peer.call(
        "get_user",
        json!({}),
        json!({"session_key": key, "save": false}),
    );
    answer["username"].as_str().map(str::to_string)
}

fn create_user(
    peer: &mut app::oracle::Oracle,
    username: &str,
    password: &str,
    extra: Value,
) -> i64 {
    let mut args = json!({"username": username, "password": password});
    if let (Some(args), Some(extra)) = (args.as_object_mut(), extra.as_object()) {
        args.extend(extra.clone());
    }
    let created = peer.call("create_user", json!({}), args);
    created.as_i64().expect("pk")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_log_in_and_out_as_django_sees_it() {
    let app = spawn_app(&[]).await;
    let mut peer = app.peer();
    let browser = app.browser();

    let registered = browser
        .register("alice", "Alice@Example.COM", "correct horse 7")
        .await;
    assert_eq!(registered.status, 302, "{}", registered.body);
    assert_eq!(registered.location(), "/accounts/login/");
    let login_page = browser.get("/accounts/login/").await;
    assert!(login_page.contains("Your account has been created"));
    // Shown once.
    assert!(
        !browser
            .get("/accounts/login/")
            .await
            .contains("has been created")
    );
    let csrf_before = browser.cookie("csrftoken").expect("csrftoken");
    // Django authenticates the user the portal created (and normalised the email as UserManager does).
    let authenticated = peer.call(
        "authenticate",
        json!({}),
        json!({"username": "alice", "password": "correct horse 7"}),
    );
    let pk = authenticated.as_i64().expect("Django authenticates alice");
    assert_eq!(
        peer.call("get_user_row", json!({}), json!({"pk": pk}))["email"],
        "Alice@example.com"
    );

    let logged_in = browser.log_in("alice", "correct horse 7").await;
    assert_eq!(logged_in.status, 302, "{}", logged_in.body);
    assert_eq!(logged_in.location(), "/");
    let cookies = logged_in.set_cookies().join("\n");
    assert!(cookies.contains("sessionid="), "{cookies}");
    assert!(cookies.contains("HttpOnly"), "{cookies}");
    assert_ne!(
        browser.cookie("csrftoken").unwrap(),
        csrf_before,
        "the CSRF token rotates at login"
    );
    assert_eq!(browser.whoami().await.as_deref(), Some("alice"));
    let key = session_key(&browser);
    assert_eq!(django_user(&mut peer, &key).as_deref(), Some("alice"));
    let row = peer.call("get_user_row", json!({}), json!({"pk": pk}));
    assert!(row["last_login"].is_string(), "last_login is set: {row}");

    // GET never logs out; it asks.
    let confirm = browser.get("/accounts/logout/").await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.contains("You are signed in as alice"));
    assert_eq!(django_user(&mut peer, &key).as_deref(), Some("alice"));
    let out = browser.log_out().await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.contains("You have been logged out"));
    assert!(
        out.set_cookies()
            .iter()
            .any(|c| c.starts_with("sessionid=\"\"; expires=Thu, 01 Jan 1970")),
        "{:?}",
        out.set_cookies()
    );
    assert_eq!(browser.whoami().await, None);
    assert_eq!(django_user(&mut peer, &key), None);
    assert_eq!(
        peer.call("session_load", json!({}), json!({"session_key": key}))["found"],
        json!(false)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_follows_djangos_rules() {
    let app = spawn_app(&[]).await;
    let mut peer = app.peer();
    create_user(&mut peer, "bob", "bob password 1", json!({}));
    create_user(&mut peer, "carol", "carol password 1", json!({}));
    create_user(
        &mut peer,
        "idle",
        "idle password 1",
        json!({"is_active": false}),
    );
    let url: reqwest::Url = app.base.parse().unwrap();

    // An anonymous session (made by Django) gets a new key at login and keeps its data.
    let anonymous = peer.call(
        "session_create",
        json!({}),
        json!({"data": {"cart": "3 apples"}}),
    );
    let anonymous_key = anonymous["session_key"].as_str().unwrap().to_string();
    let browser = app.browser();
    browser
        .jar
        .add_cookie_str(&format!("sessionid={anonymous_key}; Path=/"), &url);
    assert_eq!(browser.log_in("bob", "bob password 1").await.status, 302);
    let bob_key = session_key(&browser);
    assert_ne!(bob_key, anonymous_key, "cycle_key against session fixation");
    let loaded = peer.call("session_load", json!({}), json!({"session_key": bob_key}));
    assert_eq!(loaded["data"]["cart"], "3 apples");
    assert_eq!(
        peer.call(
            "session_load",
            json!({}),
            json!({"session_key": anonymous_key})
        )["found"],
        json!(false)
    );

    // The same user again: the key stays. Another user: the session is flushed (data gone).
    assert_eq!(browser.log_in("bob", "bob password 1").await.status, 302);
    assert_eq!(session_key(&browser), bob_key);
    assert_eq!(
        browser.log_in("carol", "carol password 1").await.status,
        302
    );
    let carol_key = session_key(&browser);
    assert_ne!(carol_key, bob_key);
    let loaded = peer.call("session_load", json!({}), json!({"session_key": carol_key}));
    assert!(loaded["data"].get("cart").is_none(), "{loaded}");
    assert_eq!(django_user(&mut peer, &carol_key).as_deref(), Some("carol"));

    // One message for a wrong password, an unknown user and an inactive user; no session for any.
    let stranger = app.browser();
    let message = "Please enter a correct username and password. Note that both fields may be case-sensitive.";
    for (username, password) in [
        ("bob", "wrong"),
        ("nobody", "bob password 1"),
        ("idle", "idle password 1"),
        ("BOB", "bob password 1"),
    ] {
        let page = stranger.log_in(username, password).await;
        assert_eq!(page.status, 200, "{username}");
        assert!(page.contains(message), "{username}: {}", page.body);
        assert!(
            page.contains(&format!("value=\"{username}\"")),
            "the username is kept"
        );
        assert!(!page.contains(password), "the password is never echoed");
        assert!(stranger.cookie("sessionid").is_none(), "{username}");
    }
    let empty = stranger.log_in("", "").await;
    assert_eq!(empty.body.matches("This field is required.").count(), 2);

    // `next`: followed when it stays on this site, ignored otherwise (no open redirect).
    let host = app.base.trim_start_matches("http://").to_string();
    for (next, expected) in [
        ("/accounts/sessions/", "/accounts/sessions/".to_string()),
        (
            &format!("http://{host}/accounts/sessions/") as &str,
            format!("http://{host}/accounts/sessions/"),
        ),
        ("//evil.example/", "/".into()),
        ("https://evil.example/", "/".into()),
        ("/\\evil.example", "/".into()),
        ("javascript:alert(1)", "/".into()),
        ("", "/".into()),
    ] {
        let browser = app.browser();
        let page = browser
            .submit(
                "/accounts/login/",
                "/accounts/login/",
                &[
                    ("username", "bob"),
                    ("password", "bob password 1"),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(page.status, 302, "{next}");
        assert_eq!(page.location(), expected, "{next}");
    }
    // The form carries `next` through.
    let browser = app.browser();
    let form = browser
        .get("/accounts/login/?next=/accounts/sessions/")
        .await;
    assert!(form.contains("name=\"next\" value=\"/accounts/sessions/\""));
    // Pages that need a login send visitors there, with `next`.
    let page = browser.get("/accounts/sessions/").await;
    assert_eq!(page.status, 302);
    assert_eq!(
        page.location(),
        "/accounts/login/?next=%2Faccounts%2Fsessions%2F"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_failures_are_403_with_djangos_reasons() {
    let app = spawn_app(&[]).await;
    let mut peer = app.peer();
    create_user(&mut peer, "dave", "dave password 1", json!({}));
    let browser = app.browser();
    let fields = [("username", "dave"), ("password", "dave password 1")];

    let no_cookie = browser.post("/accounts/login/", &fields).await;
    assert_eq!(no_cookie.status, 403);
    assert!(no_cookie.contains("CSRF verification failed. Request aborted."));
    assert!(no_cookie.contains("Reason given for failure: CSRF cookie not set."));

    let form = browser.get("/accounts/login/").await;
    assert!(browser.cookie("csrftoken").is_some());
    let missing = browser.post("/accounts/login/", &fields).await;
    assert_eq!(missing.status, 403);
    assert!(missing.contains("CSRF token missing."), "{}", missing.body);
    let wrong = "a".repeat(64);
    let mut with_wrong = vec![("csrfmiddlewaretoken", wrong.as_str())];
    with_wrong.extend_from_slice(&fields);
    let incorrect = browser.post("/accounts/login/", &with_wrong).await;
    assert_eq!(incorrect.status, 403);
    assert!(incorrect.contains("CSRF token from POST incorrect."));
    let short = [("csrfmiddlewaretoken", "abc")];
    let bad_length = browser.post("/accounts/login/", &short).await;
    assert!(bad_length.contains("CSRF token from POST has incorrect length."));

    // A cross-site form: the Origin is not this site.
    let token = form.csrf_token();
    let cross = browser
        .client
        .post(format!("{}/accounts/login/", app.base))
        .header("Origin", "http://evil.example")
        .form(&[
            ("csrfmiddlewaretoken", token.as_str()),
            ("username", "dave"),
            ("password", "dave password 1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    assert!(cross.text().await.unwrap().contains(
        "Origin checking failed - http://evil.example does not match any trusted origins."
    ));
    // The same form from this site's origin, with the token in the header instead: accepted.
    let ok = browser
        .client
        .post(format!("{}/accounts/login/", app.base))
        .header("Origin", &app.base)
        .header("X-CSRFToken", &token)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 302);
    assert!(browser.cookie("sessionid").is_some());
    // Nobody was logged in by the refused attempts.
    assert_eq!(
        peer.call("get_user_row", json!({}), json!({"pk": 1}))["username"],
        "dave"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_refused_for_a_while() {
    let app = spawn_app(&[
        ("LOGIN_FAILURE_LIMIT", "3"),
        ("LOGIN_ADDRESS_FAILURE_LIMIT", "6"),
        ("LOGIN_FAILURE_WINDOW", "600"),
    ])
    .await;
    let mut peer = app.peer();
    create_user(&mut peer, "erin", "erin password 1", json!({}));
    create_user(&mut peer, "frank", "frank password 1", json!({}));
    let browser = app.browser();
    for _ in 0..3 {
        let page = browser.log_in("erin", "guess").await;
        assert!(page.contains("Please enter a correct username"));
    }
    // Even the right password is refused now, and an unknown name gets the same answer.
    let refused = browser.log_in("erin", "erin password 1").await;
    assert_eq!(refused.status, 200);
    assert!(
        refused.contains("Too many failed login attempts. Please try again in 10 minutes."),
        "{}",
        refused.body
    );
    assert!(browser.cookie("sessionid").is_none());
    for _ in 0..3 {
        browser.log_in("ghost", "guess").await;
    }
    assert!(
        browser
            .log_in("ghost", "guess")
            .await
            .contains("Too many failed login attempts")
    );
    // The address has now failed 6 times: even another account is refused from it.
    let other = browser.log_in("frank", "frank password 1").await;
    assert!(other.contains("Too many failed login attempts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_applies_djangos_validators() {
    let app = spawn_app(&[]).await;
    let mut peer = app.peer();
    create_user(&mut peer, "Grace", "grace password 1", json!({}));
    let browser = app.browser();
    let attempt =
        |username: &'static str, email: &'static str, p1: &'static str, p2: &'static str| {
            let browser = &browser;
            async move {
                browser
                    .submit(
                        "/accounts/register/",
                        "/accounts/register/",
                        &[
                            ("username", username),
                            ("email", email),
                            ("password1", p1),
                            ("password2", p2),
                        ],
                    )
                    .await
            }
        };
    for (username, email, p1, p2, message) in [
        (
            "henry",
            "",
            "short1",
            "short1",
            "This password is too short. It must contain at least 8 characters.",
        ),
        (
            "henry",
            "",
            "84736251947",
            "84736251947",
            "This password is entirely numeric.",
        ),
        (
            "henry",
            "",
            "password123",
            "password123",
            "This password is too common.",
        ),
        (
            "henrietta",
            "",
            "henrietta1",
            "henrietta1",
            "The password is too similar to the username.",
        ),
        (
            "henry",
            "",
            "a long passphrase",
            "another passphrase",
            "The two password fields didn’t match.",
        ),
        (
            "grace",
            "",
            "a long passphrase",
            "a long passphrase",
            "A user with that username already exists.",
        ),
        (
            "no spaces",
            "",
            "a long passphrase",
            "a long passphrase",
            "Enter a valid username.",
        ),
        (
            "henry",
            "not-an-email",
            "a long passphrase",
            "a long passphrase",
            "Enter a valid email address.",
        ),
        ("", "", "", "", "This field is required."),
    ] {
        let page = attempt(username, email, p1, p2).await;
        assert_eq!(page.status, 200, "{username}/{p1}");
        assert!(
            page.contains(message),
            "{username}/{p1}: expected {message:?}\n{}",
            page.body
        );
        assert!(
            page.contains("aria-invalid=\"true\""),
            "errors sit next to their field"
        );
    }
    let rows = app.pg.psql("SELECT count(*) FROM auth_user").unwrap();
    assert_eq!(rows.trim(), "1", "nothing was created");
    let ok = attempt(
        "henry",
        "henry@example.com",
        "a long passphrase",
        "a long passphrase",
    )
    .await;
    assert_eq!(ok.status, 302, "{}", ok.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_ends_every_other_session_everywhere() {
    let app = spawn_app(&[]).await;
    let mut peer = app.peer();
    create_user(&mut peer, "ivan", "ivan password 1", json!({}));
    let (here, there) = (app.browser(), app.browser());
    assert_eq!(here.log_in("ivan", "ivan password 1").await.status, 302);
    assert_eq!(there.log_in("ivan", "ivan password 1").await.status, 302);
    let django = peer.call(
        "login_session",
        json!({}),
        json!({"username": "ivan", "password": "ivan password 1"}),
    );
    let django_key = django["session_key"].as_str().unwrap().to_string();
    let key_before = session_key(&here);

    let form = "/accounts/password_change/";
    let wrong_old = here
        .submit(
            form,
            form,
            &[
                ("old_password", "nope"),
                ("new_password1", "ivan password 2"),
                ("new_password2", "ivan password 2"),
            ],
        )
        .await;
    assert!(
        wrong_old.contains("Your old password was entered incorrectly. Please enter it again.")
    );
    let changed = here
        .submit(
            form,
            form,
            &[
                ("old_password", "ivan password 1"),
                ("new_password1", "ivan password 2"),
                ("new_password2", "ivan password 2"),
            ],
        )
        .await;
    assert_eq!(changed.status, 302, "{}", changed.body);
    assert_eq!(changed.location(), "/accounts/password_change/done/");
    assert!(
        here.get("/accounts/password_change/done/")
            .await
            .contains("Your password was changed.")
    );
    // This browser stays logged in, under a new key; every other session is over, in Django too.
    assert_eq!(here.whoami().await.as_deref(), Some("ivan"));
    assert_ne!(session_key(&here), key_before);
    assert_eq!(
        django_user(&mut peer, &session_key(&here)).as_deref(),
        Some("ivan")
    );
    assert_eq!(there.whoami().await, None);
    assert_eq!(django_user(&mut peer, &django_key), None);
    assert!(
        peer.call(
            "authenticate",
            json!({}),
            json!({"username": "ivan", "password": "ivan password 2"})
        )
        .is_i64()
    );

    // A change made in Django ends the portal's session the same way.
    peer.call(
        "set_password",
        json!({}),
        json!({"username": "ivan", "password": "ivan password 3"}),
    );
    assert_eq!(here.whoami().await, None);
    let page = here.get(form).await;
    assert_eq!(page.status, 302, "login required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_page_lists_and_ends_sessions() {
    let app = spawn_app(&[]).await;
    let mut peer = app.peer();
    create_user(&mut peer, "judy", "judy password 1", json!({}));
    create_user(&mut peer, "mallory", "mallory password 1", json!({}));
    let mine = app.browser();
    let laptop = {
        let mut b = app.browser();
        b.client = reqwest::Client::builder()
            .cookie_provider(b.jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0")
            .build()
            .unwrap();
        b
    };
    mine.log_in("judy", "judy password 1").await;
    laptop.log_in("judy", "judy password 1").await;
    let django = peer.call(
        "login_session",
        json!({}),
        json!({"username": "judy", "password": "judy password 1"}),
    );
    let django_key = django["session_key"].as_str().unwrap().to_string();
    // Django's session joins the index the first time one of our services loads it.
    let visitor = app.browser();
    visitor.jar.add_cookie_str(
        &format!("sessionid={django_key}; Path=/"),
        &app.base.parse().unwrap(),
    );
    assert_eq!(visitor.whoami().await.as_deref(), Some("judy"));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let page = mine.get("/accounts/sessions/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body.matches("<tr id=\"session-").count(),
        3,
        "{}",
        page.body
    );
    assert!(page.contains("this browser"));
    assert!(page.contains("Firefox on Linux"));
    assert!(page.contains("127.0.0.1"));
    for key in [session_key(&mine), session_key(&laptop), django_key.clone()] {
        assert!(!page.contains(&key), "session keys are never shown");
    }
    // Log out the laptop by its id.
    let laptop_page = laptop.get("/accounts/sessions/").await;
    let marker = "<tr id=\"session-";
    let start = laptop_page.body.find("this browser").unwrap();
    let row_start = laptop_page.body[..start].rfind(marker).unwrap() + marker.len();
    let laptop_id = &laptop_page.body[row_start..row_start + 32];
    let ended = mine
        .submit(
            "/accounts/sessions/",
            &format!("/accounts/sessions/{laptop_id}/delete/"),
            &[],
        )
        .await;
    assert_eq!(ended.status, 302);
    assert!(
        mine.get("/accounts/sessions/")
            .await
            .contains("That session has been logged out.")
    );
    assert_eq!(laptop.whoami().await, None);
    // Another user cannot end judy's sessions by id.
    let mallory = app.browser();
    mallory.log_in("mallory", "mallory password 1").await;
    let mallory_form = mallory.get("/accounts/sessions/").await;
    let token = mallory_form.csrf_token();
    let mine_id = {
        let p = mine.get("/accounts/sessions/").await;
        let start = p.body.find("this browser").unwrap();
        let row_start = p.body[..start].rfind(marker).unwrap() + marker.len();
        p.body[row_start..row_start + 32].to_string()
    };
    let refused = mallory
        .post(
            &format!("/accounts/sessions/{mine_id}/delete/"),
            &[("csrfmiddlewaretoken", token.as_str())],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(mine.whoami().await.as_deref(), Some("judy"));
    // Log out all others: Django's session ends too, this one stays.
    let all = mine
        .submit(
            "/accounts/sessions/",
            "/accounts/sessions/delete_others/",
            &[],
        )
        .await;
    assert_eq!(all.status, 302);
    assert_eq!(django_user(&mut peer, &django_key), None);
    assert_eq!(mine.whoami().await.as_deref(), Some("judy"));
    let page = mine.get("/accounts/sessions/").await;
    assert_eq!(page.body.matches("<tr id=\"session-").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_end_and_the_login_page_says_why() {
    let app = spawn_app(&[("SESSION_IDLE_TIMEOUT", "2")]).await;
    let mut peer = app.peer();
    create_user(&mut peer, "kim", "kim password 1", json!({}));
    let browser = app.browser();
    browser.log_in("kim", "kim password 1").await;
    assert_eq!(browser.whoami().await.as_deref(), Some("kim"));
    let key = session_key(&browser);
    let data = peer.call("session_load", json!({}), json!({"session_key": key}))["data"].clone();
    assert!(data["last_activity"].is_i64(), "Horizon's stamp: {data}");
    assert_eq!(data["_django_rs_session"]["ip"], "127.0.0.1");
    // Activity keeps it alive...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(browser.whoami().await.as_deref(), Some("kim"));
    }
    // ...idleness ends it, everywhere.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(browser.whoami().await, None);
    assert_eq!(django_user(&mut peer, &key), None);
    let login = browser.get("/accounts/login/").await;
    assert!(
        login
            .contains("You were logged out after 2 seconds without activity. Please log in again."),
        "{}",
        login.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_400_and_outages_are_503() {
    let mut app = spawn_app(&[]).await;
    let browser = app.browser();
    let form = browser.get("/accounts/login/").await;
    let token = form.csrf_token();
    let huge = "x".repeat(100 * 1024);
    let oversized = browser
        .post(
            "/accounts/login/",
            &[
                ("csrfmiddlewaretoken", token.as_str()),
                ("username", huge.as_str()),
            ],
        )
        .await;
    assert_eq!(oversized.status, 400, "{}", oversized.body);
    assert!(oversized.contains("The form could not be read"));
    let long_name = "y".repeat(151);
    let too_long = browser
        .post(
            "/accounts/login/",
            &[
                ("csrfmiddlewaretoken", token.as_str()),
                ("username", long_name.as_str()),
                ("password", "x"),
            ],
        )
        .await;
    assert_eq!(too_long.status, 200);
    assert!(too_long.contains("Ensure this value has at most 150 characters (it has 151)."));
    // A session cookie no browser would keep: 400 with a message. Garbage of a plausible size is a
    // visitor, as in Django.
    for (value, status) in [("z".repeat(5000), 400), ("not-a-key-!!".to_string(), 200)] {
        let page = reqwest::Client::new()
            .get(format!("{}/", app.base))
            .header("Cookie", format!("sessionid={value}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), status);
        if status == 400 {
            assert!(
                page.text()
                    .await
                    .unwrap()
                    .contains("Please delete this site")
            );
        }
    }
    // APPEND_SLASH, as Django's CommonMiddleware: a page without its slash redirects, query kept; a
    // leading double slash cannot become a protocol-relative redirect; anything else is a 404 page.
    let slashless = browser
        .get("/accounts/login?next=/accounts/sessions/")
        .await;
    assert_eq!(slashless.status, 301);
    assert_eq!(
        slashless.location(),
        "/accounts/login/?next=/accounts/sessions/"
    );
    let unknown = browser.get("/nowhere").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.contains("Not Found"));
    let double = browser.get("//accounts/login").await;
    assert_eq!(
        double.status,
        404,
        "never a redirect to {:?}",
        double.location()
    );
    // A link whose uidb64 is not even UTF-8: the same "unsuccessful" page as any forged link.
    let bad_link = browser.get("/accounts/reset/%FF%FE/x/").await;
    assert_eq!(bad_link.status, 200);
    assert!(
        bad_link.contains("Password reset unsuccessful"),
        "{}",
        bad_link.body
    );

    // Redis down: the form itself needs no store, but logging in and every page of a signed-in user do.
    let mut peer = app.peer();
    create_user(&mut peer, "lee", "lee password 1", json!({}));
    let signed_in = app.browser();
    assert_eq!(signed_in.log_in("lee", "lee password 1").await.status, 302);
    app.redis.stop();
    let started = Instant::now();
    let down = signed_in.get("/").await;
    assert_eq!(down.status, 503);
    assert!(down.contains("Service unavailable"));
    assert_eq!(down.headers.get("retry-after").unwrap(), "5");
    assert!(started.elapsed() < Duration::from_secs(5));
    let down = browser.log_in("lee", "lee password 1").await;
    assert_eq!(down.status, 503, "{}", down.body);
    assert!(started.elapsed() < Duration::from_secs(10));
    app.redis.start_again().unwrap();
    // Redis restarted empty: the session is gone, so the user is simply logged out, without a restart.
    let mut back = signed_in.get("/").await;
    for _ in 0..20 {
        if back.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        back = signed_in.get("/").await;
    }
    assert_eq!(back.status, 200, "recovers on its own");
    assert!(back.contains("You are not logged in."));

    app.pg.stop();
    let down = browser.log_in("lee", "lee password 1").await;
    assert_eq!(down.status, 503, "{}", down.body);
    assert!(down.contains("Service unavailable"));
}

/// The `/accounts/reset/<uidb64>/<token>/` path in a reset mail.
fn reset_path(body: &str) -> String {
    let start = body.find("/accounts/reset/").expect("a reset link");
    let end = start
        + body[start..]
            .find(char::is_whitespace)
            .expect("end of link");
    body[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_mails_a_link_that_works_here_and_in_django() {
    let smtp = testkit::SmtpServer::start().expect("aiosmtpd");
    let port = smtp.port().to_string();
    let app = spawn_app(&[
        (
            "EMAIL_BACKEND",
            "django.core.mail.backends.smtp.EmailBackend",
        ),
        ("EMAIL_HOST", "127.0.0.1"),
        ("EMAIL_PORT", &port),
        ("DEFAULT_FROM_EMAIL", "portal@example.com"),
    ])
    .await;
    let mut peer = app.peer();
    create_user(
        &mut peer,
        "mia",
        "mia password 1",
        json!({"email": "mia@example.com"}),
    );
    create_user(
        &mut peer,
        "gone",
        "gone password 1",
        json!({"email": "mia@example.com", "is_active": false}),
    );
    let elsewhere = app.browser();
    assert_eq!(elsewhere.log_in("mia", "mia password 1").await.status, 302);

    // The same answer whether or not the address exists.
    let browser = app.browser();
    let form = "/accounts/password_reset/";
    for email in ["MIA@example.com", "nobody@example.com"] {
        let sent = browser.submit(form, form, &[("email", email)]).await;
        assert_eq!(sent.status, 302, "{email}");
        assert_eq!(sent.location(), "/accounts/password_reset/done/");
    }
    assert!(
        browser
            .get("/accounts/password_reset/done/")
            .await
            .contains("if an account exists with the email you entered")
    );
    let messages = smtp
        .wait_for_messages(1, Duration::from_secs(10))
        .expect("the reset mail");
    // One mail: the inactive user and the unknown address get none.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().unwrap().len(), 1);
    let mail = &messages[0];
    assert_eq!(mail.rcpt_tos, vec!["mia@example.com".to_string()]);
    assert_eq!(mail.from, "portal@example.com");
    let host = app.base.trim_start_matches("http://");
    assert_eq!(mail.subject, format!("Password reset on {host}"));
    let body = mail.body.clone().expect("a text body");
    assert!(
        body.contains(&format!("http://{host}/accounts/reset/")),
        "{body}"
    );
    assert!(body.contains("Your username, in case you’ve forgotten: mia"));
    let path = reset_path(&body);

    // Django accepts the portal's link as its own.
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (uidb64, token) = (parts[2], parts[3]);
    assert_eq!(
        peer.call(
            "password_reset_check",
            json!({}),
            json!({"uidb64": uidb64, "token": token})
        ),
        json!(true)
    );

    // The link: the token moves into the session and out of the address bar.
    let opened = browser.get(&path).await;
    assert_eq!(opened.status, 302);
    let set_password = format!("/accounts/reset/{uidb64}/set-password/");
    assert_eq!(opened.location(), set_password);
    let mismatch = browser
        .submit(
            &set_password,
            &set_password,
            &[
                ("new_password1", "mia password 2"),
                ("new_password2", "mia password 3"),
            ],
        )
        .await;
    assert!(mismatch.contains("The two password fields didn’t match."));
    let weak = browser
        .submit(
            &set_password,
            &set_password,
            &[("new_password1", "mia"), ("new_password2", "mia")],
        )
        .await;
    assert!(weak.contains("This password is too short."));
    let done = browser
        .submit(
            &set_password,
            &set_password,
            &[
                ("new_password1", "mia password 2"),
                ("new_password2", "mia password 2"),
            ],
        )
        .await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location(), "/accounts/reset/done/");
    assert!(
        browser
            .get("/accounts/reset/done/")
            .await
            .contains("Your password has been set.")
    );

    // The new password works, the old one and the old session do not, and the link is spent.
    assert_eq!(elsewhere.whoami().await, None);
    assert!(
        browser
            .log_in("mia", "mia password 1")
            .await
            .contains("Please enter a correct")
    );
    assert_eq!(browser.log_in("mia", "mia password 2").await.status, 302);
    let again = app.browser().get(&path).await;
    assert!(
        again.contains("Password reset unsuccessful"),
        "{}",
        again.body
    );
    assert_eq!(
        peer.call(
            "password_reset_check",
            json!({}),
            json!({"uidb64": uidb64, "token": token})
        ),
        json!(false)
    );

    // A link Django made works here.
    let django = peer.call("password_reset_link", json!({}), json!({"username": "mia"}));
    let django_path = format!(
        "/accounts/reset/{}/{}/",
        django["uidb64"].as_str().unwrap(),
        django["token"].as_str().unwrap()
    );
    let fresh = app.browser();
    let opened = fresh.get(&django_path).await;
    assert_eq!(opened.status, 302, "{}", opened.body);
    let set_password = opened.location().to_string();
    let done = fresh
        .submit(
            &set_password,
            &set_password,
            &[
                ("new_password1", "mia password 4"),
                ("new_password2", "mia password 4"),
            ],
        )
        .await;
    assert_eq!(done.status, 302);
    assert!(
        peer.call(
            "authenticate",
            json!({}),
            json!({"username": "mia", "password": "mia password 4"})
        )
        .is_i64()
    );
    // A forged token or uid: the same "unsuccessful" page.
    for bad in [
        format!(
            "/accounts/reset/{uidb64}/{}/",
            "1-".to_string() + &"0".repeat(20)
        ),
        "/accounts/reset/zzzz/abc-def/".to_string(),
        format!("/accounts/reset/{uidb64}/set-password/"),
    ] {
        let page = app.browser().get(&bad).await;
        assert_eq!(page.status, 200, "{bad}");
        assert!(page.contains("Password reset unsuccessful"), "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_request_ids() {
    let app = spawn_app(&[]).await;
    let mut peer = app.peer();
    create_user(&mut peer, "nia", "nia password 1", json!({}));
    let browser = app.browser();
    browser.log_in("nia", "wrong").await;
    browser.log_in("nia", "nia password 1").await;
    let home = browser
        .client
        .get(format!("{}/", app.base))
        .header("X-Request-Id", "edge-1234.abc")
        .send()
        .await
        .unwrap();
    assert_eq!(home.headers().get("x-request-id").unwrap(), "edge-1234.abc");
    let odd = browser
        .client
        .get(format!("{}/", app.base))
        .header("X-Request-Id", "has spaces\tand tabs")
        .send()
        .await
        .unwrap();
    let made = odd.headers().get("x-request-id").unwrap().to_str().unwrap();
    assert_eq!(
        made.len(),
        16,
        "a fresh id replaces a malformed one: {made}"
    );

    // A reset link's path holds a token: metrics (and logs) name the route pattern instead.
    browser.get("/accounts/reset/MQ/some-token/").await;
    let metrics = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "portal_http_requests_total{route=\"/accounts/login/\",method=\"GET\",status=\"200\"} 2",
        "portal_http_requests_total{route=\"/accounts/login/\",method=\"POST\",status=\"302\"} 1",
        "portal_http_requests_total{route=\"/accounts/login/\",method=\"POST\",status=\"200\"} 1",
        "portal_logins_total{outcome=\"invalid\"} 1",
        "portal_logins_total{outcome=\"success\"} 1",
        "portal_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/\"} 2",
        "route=\"/accounts/reset/{uidb64}/{token}/\"",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
    }
    assert!(!metrics.contains("some-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_upgrades_an_outdated_password_hash_as_django() {
    let app = spawn_app(&[(
        "PASSWORD_HASHERS",
        "django.contrib.auth.hashers.MD5PasswordHasher,django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    )])
    .await;
    // A Django whose preferred hasher is PBKDF2-SHA1 makes the user; the portal prefers MD5.
    let mut vars: Vec<(&str, &str)> = app.vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    vars.retain(|(k, _)| *k != "PASSWORD_HASHERS");
    vars.push((
        "PASSWORD_HASHERS",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    ));
    let mut old_django = app::oracle::Oracle::peer(&vars);
    create_user(&mut old_django, "omar", "omar password 1", json!({}));
    let stored = || {
        app.pg
            .psql("SELECT password FROM auth_user WHERE username = 'omar'")
            .unwrap()
    };
    assert!(stored().starts_with("pbkdf2_sha1$"), "{}", stored());
    let browser = app.browser();
    assert_eq!(browser.log_in("omar", "omar password 1").await.status, 302);
    assert!(
        stored().starts_with("md5$"),
        "re-hashed with the preferred hasher: {}",
        stored()
    );
    // The session's hash is the new password's: the login survives its own upgrade, here and in Django.
    assert_eq!(browser.whoami().await.as_deref(), Some("omar"));
    let mut peer = app.peer();
    assert_eq!(
        django_user(&mut peer, &session_key(&browser)).as_deref(),
        Some("omar")
    );
}
