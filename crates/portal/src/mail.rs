//! Django's `EMAIL_BACKEND` for the portal's own mail (the password-reset link): the `console`, `file`
//! (`filebased`) and `smtp` backends of `django.core.mail.backends`, chosen and configured by environment
//! variables named after Django's `EMAIL_*` settings, with Django's defaults.
//!
//! `MailSettings::from_env()` reads the settings once at start-up; `Mailer::from_settings` builds the
//! backend; a handler calls `Mailer::send_in_background`, so a page never waits for an SMTP server (Django's
//! `send_mail` blocks the request instead). The message is what `django.core.mail.EmailMessage` makes of a
//! plain-text mail: `text/plain; charset=utf-8`, `7bit` for ASCII, `8bit` for other text, quoted-printable
//! when a line is longer than RFC 5322 allows, `Date` and `Message-ID` added.
//!
//! Nothing here logs a message's body (it holds a reset token), the SMTP password, or a recipient's
//! address: only the recipient's domain and the error. lettre's own `tracing` feature, which would log
//! every SMTP line, is deliberately off (see the root `Cargo.toml`).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use django_auth_core::settings::SettingsError;
use lettre::message::header::{self, ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncTransport, Tokio1Executor};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// `EMAIL_TIMEOUT` when unset. Django's default is `None` (wait forever); a background send that never
/// ends would hold its task and its SMTP connection for the life of the process, so we bound it.
pub const DEFAULT_EMAIL_TIMEOUT: Duration = Duration::from_secs(10);

/// How many messages are sent at once by `send_in_background`; the rest wait their turn. A burst of
/// password-reset requests would otherwise open as many SMTP connections at the same moment, which relays
/// throttle or refuse.
const MAX_CONCURRENT_SENDS: usize = 8;

/// `EMAIL_BACKEND`: which of Django's backends delivers the mail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailBackend {
    /// `django.core.mail.backends.console.EmailBackend`: each message on stdout, for development.
    Console,
    /// `django.core.mail.backends.filebased.EmailBackend`: each message in a new file in
    /// `EMAIL_FILE_PATH`.
    File,
    /// `django.core.mail.backends.smtp.EmailBackend`: delivered to `EMAIL_HOST:EMAIL_PORT`.
    Smtp,
}

impl EmailBackend {
    /// `console`, `file`, `smtp`, or Django's dotted path (`django.core.mail.backends.smtp.EmailBackend`).
    /// Other Django backends (`locmem`, `dummy`) have no meaning outside a Django process and are refused.
    pub fn parse(value: &str) -> Option<EmailBackend> {
        match value {
            "console" | "django.core.mail.backends.console.EmailBackend" => {
                Some(EmailBackend::Console)
            }
            "file" | "django.core.mail.backends.filebased.EmailBackend" => Some(EmailBackend::File),
            "smtp" | "django.core.mail.backends.smtp.EmailBackend" => Some(EmailBackend::Smtp),
            _ => None,
        }
    }
}

/// A setting that cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum MailSettingsError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    /// Django's own words (`smtp.EmailBackend.__init__` raises this `ValueError`).
    #[error(
        "EMAIL_USE_TLS/EMAIL_USE_SSL are mutually exclusive, so only set one of those settings to True."
    )]
    TlsAndSsl,
}

impl From<SettingsError> for MailSettingsError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Missing(name) => MailSettingsError::Missing(name),
            SettingsError::Invalid { name, reason } => MailSettingsError::Invalid { name, reason },
        }
    }
}

/// Django's `EMAIL_*` settings, typed. `Debug` shows whether `EMAIL_HOST_PASSWORD` is set, never its value.
#[derive(Clone)]
pub struct MailSettings {
    /// `EMAIL_BACKEND`, default `console`. (Django's default is `smtp`; ours never tries `localhost:25` on a
    /// machine that was not configured for mail, and prints the reset link where a developer sees it.)
    pub backend: EmailBackend,
    /// `EMAIL_HOST`, default `localhost`.
    pub host: String,
    /// `EMAIL_PORT`, default `25`.
    pub port: u16,
    /// `EMAIL_HOST_USER`, default empty.
    pub host_user: String,
    /// `EMAIL_HOST_PASSWORD`, default empty. As Django, the backend logs in only when both the user and the
    /// password are non-empty.
    pub host_password: String,
    /// `EMAIL_USE_TLS`: STARTTLS after connecting (required: a server that does not offer it is an error, as
    /// with smtplib's `starttls()`).
    pub use_tls: bool,
    /// `EMAIL_USE_SSL`: TLS from the first byte (SMTPS, usually port 465).
    pub use_ssl: bool,
    /// `EMAIL_TIMEOUT` in seconds, default `DEFAULT_EMAIL_TIMEOUT`. Django passes it to the socket (each
    /// connect, read and write); here it bounds the whole exchange, connect to `QUIT`, because lettre's
    /// async transport applies its own timeout only to connecting.
    pub timeout: Duration,
    /// `DEFAULT_FROM_EMAIL`, default `webmaster@localhost`; the `From` header and the envelope sender.
    pub default_from_email: String,
    /// `EMAIL_FILE_PATH`: the directory of the `file` backend, created if missing; required by it.
    pub file_path: Option<PathBuf>,
    /// `EMAIL_SSL_CAFILE` (not a Django setting; `cafile` of Python's `ssl.create_default_context`): a PEM
    /// file of the CAs to trust instead of the system's, for a relay with a private CA. Unset: the system's
    /// roots, as Django's `ssl.create_default_context()`.
    pub ssl_cafile: Option<PathBuf>,
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.host_password.is_empty() {
            ""
        } else {
            "********"
        };
        f.debug_struct("MailSettings")
            .field("backend", &self.backend)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("host_user", &self.host_user)
            .field("host_password", &password)
            .field("use_tls", &self.use_tls)
            .field("use_ssl", &self.use_ssl)
            .field("timeout", &self.timeout)
            .field("default_from_email", &self.default_from_email)
            .field("file_path", &self.file_path)
            .field("ssl_cafile", &self.ssl_cafile)
            .finish()
    }
}

impl MailSettings {
    /// The settings from the process environment.
    pub fn from_env() -> Result<MailSettings, MailSettingsError> {
        MailSettings::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings from `get` (a variable's value, or `None` when unset; an empty value counts as unset),
    /// checked as Django checks them when the backend is made.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<MailSettings, MailSettingsError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let backend = match get("EMAIL_BACKEND") {
            None => EmailBackend::Console,
            Some(v) => EmailBackend::parse(v.trim()).ok_or(MailSettingsError::Invalid {
                name: "EMAIL_BACKEND",
                reason: "expected console, file or smtp, or Django's dotted path \
                         (django.core.mail.backends.smtp.EmailBackend)"
                    .into(),
            })?,
        };
        let port = match get("EMAIL_PORT") {
            None => 25,
            Some(v) => v.trim().parse::<u16>().ok().filter(|p| *p != 0).ok_or(
                MailSettingsError::Invalid {
                    name: "EMAIL_PORT",
                    reason: "expected a port number from 1 to 65535".into(),
                },
            )?,
        };
        let use_tls = django_auth_core::settings::boolean_or(&get, "EMAIL_USE_TLS", false)?;
        let use_ssl = django_auth_core::settings::boolean_or(&get, "EMAIL_USE_SSL", false)?;
        if use_tls && use_ssl {
            return Err(MailSettingsError::TlsAndSsl);
        }
        // Client certificates are Django settings we do not implement; ignoring them would send without
        // the identity the relay expects, so say so at start-up.
        for name in ["EMAIL_SSL_CERTFILE", "EMAIL_SSL_KEYFILE"] {
            if get(name).is_some() {
                return Err(MailSettingsError::Invalid {
                    name,
                    reason: "client certificates are not supported".into(),
                });
            }
        }
        let default_from_email =
            get("DEFAULT_FROM_EMAIL").unwrap_or_else(|| "webmaster@localhost".into());
        if default_from_email.trim().parse::<Mailbox>().is_err() {
            return Err(MailSettingsError::Invalid {
                name: "DEFAULT_FROM_EMAIL",
                reason:
                    "expected an address (webmaster@example.com or Name <webmaster@example.com>)"
                        .into(),
            });
        }
        let file_path = get("EMAIL_FILE_PATH").map(PathBuf::from);
        if backend == EmailBackend::File && file_path.is_none() {
            return Err(MailSettingsError::Missing("EMAIL_FILE_PATH"));
        }
        Ok(MailSettings {
            backend,
            host: get("EMAIL_HOST")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|| "localhost".into()),
            port,
            host_user: get("EMAIL_HOST_USER").unwrap_or_default(),
            host_password: get("EMAIL_HOST_PASSWORD").unwrap_or_default(),
            use_tls,
            use_ssl,
            timeout: django_auth_core::settings::duration(
                &get,
                "EMAIL_TIMEOUT",
                DEFAULT_EMAIL_TIMEOUT.as_secs_f64(),
            )?,
            default_from_email: default_from_email.trim().to_string(),
            file_path,
            ssl_cafile: get("EMAIL_SSL_CAFILE").map(PathBuf::from),
        })
    }
}

/// One plain-text mail, as `django.core.mail.send_mail(subject, message, from_email=None,
/// recipient_list=[to])` takes it; the sender is `DEFAULT_FROM_EMAIL`.
#[derive(Clone)]
pub struct Message {
    /// The recipient: `user@example.com` or `Name <user@example.com>`.
    pub to: String,
    /// One line; a newline is refused (Django's `BadHeaderError`).
    pub subject: String,
    /// UTF-8 text.
    pub body: String,
}

/// `Debug` without the body (it holds a reset token) or the recipient's address.
impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("to_domain", &recipient_domain(&self.to))
            .field("subject", &self.subject)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// Why a message was not delivered. The text never holds the body, the password or the recipient's
/// address (an SMTP server's reply could echo the address; `send_in_background` masks it before logging).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Django's `BadHeaderError`: a header value with a newline would let the text inject headers.
    #[error("header values can't contain newlines (Django's BadHeaderError)")]
    BadHeader,
    /// The recipient, or `DEFAULT_FROM_EMAIL`, is not an address.
    #[error("invalid {0} address")]
    Address(&'static str),
    #[error("cannot build the message: {0}")]
    Build(#[source] lettre::error::Error),
    /// `EMAIL_SSL_CAFILE` cannot be read or holds no certificate.
    #[error("EMAIL_SSL_CAFILE {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    /// The TLS client could not be set up (at `Mailer::from_settings`).
    #[error("cannot set up TLS for EMAIL_HOST: {0}")]
    Tls(#[source] lettre::transport::smtp::Error),
    /// Python's `SMTPAuthenticationError`: the server refused `EMAIL_HOST_USER`/`EMAIL_HOST_PASSWORD`
    /// (reply 535, credentials invalid, or 534, mechanism too weak).
    #[error("the SMTP server refused EMAIL_HOST_USER/EMAIL_HOST_PASSWORD: {0}")]
    Authentication(#[source] lettre::transport::smtp::Error),
    /// Any other SMTP failure: connection refused, TLS (an untrusted certificate), a rejected sender or
    /// recipient, a server that does not offer STARTTLS under `EMAIL_USE_TLS`.
    #[error("SMTP: {0}")]
    Smtp(#[source] lettre::transport::smtp::Error),
    /// The exchange did not finish within `EMAIL_TIMEOUT` (Python's `socket.timeout`).
    #[error("SMTP: no answer within EMAIL_TIMEOUT ({} s)", .0.as_secs_f64())]
    Timeout(Duration),
    /// Writing to the console backend's stream failed.
    #[error("writing the message to the console: {0}")]
    Console(#[source] std::io::Error),
    /// Writing to `EMAIL_FILE_PATH` failed.
    #[error("{context} {}: {source}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MailError {
    fn from_smtp(e: lettre::transport::smtp::Error, timeout: Duration) -> MailError {
        match e.status().map(|code| code.to_string()).as_deref() {
            Some("535" | "534") => MailError::Authentication(e),
            _ if e.is_timeout() => MailError::Timeout(timeout),
            _ => MailError::Smtp(e),
        }
    }
}

enum Backend {
    /// Django's console backend writes to `sys.stdout` unless given a `stream`.
    Console(Mutex<Box<dyn Write + Send>>),
    File(PathBuf),
    /// A new connection per message (no pool), as Django's `send_mail` opens and closes one.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

struct Inner {
    backend: Backend,
    kind: EmailBackend,
    from: Mailbox,
    timeout: Duration,
    /// Failed sends, for `/metrics`: a background failure is otherwise only a log line.
    failures: AtomicU64,
    sending: Semaphore,
}

/// The configured backend: Django's `get_connection()` with the `EMAIL_*` settings. Cheap to clone (one
/// `Arc`); make one at start-up and share it.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("backend", &self.inner.kind)
            .field("from", &self.inner.from.to_string())
            .field("timeout", &self.inner.timeout)
            .field("failures", &self.failures())
            .finish()
    }
}

impl Mailer {
    /// The backend `settings.backend` names. The `file` backend creates `EMAIL_FILE_PATH` now, as Django's
    /// does in its constructor; the `smtp` backend reads `EMAIL_SSL_CAFILE` now. Nothing connects yet.
    pub fn from_settings(settings: &MailSettings) -> Result<Mailer, MailError> {
        Mailer::from_settings_with_stream(settings, Box::new(std::io::stdout()))
    }

    /// As `from_settings`, with the console backend writing to `stream` instead of stdout (Django's
    /// `console.EmailBackend(stream=...)`); the other backends ignore it.
    pub fn from_settings_with_stream(
        settings: &MailSettings,
        stream: Box<dyn Write + Send>,
    ) -> Result<Mailer, MailError> {
        let from: Mailbox = settings
            .default_from_email
            .parse()
            .map_err(|_| MailError::Address("DEFAULT_FROM_EMAIL"))?;
        let backend = match settings.backend {
            EmailBackend::Console => Backend::Console(Mutex::new(stream)),
            EmailBackend::File => {
                let dir = settings.file_path.clone().unwrap_or_default();
                let dir = std::path::absolute(&dir).map_err(|source| MailError::Io {
                    context: "EMAIL_FILE_PATH",
                    path: dir.clone(),
                    source,
                })?;
                create_dir(&dir)?;
                Backend::File(dir)
            }
            EmailBackend::Smtp => Backend::Smtp(smtp_transport(settings)?),
        };
        Ok(Mailer {
            inner: Arc::new(Inner {
                backend,
                kind: settings.backend,
                from,
                timeout: settings.timeout,
                failures: AtomicU64::new(0),
                sending: Semaphore::new(MAX_CONCURRENT_SENDS),
            }),
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> EmailBackend {
        self.inner.kind
    }

    /// How many sends have failed since start-up, through `send` or `send_in_background`.
    pub fn failures(&self) -> u64 {
        self.inner.failures.load(Ordering::Relaxed)
    }

    /// Delivers one message and waits for the outcome: Django's `send_mail(..., fail_silently=False)`.
    pub async fn send(&self, message: Message) -> Result<(), MailError> {
        let result = self.deliver(message).await;
        if result.is_err() {
            self.inner.failures.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Delivers one message on a Tokio task and returns at once, so a request handler never waits for the
    /// SMTP server. The outcome is logged (the recipient's domain and the error; never the address, the
    /// body or a credential) and a failure counted in `failures()`. At most eight sends run at a time, the
    /// rest wait their turn. `None` (and a logged, counted failure) outside a Tokio runtime; any actix-web handler is
    /// inside one. A message still queued when the process stops is lost, as with any in-memory queue.
    pub fn send_in_background(&self, message: Message) -> Option<JoinHandle<()>> {
        let domain = recipient_domain(&message.to);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.inner.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                recipient_domain = %domain,
                "mail not sent: send_in_background was called outside a Tokio runtime"
            );
            return None;
        };
        let mailer = self.clone();
        Some(runtime.spawn(async move {
            let to = message.to.clone();
            let result = match mailer.inner.sending.acquire().await {
                Ok(_permit) => mailer.send(message).await,
                // The semaphore is never closed; were it, sending without a permit is still right.
                Err(_) => mailer.send(message).await,
            };
            match result {
                Ok(()) => tracing::info!(
                    recipient_domain = %domain,
                    backend = ?mailer.inner.kind,
                    "mail sent"
                ),
                Err(e) => tracing::error!(
                    recipient_domain = %domain,
                    backend = ?mailer.inner.kind,
                    error = %masked(&e, &to),
                    "mail not sent"
                ),
            }
        }))
    }

    async fn deliver(&self, message: Message) -> Result<(), MailError> {
        let email = self.email(&message)?;
        match &self.inner.backend {
            Backend::Smtp(transport) => {
                // smtplib ends DATA with `.` on a line of its own after the message's last line; lettre
                // always writes `\r\n.\r\n`, which would add an empty line to every body that ends with
                // a newline (as rendered templates do). So the message's final CRLF is left to lettre.
                let raw = email.formatted();
                let data = raw.strip_suffix(b"\r\n").unwrap_or(&raw);
                let sending = transport.send_raw(email.envelope(), data);
                match tokio::time::timeout(self.inner.timeout, sending).await {
                    Err(_) => Err(MailError::Timeout(self.inner.timeout)),
                    Ok(Err(e)) => Err(MailError::from_smtp(e, self.inner.timeout)),
                    Ok(Ok(_response)) => Ok(()),
                }
            }
            Backend::Console(_) | Backend::File(_) => {
                let entry = django_log_entry(&email.formatted());
                let inner = Arc::clone(&self.inner);
                tokio::task::spawn_blocking(move || inner.write_entry(&entry))
                    .await
                    .map_err(|e| MailError::Console(std::io::Error::other(e.to_string())))?
            }
        }
    }

    /// What `EmailMessage.message()` builds for a plain-text mail: the same headers (`From`, `To`,
    /// `Subject`, `Date`, `Message-ID`, `MIME-Version`, `Content-Type`, `Content-Transfer-Encoding`).
    fn email(&self, message: &Message) -> Result<lettre::Message, MailError> {
        if message.subject.contains(['\r', '\n']) {
            return Err(MailError::BadHeader);
        }
        let to: Mailbox = message
            .to
            .trim()
            .parse()
            .map_err(|_| MailError::Address("recipient"))?;
        lettre::Message::builder()
            .from(self.inner.from.clone())
            .to(to)
            .subject(message.subject.as_str())
            .message_id(None)
            .header(header::MIME_VERSION_1_0)
            .header(ContentType::TEXT_PLAIN)
            .body(django_body(&message.body))
            .map_err(MailError::Build)
    }
}

impl Inner {
    fn write_entry(&self, entry: &[u8]) -> Result<(), MailError> {
        match &self.backend {
            Backend::Console(stream) => {
                let mut stream = stream.lock().unwrap_or_else(PoisonError::into_inner);
                stream
                    .write_all(entry)
                    .and_then(|()| stream.flush())
                    .map_err(MailError::Console)
            }
            Backend::File(dir) => write_new_file(dir, entry),
            Backend::Smtp(_) => Ok(()),
        }
    }
}

/// Django's `SafeMIMEText` for `utf-8`: the body as is, `7bit` when ASCII and `8bit` otherwise (readable on
/// the console, the reset link unbroken), quoted-printable only when a line is too long for either (Django's
/// `utf8_charset_qp` for lines over RFC 5322's 998 octets). Not lettre's own choice, which switches to
/// quoted-printable at 76 characters: the reset mail's first line and a link on a longer host are longer
/// than that, so every mail came out soft-wrapped, the link cut by `=` line breaks in the file and console
/// backends (the cross-service suite found it).
fn django_body(text: &str) -> Body {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let fits = crlf
        .split("\r\n")
        .all(|line| line.len() <= 998 && !line.contains(['\r', '\0']));
    if fits {
        let encoding = if crlf.is_ascii() {
            ContentTransferEncoding::SevenBit
        } else {
            ContentTransferEncoding::EightBit
        };
        // Valid as it is for that encoding: CRLF line endings, no line over 998 octets, no NUL.
        return Body::dangerous_pre_encoded(crlf.into_bytes(), encoding);
    }
    Body::new_with_encoding(text.to_string(), ContentTransferEncoding::QuotedPrintable)
        .unwrap_or_else(|_| Body::new(text.to_string()))
}

/// What Django's console and file backends write for one message: `message().as_bytes()` (with `\n`
/// line endings, Python's default policy, where SMTP gets `\r\n`), a newline, and a line of 79 `-`.
fn django_log_entry(formatted: &[u8]) -> Vec<u8> {
    let mut entry = Vec::with_capacity(formatted.len() + 81);
    let mut bytes = formatted.iter().peekable();
    while let Some(&b) = bytes.next() {
        if b == b'\r' && bytes.peek() == Some(&&b'\n') {
            continue;
        }
        entry.push(b);
    }
    entry.push(b'\n');
    entry.extend_from_slice(&[b'-'; 79]);
    entry.push(b'\n');
    entry
}

fn create_dir(dir: &Path) -> Result<(), MailError> {
    std::fs::create_dir_all(dir).map_err(|source| MailError::Io {
        context: "creating EMAIL_FILE_PATH",
        path: dir.to_path_buf(),
        source,
    })
}

/// The smtp backend: plain, STARTTLS (`EMAIL_USE_TLS`) or implicit TLS (`EMAIL_USE_SSL`) to
/// `EMAIL_HOST:EMAIL_PORT`, the certificate checked against `EMAIL_HOST` (a name or an IP address) and the
/// system's roots or `EMAIL_SSL_CAFILE`, logging in when both `EMAIL_HOST_USER` and `EMAIL_HOST_PASSWORD`
/// are set (Django's `if self.username and self.password: login()`).
fn smtp_transport(
    settings: &MailSettings,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let tls_parameters = || -> Result<TlsParameters, MailError> {
        let mut builder = TlsParameters::builder(settings.host.clone());
        if let Some(path) = &settings.ssl_cafile {
            let ca_error = |reason: String| MailError::CaFile {
                path: path.clone(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            let certificate = Certificate::from_pem(&pem).map_err(|e| ca_error(e.to_string()))?;
            builder = builder
                .certificate_store(CertificateStore::None)
                .add_root_certificate(certificate);
        }
        builder.build_rustls().map_err(MailError::Tls)
    };
    let tls = if settings.use_ssl {
        Tls::Wrapper(tls_parameters()?)
    } else if settings.use_tls {
        Tls::Required(tls_parameters()?)
    } else {
        Tls::None
    };
    // "dangerous" only means the builder starts without TLS; `tls` above sets what the settings ask.
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
        .port(settings.port)
        .tls(tls)
        .timeout(Some(settings.timeout));
    if !settings.host_user.is_empty() && !settings.host_password.is_empty() {
        builder = builder.credentials(Credentials::new(
            settings.host_user.clone(),
            settings.host_password.clone(),
        ));
    }
    Ok(builder.build())
}

/// A new file in `dir` named as Django's file backend names them, `%Y%m%d-%H%M%S-<id>.log` in local time.
/// Django's `<id>` is the backend object's `id()`, one file per connection; ours is random, one file per
/// message, and the file is created only if it does not exist, so no message is ever appended to another.
fn write_new_file(dir: &Path, entry: &[u8]) -> Result<(), MailError> {
    create_dir(dir)?;
    let id = getrandom::u64().map_err(|e| MailError::Io {
        context: "naming a file in",
        path: dir.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let name = format!(
        "{}-{}.log",
        chrono::Local::now().format("%Y%m%d-%H%M%S"),
        id
    );
    let path = dir.join(name);
    let io_error = |source| MailError::Io {
        context: "writing",
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io_error)?;
    file.write_all(entry).map_err(io_error)
}

/// The part of an address a log may name.
fn recipient_domain(to: &str) -> String {
    match to.trim().parse::<Mailbox>() {
        Ok(mailbox) => mailbox.email.domain().to_string(),
        Err(_) => "(invalid address)".into(),
    }
}

/// `error`'s text with the recipient's address masked (a server's `550 <user@example.com>: …` echoes it).
fn masked(error: &MailError, to: &str) -> String {
    let mut text = error.to_string();
    if let Ok(mailbox) = to.trim().parse::<Mailbox>() {
        text = text.replace(&mailbox.email.to_string(), "<recipient>");
    }
    let to = to.trim();
    if !to.is_empty() {
        text = text.replace(to, "<recipient>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_entry_has_django_line_endings_and_separator() {
        let entry = django_log_entry(b"Subject: a\r\n\r\nline 1\r\nline 2");
        assert_eq!(
            String::from_utf8(entry).unwrap(),
            format!("Subject: a\n\nline 1\nline 2\n{}\n", "-".repeat(79))
        );
    }

    #[test]
    fn body_encoding_follows_django() {
        assert_eq!(
            django_body("ascii").encoding(),
            ContentTransferEncoding::SevenBit
        );
        assert_eq!(
            django_body("héllo").encoding(),
            ContentTransferEncoding::EightBit
        );
        // A line longer than 76 characters, as the reset mail's first line and its link often are.
        let long_line = format!(
            "{}\nhttps://example.com/accounts/reset/MQ/x/\n",
            "é".repeat(90)
        );
        let body = django_body(&long_line);
        assert_eq!(body.encoding(), ContentTransferEncoding::EightBit);
        assert_eq!(
            body.into_vec(),
            long_line.replace('\n', "\r\n").into_bytes(),
            "the text as it is, in CRLF lines"
        );
        assert_eq!(
            django_body(&"x".repeat(1200)).encoding(),
            ContentTransferEncoding::QuotedPrintable
        );
    }

    #[test]
    fn masking_removes_the_address() {
        let e = MailError::Console(std::io::Error::other("550 <alice@example.com>: unknown"));
        assert_eq!(
            masked(&e, "Alice <alice@example.com>"),
            "writing the message to the console: 550 <<recipient>>: unknown"
        );
    }
}
