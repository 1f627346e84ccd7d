//! Any Django user model (issue 16): the Django site, the portal and the api on a project whose
//! `AUTH_USER_MODEL` is its own, in both directions. Two models of the peer project (`tests/django/peer`):
//! - `emailusers.User`: `AbstractBaseUser` + `PermissionsMixin`, `USERNAME_FIELD = "email"`, a UUID key, no
//!   `username` or `first_name`, and a column with a database default;
//! - `bigusers.User`: `AbstractUser` with a `BigAutoField` key.
//!
//! Each story runs once per model. The stories of one model share a deployment (started by the first test
//! that needs it, stopped when the test binary exits), each on users of its own. The models need Django
//! 5.0 or later (`db_default`).

use std::sync::{Arc, Mutex, PoisonError};

use suite::{Client, SESSION_COOKIE_NAME, Seen, Stack, Value, json};

const PASSWORD: &str = "correct horse battery 1";
const MODEL_BACKEND: &str = "django.contrib.auth.backends.ModelBackend";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Model {
    EmailUuid,
    BigAuto,
}

impl Model {
    fn name(self) -> &'static str {
        match self {
            Model::EmailUuid => "email_uuid",
            Model::BigAuto => "big_auto",
        }
    }

    /// What the services are told: Django's setting, and the model's `USERNAME_FIELD`.
    fn settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Model::EmailUuid => &[
                ("AUTH_USER_MODEL", "emailusers.User"),
                ("AUTH_USER_USERNAME_FIELD", "email"),
            ],
            Model::BigAuto => &[("AUTH_USER_MODEL", "bigusers.User")],
        }
    }

    fn table(self) -> &'static str {
        match self {
            Model::EmailUuid => "emailusers_user",
            Model::BigAuto => "bigusers_user",
        }
    }

    /// The login (the `USERNAME_FIELD`'s value) of the user called `name`.
    fn login(self, name: &str) -> String {
        match self {
            Model::EmailUuid => format!("{name}@example.com"),
            Model::BigAuto => name.to_string(),
        }
    }

    /// The login field's label on the login forms (`capfirst(verbose_name)`).
    fn label(self) -> &'static str {
        match self {
            Model::EmailUuid => "Email address",
            Model::BigAuto => "Username",
        }
    }
}

/// Each model's deployment, for the exit handler to stop (statics are never dropped).
static STACKS: Mutex<[Option<Arc<Stack>>; 2]> = Mutex::new([None, None]);

unsafe extern "C" {
    /// C's `atexit`: runs when the test harness returns from `main`, after every test.
    safe fn atexit(handler: extern "C" fn()) -> std::ffi::c_int;
}

extern "C" fn stop_stacks() {
    let stacks = std::mem::take(&mut *STACKS.lock().unwrap_or_else(PoisonError::into_inner));
    drop(stacks);
}

/// The deployment of `model`, started by the first test that asks.
fn stack(model: Model) -> Arc<Stack> {
    let mut stacks = STACKS.lock().unwrap_or_else(PoisonError::into_inner);
    if stacks.iter().all(Option::is_none) {
        assert_eq!(atexit(stop_stacks), 0, "atexit");
    }
    stacks[model as usize]
        .get_or_insert_with(|| {
            Arc::new(Stack::start(
                &format!("user_models_{}", model.name()),
                model.settings(),
            ))
        })
        .clone()
}

/// A user of the model, made by Django; its login and pk (as Django's JSON has it).
fn user(stack: &Stack, model: Model, name: &str) -> (String, Value) {
    let login = model.login(name);
    let pk = stack.create_user_of_model(&login, PASSWORD, &format!("{name}@example.com"));
    (login, pk)
}

/// Each story as a test per model.
macro_rules! for_each_model {
    ($story:ident) => {
        mod $story {
            #[tokio::test]
            async fn email_uuid() {
                super::$story(super::Model::EmailUuid).await
            }

            #[tokio::test]
            async fn big_auto() {
                super::$story(super::Model::BigAuto).await
            }
        }
    };
}

for_each_model!(login_here_seen_there_logout_there_anonymous_here);
for_each_model!(a_password_change_anywhere_ends_the_other_sessions);
for_each_model!(reset_links_work_both_ways);
for_each_model!(createsuperuser_makes_a_user_djangos_admin_accepts);
for_each_model!(registration_on_the_portal_makes_a_user_django_logs_in);
for_each_model!(patch_me_changes_only_fields_the_model_has);
for_each_model!(portal_migrate_leaves_the_projects_tables_alone);
for_each_model!(a_user_id_of_the_wrong_shape_is_anonymous);

/// A Django login is seen by the api and the portal; a portal login (by the `USERNAME_FIELD`) by Django and
/// the api; a logout anywhere ends it everywhere. `/api/v1/me` shows the model's key and fields.
async fn login_here_seen_there_logout_there_anonymous_here(model: Model) {
    let stack = stack(model);
    let (login, pk) = user(&stack, model, "ann");

    let form = Client::new()
        .get(&stack.portal.url("/accounts/login/"))
        .await;
    assert!(
        form.body.contains(&format!(
            "<label for=\"id_username\">{}</label>",
            model.label()
        )),
        "{}",
        form.body
    );

    let on_django = Client::new();
    let signed_in = stack.django_log_in(&on_django, &login, PASSWORD).await;
    assert_eq!(signed_in.status, 302, "Django login: {}", signed_in.body);
    assert_eq!(stack.seen(&on_django).await, Seen::everywhere(&login));
    let me = on_django.get(&stack.api.url("/api/v1/me")).await.json();
    assert_eq!(me["id"], pk, "{me}");
    assert_eq!(me["username"], json!(login));
    match model {
        Model::EmailUuid => {
            let id = pk.as_str().expect("a UUID key is a string");
            assert_eq!(id.len(), 36, "hyphenated: {id}");
            assert_eq!(me["email"], json!(login));
            // AbstractBaseUser + PermissionsMixin: no first_name; last_name is the model's own.
            assert_eq!(me["first_name"], Value::Null);
            assert_eq!(me["last_name"], json!(""));
            assert_eq!(me["is_superuser"], json!(false));
        }
        Model::BigAuto => {
            assert!(pk.is_i64(), "{pk}");
            assert_eq!(me["email"], json!("ann@example.com"));
            assert_eq!(me["first_name"], json!(""));
        }
    }
    // Forward auth (issue 20) finds the model's own groups table (`<table>_groups`, its user column).
    stack.run_django(
        &[
            "shell",
            "-c",
            &format!(
                "from django.contrib.auth import get_user_model\n\
                 from django.contrib.auth.models import Group\n\
                 User = get_user_model()\n\
                 User.objects.get(**{{User.USERNAME_FIELD: {login:?}}}).groups.add(\
                 Group.objects.get_or_create(name='editors')[0])\n"
            ),
        ],
        "groups",
    );
    let verify = on_django.get(&stack.api.url("/auth/verify")).await;
    assert_eq!(verify.status, 200, "/auth/verify: {}", verify.body);
    let header = |name: &str| verify.headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("x-auth-request-user"), Some(login.as_str()));
    let id = pk.as_str().map_or_else(|| pk.to_string(), str::to_string);
    assert_eq!(header("x-auth-request-user-id"), Some(id.as_str()));
    assert_eq!(header("x-auth-request-groups"), Some("editors"));

    let logout = stack.portal_log_out(&on_django).await;
    assert_eq!(logout.status, 200, "the logged-out page: {}", logout.body);
    assert_eq!(stack.seen(&on_django).await, Seen::anonymous());

    for log_out_on in ["django", "api"] {
        let on_portal = Client::new();
        let signed_in = stack.portal_log_in(&on_portal, &login, PASSWORD).await;
        assert_eq!(signed_in.status, 302, "portal login: {}", signed_in.body);
        assert_eq!(stack.seen(&on_portal).await, Seen::everywhere(&login));
        let replay = Client::with_session_of(&on_portal);
        let logout = match log_out_on {
            "django" => stack.django_log_out(&on_portal).await,
            _ => stack.api_log_out(&on_portal).await,
        };
        assert!(
            [200, 204, 302].contains(&logout.status),
            "logout on {log_out_on}: {} {}",
            logout.status,
            logout.body
        );
        assert_eq!(
            stack.seen(&on_portal).await,
            Seen::anonymous(),
            "{log_out_on}"
        );
        assert_eq!(stack.seen(&replay).await, Seen::anonymous(), "{log_out_on}");
    }
}

/// A password change on the portal ends the user's Django session; one on Django ends the portal's.
async fn a_password_change_anywhere_ends_the_other_sessions(model: Model) {
    let stack = stack(model);
    let (login, _) = user(&stack, model, "bob");
    let second = "second horse battery 2";
    let third = "third horse battery 3";

    let a = Client::new();
    let b = Client::new();
    assert_eq!(stack.portal_log_in(&a, &login, PASSWORD).await.status, 302);
    assert_eq!(stack.django_log_in(&b, &login, PASSWORD).await.status, 302);
    let change = stack.change_password(&a, "portal", PASSWORD, second).await;
    assert_eq!(
        change.status, 302,
        "portal password change: {}",
        change.body
    );
    assert_eq!(stack.seen(&a).await, Seen::everywhere(&login));
    assert_eq!(stack.seen(&b).await, Seen::anonymous());

    assert_eq!(stack.django_log_in(&b, &login, second).await.status, 302);
    let change = stack.change_password(&b, "django", second, third).await;
    assert_eq!(
        change.status, 302,
        "Django password change: {}",
        change.body
    );
    assert_eq!(stack.seen(&b).await, Seen::everywhere(&login));
    assert_eq!(stack.seen(&a).await, Seen::anonymous());
    assert_eq!(stack.portal_log_in(&a, &login, third).await.status, 302);
    assert_eq!(stack.seen(&a).await, Seen::everywhere(&login));
}

/// A reset link Django mails (its `uidb64` is `str(pk)`, a UUID included) works on the portal, and the
/// portal's on Django; the mail goes to the model's `EMAIL_FIELD`.
async fn reset_links_work_both_ways(model: Model) {
    let stack = stack(model);
    let (login, _) = user(&stack, model, "gus");
    let address = "gus@example.com";
    let (second, third) = ("second horse battery 2", "third horse battery 3");

    let (_, set) = stack.reset_password("django", address, second).await;
    assert_eq!(set.status, 302, "{}", set.body);
    assert_eq!(set.location(), "/accounts/reset/done/");
    let fresh = Client::new();
    assert_eq!(
        stack.django_log_in(&fresh, &login, second).await.status,
        302
    );

    let (_, set) = stack.reset_password("portal", address, third).await;
    assert_eq!(set.status, 302, "{}", set.body);
    assert_eq!(
        stack.seen(&fresh).await,
        Seen::anonymous(),
        "the reset ended the other session"
    );
    let again = Client::new();
    assert_eq!(stack.portal_log_in(&again, &login, third).await.status, 302);
    assert_eq!(stack.seen(&again).await, Seen::everywhere(&login));
}

/// `portal createsuperuser --noinput` with the model's `USERNAME_FIELD` (`--email` for the email model)
/// makes a user that Django's admin lets in.
async fn createsuperuser_makes_a_user_djangos_admin_accepts(model: Model) {
    let stack = stack(model);
    let login = model.login("boss");
    let args: Vec<&str> = match model {
        Model::EmailUuid => vec!["createsuperuser", "--noinput", "--email", &login],
        Model::BigAuto => vec![
            "createsuperuser",
            "--noinput",
            "--username",
            &login,
            "--email",
            "boss@example.com",
        ],
    };
    let out = stack.run_portal(
        &args,
        &[("DJANGO_SUPERUSER_PASSWORD", PASSWORD)],
        &format!("portal-createsuperuser-{}", model.name()),
    );
    assert!(out.contains("Superuser created successfully."), "{out}");
    let client = Client::new();
    let signed_in = client
        .submit(
            &stack.django.url("/admin/login/?next=/admin/"),
            &[
                ("username", login.as_str()),
                ("password", PASSWORD),
                ("next", "/admin/"),
            ],
        )
        .await;
    assert_eq!(
        signed_in.status, 302,
        "Django's admin login: {}",
        signed_in.body
    );
    assert_eq!(signed_in.location(), "/admin/");
    let admin = client.get(&stack.django.url("/admin/")).await;
    assert_eq!(admin.status, 200);
    assert!(admin.body.contains("Site administration"), "{}", admin.body);
    assert_eq!(stack.seen(&client).await, Seen::everywhere(&login));
    let mut peer = stack.peer();
    assert_eq!(
        peer.call(
            "admin_login",
            json!({}),
            json!({"username": login, "password": PASSWORD})
        ),
        json!(true)
    );
}

/// The portal's registration form asks for the `USERNAME_FIELD` (an email address for the email model) and
/// fills the fields the model has (a UUID key made here); Django logs the new user in, and a second
/// registration with the same login (in another case) is refused.
async fn registration_on_the_portal_makes_a_user_django_logs_in(model: Model) {
    let stack = stack(model);
    let login = model.login("newbie");
    let client = Client::new();
    let form = client.get(&stack.portal.url("/accounts/register/")).await;
    assert!(
        form.body.contains(&format!(
            "<label for=\"id_username\">{}</label>",
            model.label()
        )),
        "{}",
        form.body
    );
    assert_eq!(
        form.body.contains("id=\"id_email\""),
        model == Model::BigAuto,
        "a separate email field only when the login is not the email"
    );
    let made = stack.portal_register(&client, &login, PASSWORD).await;
    assert_eq!(made.status, 302, "{}", made.body);
    let django = Client::new();
    assert_eq!(
        stack.django_log_in(&django, &login, PASSWORD).await.status,
        302
    );
    assert_eq!(stack.seen(&django).await, Seen::everywhere(&login));
    let me = django.get(&stack.api.url("/api/v1/me")).await.json();
    assert_eq!(me["email"], json!("newbie@example.com"), "{me}");
    if model == Model::EmailUuid {
        let row = stack
            .peer()
            .call("get_user_row", json!({}), json!({"pk": me["id"]}));
        // The column with a database default got it; the key is a UUID Django reads.
        assert_eq!(row["plan"], json!("free"), "{row}");
        assert_eq!(row["is_active"], json!(true), "{row}");
    }
    let again = stack
        .portal_register(&Client::new(), &login.to_uppercase(), PASSWORD)
        .await;
    assert_eq!(again.status, 200, "a second registration is refused");
    assert!(again.body.contains("already exists"), "{}", again.body);
}

/// `PATCH /api/v1/me` writes only the fields the model has (a `first_name` the email model lacks is
/// ignored, as Django REST framework ignores unknown fields), and Django reads what it wrote; an email that
/// is another user's login is DRF's uniqueness error, never a 500.
async fn patch_me_changes_only_fields_the_model_has(model: Model) {
    let stack = stack(model);
    let (login, pk) = user(&stack, model, "pat");
    user(&stack, model, "olga");
    let client = Client::new();
    assert_eq!(
        stack.django_log_in(&client, &login, PASSWORD).await.status,
        302
    );
    let token = client.csrf_cookie().expect("a csrftoken cookie");
    let patch = |body: Value| {
        client
            .http
            .patch(stack.api.url("/api/v1/me"))
            .header("X-CSRFToken", token.clone())
            .json(&body)
    };
    let changed = client
        .send(patch(json!({"first_name": "Pat", "last_name": "Doe"})))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let row = stack
        .peer()
        .call("get_user_row", json!({}), json!({"pk": pk}));
    assert_eq!(row["last_name"], json!("Doe"), "{row}");
    match model {
        Model::EmailUuid => {
            assert_eq!(changed.json()["first_name"], Value::Null);
            assert!(row.get("first_name").is_none(), "{row}");
        }
        Model::BigAuto => assert_eq!(row["first_name"], json!("Pat"), "{row}"),
    }
    // The other user's address (for the email model, the other user's login).
    let taken = client
        .send(patch(json!({"email": "olga@example.com"})))
        .await;
    match model {
        Model::EmailUuid => {
            assert_eq!(taken.status, 400, "{}", taken.body);
            assert_eq!(
                taken.json(),
                json!({"email": ["user with this email address already exists."]})
            );
            let blank = client.send(patch(json!({"email": ""}))).await;
            assert_eq!(blank.status, 400, "{}", blank.body);
            assert_eq!(
                blank.json(),
                json!({"email": ["This field may not be blank."]})
            );
        }
        // AbstractUser's email is not unique.
        Model::BigAuto => assert_eq!(taken.status, 200, "{}", taken.body),
    }
    assert_eq!(stack.seen(&client).await, Seen::everywhere(&login));
}

/// `pg_dump --schema-only` without the lines that differ between any two dumps.
fn schema(stack: &Stack, database: &str) -> String {
    stack
        .pg()
        .pg_dump(database, &["--schema-only", "--no-owner"])
        .expect("pg_dump")
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `portal migrate` creates only what Django's `auth` migrations create for a swapped user model (no user
/// table), says where the user table comes from, and leaves Django nothing to do whichever runs first; the
/// services refuse to start, naming the setting, while the user table is missing.
async fn portal_migrate_leaves_the_projects_tables_alone(model: Model) {
    let stack = stack(model);
    let name = model.name();
    // The deployment was migrated by Django, then by the portal: nothing to do for either.
    let out = stack.run_portal(&["migrate"], &[], &format!("portal-migrate-again-{name}"));
    assert!(out.contains("No migrations to apply."), "{out}");
    assert!(
        out.contains("the Django project's `manage.py migrate`"),
        "{out}"
    );
    assert_eq!(
        stack.peer().call("migrate_plan", json!({}), json!({})),
        json!([])
    );

    // A new database: the portal first.
    let fresh = format!("portal_first_{name}");
    let url = stack.pg().create_database(&fresh).expect("a database");
    let env = [("DATABASE_URL", url.as_str())];
    let out = stack.run_portal(&["migrate"], &env, &format!("portal-migrate-fresh-{name}"));
    assert!(out.contains("Applying auth.0001_initial... OK"), "{out}");
    let tables = stack
        .pg()
        .psql_in(
            &fresh,
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables \
             WHERE schemaname = 'public'",
        )
        .expect("psql");
    assert!(!tables.contains("auth_user"), "{tables}");
    assert!(!tables.contains(model.table()), "{tables}");
    assert!(
        tables.contains("auth_group") && tables.contains("django_session"),
        "{tables}"
    );

    // Before the project's migrate, the services stop at once, naming the setting.
    let refused = testkit::output_within(
        std::process::Command::new(suite::binary("api"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env_clear()
            .envs(stack.vars())
            .envs(env),
        std::time::Duration::from_secs(30),
    );
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(said.contains("AUTH_USER_MODEL"), "{said}");
    assert!(said.contains(model.table()), "{said}");

    // Then Django's: it applies the project's migrations only, and has nothing left to do.
    stack.run_django_with(
        &["migrate", "--noinput"],
        &env,
        &format!("django-migrate-fresh-{name}"),
    );
    assert_eq!(
        stack
            .peer_with(&env)
            .call("migrate_plan", json!({}), json!({})),
        json!([])
    );
    // The same schema as Django alone makes.
    let alone = format!("django_alone_{name}");
    let alone_url = stack.pg().create_database(&alone).expect("a database");
    stack.run_django_with(
        &["migrate", "--noinput"],
        &[("DATABASE_URL", alone_url.as_str())],
        &format!("django-migrate-alone-{name}"),
    );
    assert_eq!(schema(&stack, &fresh), schema(&stack, &alone));
}

/// `_auth_user_id` of the wrong shape for the key is anonymous on the portal and the api (Django itself
/// answers such a session with a 500: `to_python`'s `ValidationError` is not caught by `get_user`); a right
/// shape in another spelling (`pk.to_python` takes it) is the user, as in Django.
async fn a_user_id_of_the_wrong_shape_is_anonymous(model: Model) {
    let stack = stack(model);
    let (login, pk) = user(&stack, model, "wes");
    let hash = stack
        .peer()
        .call("session_auth_hash", json!({}), json!({"pk": pk}));
    let session_of = |user_id: &str| {
        let data = json!({
            "_auth_user_id": user_id,
            "_auth_user_backend": MODEL_BACKEND,
            "_auth_user_hash": hash,
        });
        stack
            .peer()
            .call("session_create", json!({}), json!({"data": data}))["session_key"]
            .as_str()
            .expect("a session key")
            .to_string()
    };
    let wrong: &[&str] = match model {
        Model::EmailUuid => &["42", "not-a-uuid", "", "0f0e2f3a-6c4b-4d2e-9a1b", "\u{0}"],
        Model::BigAuto => &["abc", "4.2", "", "99999999999999999999999", "0x10"],
    };
    for user_id in wrong {
        let key = session_of(user_id);
        let client = Client::new();
        let cookie = format!("{SESSION_COOKIE_NAME}={key}");
        let me = client
            .send(
                client
                    .http
                    .get(stack.api.url("/api/v1/me"))
                    .header("Cookie", &cookie),
            )
            .await;
        assert_eq!(me.status, 401, "{user_id:?}: {}", me.body);
        assert_eq!(
            me.json(),
            json!({"detail": "Authentication credentials were not provided."})
        );
        let home = client
            .send(
                client
                    .http
                    .get(stack.portal.url("/"))
                    .header("Cookie", &cookie),
            )
            .await;
        assert_eq!(home.status, 200, "{user_id:?}: {}", home.body);
        assert!(home.body.contains("id=\"anonymous\""), "{user_id:?}");
    }
    // Another spelling of the same key is the same user on all three, as `to_python` reads it.
    let other_spelling = match &pk {
        Value::String(uuid) => uuid.to_uppercase(),
        other => format!(" {other} "),
    };
    let key = session_of(&other_spelling);
    let client = Client::new();
    let cookie = format!("{SESSION_COOKIE_NAME}={key}");
    let me = client
        .send(
            client
                .http
                .get(stack.api.url("/api/v1/me"))
                .header("Cookie", &cookie),
        )
        .await;
    assert_eq!(me.status, 200, "{other_spelling:?}: {}", me.body);
    assert_eq!(me.json()["id"], pk);
    let django = client
        .send(
            client
                .http
                .get(stack.django.url("/whoami/"))
                .header("Cookie", &cookie),
        )
        .await;
    assert_eq!(django.json()["username"], json!(login), "{}", django.body);
}
