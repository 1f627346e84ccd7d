//! A real SMTP server for the mail tests: aiosmtpd, run by the pinned Django 6.1 venv's Python with
//! `smtp_sink.py` (beside this crate's `Cargo.toml`), on a free loopback port, keeping every message it
//! accepts as files in its temporary directory.
//!
//! aiosmtpd rather than a hand-written fake: it is a maintained, RFC 5321 server (EHLO extensions, 8BITMIME,
//! STARTTLS, AUTH PLAIN/LOGIN with `auth_require_tls`), so a client that passes against it speaks SMTP, not
//! our idea of it. The venv comes from `tests/django/setup-venvs.sh` (`aiosmtpd` is pinned in
//! `tests/django/requirements-6.1.txt` and `-5.2.txt`, the venvs of the full runs); `DJANGO_PYTHON` points elsewhere, as for the Django oracle.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{KitError, Process, Result, io, make_certificates};

/// How the server protects a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP; no STARTTLS offered.
    None,
    /// STARTTLS offered and required before `MAIL` (Django's `EMAIL_USE_TLS`).
    StartTls,
    /// TLS from the first byte, SMTPS (Django's `EMAIL_USE_SSL`).
    Implicit,
}

/// One message as the server received it.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct ReceivedMessage {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`).
    pub rcpt_tos: Vec<String>,
    /// Whether the session was encrypted (STARTTLS or implicit TLS) when `DATA` arrived.
    pub tls: bool,
    /// The user that authenticated with `AUTH`, if any.
    pub authenticated_as: Option<String>,
    /// The headers and body as Python's `email` parser (`policy.default`) decodes them: RFC 2047 words
    /// and the transfer encoding undone, so a test reads what a mail client shows.
    pub subject: String,
    pub from: String,
    pub to: String,
    pub content_type: String,
    pub charset: Option<String>,
    /// The `Content-Transfer-Encoding` header as sent (`7bit`, `8bit`, `quoted-printable`, …).
    pub transfer_encoding: String,
    /// The decoded text of a single-part message, with `\n` line endings; `None` for a multipart one.
    pub body: Option<String>,
    /// The raw bytes of `DATA`, exactly as received.
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// aiosmtpd on 127.0.0.1, in a temporary directory; stopped and removed on drop.
pub struct SmtpServer {
    process: Process,
    /// With TLS only: the PEM of the throwaway CA that signed the server's certificate.
    ca_cert: Option<PathBuf>,
}

/// The interpreter with aiosmtpd: `DJANGO_PYTHON`, else the workspace's `.venv/django-6.1/bin/python`.
fn python() -> Result<PathBuf> {
    let python = crate::django::python();
    if python.exists() {
        return Ok(python);
    }
    Err(KitError::Missing {
        what: python.display().to_string(),
        hint: "run tests/django/setup-venvs.sh (or `make venvs`), or point DJANGO_PYTHON at a Python \
               with the pinned aiosmtpd",
    })
}

impl SmtpServer {
    /// Plain SMTP, no authentication: accepts every message.
    pub fn start() -> Result<SmtpServer> {
        SmtpServer::start_with(SmtpTls::None, None)
    }

    /// STARTTLS required before `MAIL`, with a certificate for `127.0.0.1` from a throwaway CA
    /// (`ca_cert()`); no authentication.
    pub fn start_tls() -> Result<SmtpServer> {
        SmtpServer::start_with(SmtpTls::StartTls, None)
    }

    /// A server with the given TLS mode; with `credentials` (user, password) `AUTH` is required before
    /// `MAIL`, and with STARTTLS it is offered only once the session is encrypted (aiosmtpd's
    /// `auth_require_tls`). A wrong password is answered `535 5.7.8 Authentication credentials invalid`.
    pub fn start_with(tls: SmtpTls, credentials: Option<(&str, &str)>) -> Result<SmtpServer> {
        let python = python()?;
        let mut process = Process::new("smtp-sink")?;
        let dir = process.dir.path().to_path_buf();
        let maildir = dir.join("mail");
        fs::create_dir(&maildir).map_err(io("creating the mail directory"))?;
        let mut cmd = Command::new(python);
        cmd.arg("-u")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("smtp_sink.py"))
            .args(["--port", &process.port.to_string()])
            .arg("--maildir")
            .arg(&maildir)
            .current_dir(&dir);
        let ca_cert = match tls {
            SmtpTls::None => None,
            SmtpTls::StartTls | SmtpTls::Implicit => {
                make_certificates(&dir)?;
                let mode = if tls == SmtpTls::StartTls {
                    "starttls"
                } else {
                    "implicit"
                };
                cmd.args(["--tls", mode, "--cert", "server.pem", "--key", "server.key"]);
                Some(dir.join("ca.pem"))
            }
        };
        if let Some((user, password)) = credentials {
            cmd.args(["--user", user, "--password", password]);
        }
        process.spawn(&mut cmd)?;
        Ok(SmtpServer { process, ca_cert })
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    /// The CA certificate (PEM) a client must trust to reach a TLS server.
    pub fn ca_cert(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// The server's output (aiosmtpd logs each command's outcome), for a failing test to print.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Every message received so far, in the order they arrived.
    pub fn messages(&self) -> Result<Vec<ReceivedMessage>> {
        let maildir = self.process.dir.path().join("mail");
        let mut names: Vec<PathBuf> = fs::read_dir(&maildir)
            .map_err(io("listing the mail directory"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|json| {
                let text = fs::read_to_string(&json).map_err(io(json.display().to_string()))?;
                let mut message: ReceivedMessage =
                    serde_json::from_str(&text).map_err(|e| KitError::Command {
                        what: format!("reading {}", json.display()),
                        output: e.to_string(),
                    })?;
                let eml = json.with_extension("eml");
                message.data = fs::read(&eml).map_err(io(eml.display().to_string()))?;
                Ok(message)
            })
            .collect()
    }

    /// Waits until at least `count` messages have arrived (for mail sent in the background), and returns
    /// them all; an error with the server's log after `timeout`.
    pub fn wait_for_messages(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>> {
        let start = Instant::now();
        loop {
            let messages = self.messages()?;
            if messages.len() >= count {
                return Ok(messages);
            }
            if start.elapsed() > timeout {
                return Err(KitError::NotReady {
                    what: "the expected messages",
                    secs: timeout.as_secs(),
                    log: self.log(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
