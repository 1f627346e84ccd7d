//! The portal's mail (Django's `EMAIL_BACKEND`) against a real SMTP server: aiosmtpd from the test kit,
//! plain, with STARTTLS and AUTH, and with implicit TLS. What arrives is read back by Python's own `email`
//! parser, so the subject, the sender and the UTF-8 body are checked as a mail client would show them. The
//! console backend is compared with Django's console backend writing the same mail; the file backend is read
//! back from disk. Failures (a wrong password, an untrusted certificate, a closed port, a server that never
//! answers) come back as typed errors within `EMAIL_TIMEOUT`, and the background sender logs them without
//! the body, the password or the address.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portal::mail::{
    DEFAULT_EMAIL_TIMEOUT, EmailBackend, MailError, MailSettings, MailSettingsError, Mailer,
    Message,
};
use testkit::{SmtpServer, SmtpTls};

const FROM: &str = "Portal <noreply@portal.example>";
const USER: &str = "portal";
const PASSWORD: &str = "smtp-pässword-42";

fn settings(pairs: &[(&str, &str)]) -> Result<MailSettings, MailSettingsError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    MailSettings::from_lookup(|name| map.get(name).cloned())
}

/// The smtp backend pointed at `server`, with `extra` settings on top.
fn smtp_settings(server: &SmtpServer, extra: &[(&str, &str)]) -> MailSettings {
    let port = server.port().to_string();
    let ca = server
        .ca_cert()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut pairs = vec![
        (
            "EMAIL_BACKEND",
            "django.core.mail.backends.smtp.EmailBackend",
        ),
        ("EMAIL_HOST", "127.0.0.1"),
        ("EMAIL_PORT", port.as_str()),
        ("DEFAULT_FROM_EMAIL", FROM),
        ("EMAIL_TIMEOUT", "5"),
    ];
    if !ca.is_empty() {
        pairs.push(("EMAIL_SSL_CAFILE", ca.as_str()));
    }
    pairs.extend_from_slice(extra);
    settings(&pairs).unwrap()
}

/// The password-reset mail as the pages will send it: non-ASCII in the name, the subject and the body,
/// and a reset link that must arrive unbroken.
fn reset_mail(to: &str) -> Message {
    Message {
        to: to.into(),
        subject: "Réinitialisation du mot de passe — portal.example".into(),
        body: "Bonjour Zoë,\n\nPour choisir un nouveau mot de passe, suivez ce lien :\n\
               https://portal.example/reset/MQ/cnv1aj-0123456789abcdef0123456789abcdef/\n\n\
               — L'équipe ✓ 日本語\n"
            .into(),
    }
}

/// A `Write` that tests can read back: the console backend's stream, and the log capture.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test]
async fn smtp_delivers_a_utf8_mail_to_a_real_server() {
    let server = SmtpServer::start().unwrap();
    let mailer = Mailer::from_settings(&smtp_settings(&server, &[])).unwrap();
    let mail = reset_mail("Zoë Martin <zoe@example.org>");

    mailer.send(mail.clone()).await.unwrap();

    let received = server.messages().unwrap();
    assert_eq!(received.len(), 1, "{}", server.log());
    let got = &received[0];
    assert_eq!(got.mail_from, "noreply@portal.example");
    assert_eq!(got.rcpt_tos, ["zoe@example.org"]);
    assert_eq!(got.from, FROM);
    assert_eq!(got.to, "Zoë Martin <zoe@example.org>");
    assert_eq!(got.subject, mail.subject);
    assert_eq!(got.content_type, "text/plain");
    assert_eq!(got.charset.as_deref(), Some("utf-8"));
    // 8bit as Django sends UTF-8 text: the link is not cut by quoted-printable soft line breaks.
    assert_eq!(got.transfer_encoding, "8bit");
    assert_eq!(got.body.as_deref(), Some(mail.body.as_str()));
    let raw = String::from_utf8_lossy(&got.data);
    assert!(
        raw.contains(
            "https://portal.example/reset/MQ/cnv1aj-0123456789abcdef0123456789abcdef/\r\n"
        ),
        "{raw}"
    );
    assert!(!got.tls && got.authenticated_as.is_none());
    assert_eq!(mailer.failures(), 0);
}

#[tokio::test]
async fn starttls_with_credentials_delivers_and_a_wrong_password_is_refused() {
    let server = SmtpServer::start_with(SmtpTls::StartTls, Some((USER, PASSWORD))).unwrap();
    let good = smtp_settings(
        &server,
        &[
            ("EMAIL_USE_TLS", "True"),
            ("EMAIL_HOST_USER", USER),
            ("EMAIL_HOST_PASSWORD", PASSWORD),
        ],
    );
    let mailer = Mailer::from_settings(&good).unwrap();
    mailer.send(reset_mail("zoe@example.org")).await.unwrap();
    let received = server.messages().unwrap();
    assert_eq!(received.len(), 1, "{}", server.log());
    assert!(received[0].tls, "delivered inside STARTTLS");
    assert_eq!(received[0].authenticated_as.as_deref(), Some(USER));

    let wrong = MailSettings {
        host_password: "not-the-password".into(),
        ..good.clone()
    };
    let mailer = Mailer::from_settings(&wrong).unwrap();
    let error = mailer
        .send(reset_mail("zoe@example.org"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, MailError::Authentication(_)),
        "{error:?}: {error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("EMAIL_HOST_USER/EMAIL_HOST_PASSWORD") && text.contains("535"),
        "{text}"
    );
    assert!(!text.contains("not-the-password"), "{text}");
    assert_eq!(mailer.failures(), 1);
    assert_eq!(
        server.messages().unwrap().len(),
        1,
        "nothing more delivered"
    );

    // No credentials at all: the server requires AUTH before MAIL.
    let anonymous = MailSettings {
        host_user: String::new(),
        host_password: String::new(),
        ..good
    };
    let error = Mailer::from_settings(&anonymous)
        .unwrap()
        .send(reset_mail("zoe@example.org"))
        .await
        .unwrap_err();
    assert!(matches!(error, MailError::Smtp(_)), "{error:?}");
    assert!(error.to_string().contains("530"), "{error}");
}

#[tokio::test]
async fn starttls_checks_the_certificate_and_is_never_skipped() {
    let server = SmtpServer::start_tls().unwrap();
    let with_ca = smtp_settings(&server, &[("EMAIL_USE_TLS", "true")]);

    // The system's roots do not know the throwaway CA: the handshake fails, nothing is sent in clear.
    let system_roots = MailSettings {
        ssl_cafile: None,
        ..with_ca.clone()
    };
    let error = Mailer::from_settings(&system_roots)
        .unwrap()
        .send(reset_mail("zoe@example.org"))
        .await
        .unwrap_err();
    assert!(matches!(error, MailError::Smtp(_)), "{error:?}");
    assert!(error.to_string().contains("certificate"), "{error}");

    // Without EMAIL_USE_TLS the server, which requires STARTTLS, refuses the mail.
    let plain = MailSettings {
        use_tls: false,
        ..with_ca.clone()
    };
    let error = Mailer::from_settings(&plain)
        .unwrap()
        .send(reset_mail("zoe@example.org"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("STARTTLS"), "{error}");
    assert!(server.messages().unwrap().is_empty());

    // EMAIL_USE_TLS against a server that does not offer STARTTLS is an error, as smtplib's starttls().
    let plain_server = SmtpServer::start().unwrap();
    let error = Mailer::from_settings(&smtp_settings(
        &plain_server,
        &[
            ("EMAIL_USE_TLS", "true"),
            (
                "EMAIL_SSL_CAFILE",
                &server.ca_cert().unwrap().display().to_string(),
            ),
        ],
    ))
    .unwrap()
    .send(reset_mail("zoe@example.org"))
    .await
    .unwrap_err();
    assert!(matches!(error, MailError::Smtp(_)), "{error:?}");
    assert!(plain_server.messages().unwrap().is_empty());

    // With the CA it goes through.
    Mailer::from_settings(&with_ca)
        .unwrap()
        .send(reset_mail("zoe@example.org"))
        .await
        .unwrap();
    assert!(server.messages().unwrap()[0].tls);
}

#[tokio::test]
async fn implicit_tls_with_credentials_delivers() {
    let server = SmtpServer::start_with(SmtpTls::Implicit, Some((USER, PASSWORD))).unwrap();
    let mailer = Mailer::from_settings(&smtp_settings(
        &server,
        &[
            ("EMAIL_USE_SSL", "1"),
            ("EMAIL_HOST_USER", USER),
            ("EMAIL_HOST_PASSWORD", PASSWORD),
        ],
    ))
    .unwrap();
    mailer.send(reset_mail("zoe@example.org")).await.unwrap();
    let received = server.messages().unwrap();
    assert_eq!(received.len(), 1, "{}", server.log());
    assert!(received[0].tls);
    assert_eq!(received[0].authenticated_as.as_deref(), Some(USER));
    assert_eq!(
        received[0].body.as_deref(),
        Some(reset_mail("").body.as_str())
    );
}

#[tokio::test]
async fn a_closed_port_fails_at_once() {
    let port = testkit::free_port().unwrap().to_string();
    let mailer = Mailer::from_settings(
        &settings(&[
            ("EMAIL_BACKEND", "smtp"),
            ("EMAIL_HOST", "127.0.0.1"),
            ("EMAIL_PORT", &port),
            ("EMAIL_TIMEOUT", "2"),
        ])
        .unwrap(),
    )
    .unwrap();
    let start = Instant::now();
    let error = mailer
        .send(reset_mail("zoe@example.org"))
        .await
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(error, MailError::Smtp(_)), "{error:?}");
    assert!(error.to_string().contains("Connection"), "{error}");
    assert_eq!(mailer.failures(), 1);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // Accepts connections (the kernel completes the handshake) and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    let mailer = Mailer::from_settings(
        &settings(&[
            ("EMAIL_BACKEND", "smtp"),
            ("EMAIL_HOST", "127.0.0.1"),
            ("EMAIL_PORT", &port),
            ("EMAIL_TIMEOUT", "1"),
        ])
        .unwrap(),
    )
    .unwrap();
    let start = Instant::now();
    let error = mailer
        .send(reset_mail("zoe@example.org"))
        .await
        .unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert!(
        matches!(error, MailError::Timeout(t) if t == Duration::from_secs(1)),
        "{error:?}"
    );
    assert!(error.to_string().contains("EMAIL_TIMEOUT"), "{error}");
}

#[tokio::test]
async fn in_the_background_success_and_failure_are_logged_without_secrets() {
    let logs = Shared::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // A current-thread runtime: the spawned send runs on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = SmtpServer::start_with(SmtpTls::StartTls, Some((USER, PASSWORD))).unwrap();
    let good = smtp_settings(
        &server,
        &[
            ("EMAIL_USE_TLS", "true"),
            ("EMAIL_HOST_USER", USER),
            ("EMAIL_HOST_PASSWORD", PASSWORD),
        ],
    );
    let mail = reset_mail("Victim User <victim.user@example.net>");

    let mailer = Mailer::from_settings(&good).unwrap();
    mailer
        .send_in_background(mail.clone())
        .expect("inside a runtime")
        .await
        .unwrap();
    assert_eq!(server.messages().unwrap().len(), 1, "{}", server.log());
    assert_eq!(mailer.failures(), 0);

    let wrong = Mailer::from_settings(&MailSettings {
        host_password: "wrong-password".into(),
        ..good.clone()
    })
    .unwrap();
    wrong
        .send_in_background(mail.clone())
        .expect("inside a runtime")
        .await
        .unwrap();
    assert_eq!(wrong.failures(), 1);
    assert_eq!(server.messages().unwrap().len(), 1);

    let log = logs.text();
    assert!(log.contains("mail sent"), "{log}");
    assert!(
        log.contains("mail not sent") && log.contains("535"),
        "{log}"
    );
    assert_eq!(
        log.matches("recipient_domain=example.net").count(),
        2,
        "{log}"
    );
    for secret in [
        "victim.user",
        "Victim",
        "cnv1aj",
        "Bonjour",
        PASSWORD,
        "wrong-password",
    ] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    // Nor in the Debug output of the settings, the mailer or the message.
    let debug = format!("{good:?} {mailer:?} {mail:?}");
    for secret in ["victim.user", "cnv1aj", PASSWORD] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(debug.contains("host_password: \"********\""), "{debug}");
}

/// Django's console backend writing the same mail, for comparison.
fn django_console_output(subject: &str, body: &str, to: &str) -> String {
    let python = testkit::django::python();
    let script = r#"
import sys
from django.conf import settings
settings.configure(EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
                   DEFAULT_FROM_EMAIL=sys.argv[4])
from django.core.mail import send_mail
send_mail(sys.argv[1], sys.argv[2], None, [sys.argv[3]])
"#;
    let out = Command::new(&python)
        .args(["-c", script, subject, body, to, FROM])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The header names of a printed message, sorted, and what follows the blank line.
fn headers_and_rest(printed: &str) -> (Vec<String>, String) {
    let (head, rest) = printed.split_once("\n\n").unwrap();
    let mut names: Vec<String> = head
        .lines()
        .filter(|l| !l.starts_with([' ', '\t']))
        .map(|l| l.split_once(':').unwrap().0.to_ascii_lowercase())
        .collect();
    names.sort();
    (names, rest.to_string())
}

#[tokio::test]
async fn console_backend_prints_what_djangos_prints() {
    let stream = Shared::default();
    let mailer = Mailer::from_settings_with_stream(
        &settings(&[("DEFAULT_FROM_EMAIL", FROM)]).unwrap(),
        Box::new(stream.clone()),
    )
    .unwrap();
    assert_eq!(mailer.backend(), EmailBackend::Console, "the default");
    let mail = reset_mail("zoe@example.org");
    mailer.send(mail.clone()).await.unwrap();
    let ours = stream.text();

    let django = django_console_output(&mail.subject, &mail.body, &mail.to);
    let separator = format!("\n{}\n", "-".repeat(79));
    assert!(ours.ends_with(&separator), "{ours}");
    assert!(django.ends_with(&separator), "{django}");
    let (our_headers, our_rest) = headers_and_rest(&ours);
    let (django_headers, _) = headers_and_rest(&django);
    assert_eq!(our_headers, django_headers, "{ours}\n{django}");
    // Ours printed as is (8bit UTF-8, `\n` line endings), then the separator, as Django 5.2 prints it;
    // Django 6.0 quoted-prints a body with a line over 78 characters (Python's modern email API). A
    // reader shows the same text.
    assert_eq!(our_rest, format!("{}{separator}", mail.body));
    let shown = |printed: &str| testkit::django::mail_body(&printed.replace(&separator, "\n"));
    assert_eq!(shown(&ours), shown(&django), "{django}");
    assert!(ours.contains("Content-Transfer-Encoding: 8bit\n"), "{ours}");
    assert!(
        ours.contains("From: Portal <noreply@portal.example>\n"),
        "{ours}"
    );
    assert!(!ours.contains('\r'));
}

#[tokio::test]
async fn file_backend_writes_one_file_per_message_named_as_djangos() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sent/mail");
    let dir_text = dir.display().to_string();
    let mailer = Mailer::from_settings(
        &settings(&[
            (
                "EMAIL_BACKEND",
                "django.core.mail.backends.filebased.EmailBackend",
            ),
            ("EMAIL_FILE_PATH", &dir_text),
            ("DEFAULT_FROM_EMAIL", FROM),
        ])
        .unwrap(),
    )
    .unwrap();
    assert!(
        dir.is_dir(),
        "created when the backend is made, as Django's"
    );

    let first = reset_mail("zoe@example.org");
    let second = Message {
        to: "ana@example.com".into(),
        subject: "Second".into(),
        body: "plain ASCII\n".into(),
    };
    mailer.send(first.clone()).await.unwrap();
    mailer.send(second.clone()).await.unwrap();

    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let mut contents = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        // %Y%m%d-%H%M%S-<id>.log
        let parts: Vec<&str> = name.trim_end_matches(".log").split('-').collect();
        assert!(name.ends_with(".log"), "{name}");
        assert_eq!(parts.len(), 3, "{name}");
        assert_eq!(parts[0].len(), 8, "{name}");
        assert_eq!(parts[1].len(), 6, "{name}");
        assert!(
            parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())),
            "{name}"
        );
        contents.push(std::fs::read_to_string(file).unwrap());
    }
    let separator = format!("\n{}\n", "-".repeat(79));
    for (mail, encoding) in [(&first, "8bit"), (&second, "7bit")] {
        let text = contents
            .iter()
            .find(|c| c.contains(&format!("To: {}\n", mail.to)))
            .unwrap_or_else(|| panic!("no file for {}: {contents:?}", mail.to));
        assert!(
            text.ends_with(&format!("\n\n{}{separator}", mail.body)),
            "{text}"
        );
        assert!(
            text.contains(&format!("Content-Transfer-Encoding: {encoding}\n")),
            "{text}"
        );
        assert_eq!(text.matches(&separator).count(), 1, "one message per file");
    }
}

#[tokio::test]
async fn messages_that_django_would_refuse_are_refused() {
    let stream = Shared::default();
    let mailer =
        Mailer::from_settings_with_stream(&settings(&[]).unwrap(), Box::new(stream.clone()))
            .unwrap();
    let mut mail = reset_mail("zoe@example.org");
    mail.subject = "Hello\nBcc: everyone@example.com".into();
    let error = mailer.send(mail).await.unwrap_err();
    assert!(matches!(error, MailError::BadHeader), "{error:?}");

    let error = mailer.send(reset_mail("not an address")).await.unwrap_err();
    assert!(
        matches!(error, MailError::Address("recipient")),
        "{error:?}"
    );
    assert!(stream.text().is_empty(), "nothing written");
    assert_eq!(mailer.failures(), 2);
}

#[test]
fn settings_default_as_django_and_accept_its_dotted_paths() {
    let defaults = settings(&[]).unwrap();
    assert_eq!(defaults.backend, EmailBackend::Console);
    assert_eq!(defaults.host, "localhost");
    assert_eq!(defaults.port, 25);
    assert_eq!(defaults.host_user, "");
    assert_eq!(defaults.host_password, "");
    assert!(!defaults.use_tls && !defaults.use_ssl);
    assert_eq!(defaults.timeout, DEFAULT_EMAIL_TIMEOUT);
    assert_eq!(defaults.timeout, Duration::from_secs(10));
    assert_eq!(defaults.default_from_email, "webmaster@localhost");
    assert_eq!(defaults.file_path, None);
    assert_eq!(defaults.ssl_cafile, None);
    assert!(format!("{defaults:?}").contains("host_password: \"\""));

    for (value, backend) in [
        ("console", EmailBackend::Console),
        (
            "django.core.mail.backends.console.EmailBackend",
            EmailBackend::Console,
        ),
        ("smtp", EmailBackend::Smtp),
        (
            "django.core.mail.backends.smtp.EmailBackend",
            EmailBackend::Smtp,
        ),
    ] {
        assert_eq!(
            settings(&[("EMAIL_BACKEND", value)]).unwrap().backend,
            backend,
            "{value}"
        );
    }
    let file = settings(&[
        (
            "EMAIL_BACKEND",
            "django.core.mail.backends.filebased.EmailBackend",
        ),
        ("EMAIL_FILE_PATH", "/tmp/mail"),
    ])
    .unwrap();
    assert_eq!(file.backend, EmailBackend::File);
    assert_eq!(file.file_path, Some(PathBuf::from("/tmp/mail")));

    let full = settings(&[
        ("EMAIL_BACKEND", "smtp"),
        ("EMAIL_HOST", "smtp.example.com"),
        ("EMAIL_PORT", "587"),
        ("EMAIL_HOST_USER", "apikey"),
        ("EMAIL_HOST_PASSWORD", "s3cret"),
        ("EMAIL_USE_TLS", "True"),
        ("EMAIL_TIMEOUT", "2.5"),
        ("EMAIL_SSL_CAFILE", "/etc/ssl/private-ca.pem"),
    ])
    .unwrap();
    assert_eq!(
        (full.host.as_str(), full.port, full.use_tls, full.timeout),
        ("smtp.example.com", 587, true, Duration::from_millis(2500))
    );
    assert_eq!(
        full.ssl_cafile,
        Some(PathBuf::from("/etc/ssl/private-ca.pem"))
    );
    assert!(!format!("{full:?}").contains("s3cret"));
}

#[test]
fn settings_errors_name_the_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("EMAIL_BACKEND", "locmem")], "EMAIL_BACKEND"),
        (
            &[(
                "EMAIL_BACKEND",
                "django.core.mail.backends.locmem.EmailBackend",
            )],
            "EMAIL_BACKEND",
        ),
        (&[("EMAIL_PORT", "smtp")], "EMAIL_PORT"),
        (&[("EMAIL_PORT", "0")], "EMAIL_PORT"),
        (&[("EMAIL_PORT", "70000")], "EMAIL_PORT"),
        (&[("EMAIL_USE_TLS", "maybe")], "EMAIL_USE_TLS"),
        (&[("EMAIL_USE_SSL", "2")], "EMAIL_USE_SSL"),
        (
            &[("EMAIL_USE_TLS", "true"), ("EMAIL_USE_SSL", "true")],
            "EMAIL_USE_TLS/EMAIL_USE_SSL are mutually exclusive",
        ),
        (&[("EMAIL_TIMEOUT", "soon")], "EMAIL_TIMEOUT"),
        (&[("EMAIL_TIMEOUT", "-1")], "EMAIL_TIMEOUT"),
        (&[("EMAIL_BACKEND", "file")], "EMAIL_FILE_PATH is required"),
        (
            &[("DEFAULT_FROM_EMAIL", "not an address")],
            "DEFAULT_FROM_EMAIL",
        ),
        (
            &[("EMAIL_SSL_CERTFILE", "/client.pem")],
            "EMAIL_SSL_CERTFILE",
        ),
        (&[("EMAIL_SSL_KEYFILE", "/client.key")], "EMAIL_SSL_KEYFILE"),
    ];
    for (pairs, expected) in cases {
        let error = settings(pairs).unwrap_err().to_string();
        assert!(error.contains(expected), "{pairs:?}: {error}");
    }
    assert!(matches!(
        settings(&[("EMAIL_USE_TLS", "1"), ("EMAIL_USE_SSL", "yes")]),
        Err(MailSettingsError::TlsAndSsl)
    ));
}

#[test]
fn an_unreadable_ca_file_is_an_error_at_start_up() {
    let error = Mailer::from_settings(
        &settings(&[
            ("EMAIL_BACKEND", "smtp"),
            ("EMAIL_USE_TLS", "true"),
            ("EMAIL_SSL_CAFILE", "/nonexistent/ca.pem"),
        ])
        .unwrap(),
    )
    .unwrap_err();
    assert!(matches!(error, MailError::CaFile { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("EMAIL_SSL_CAFILE /nonexistent/ca.pem"),
        "{error}"
    );
}
