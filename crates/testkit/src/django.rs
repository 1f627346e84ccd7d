//! A real Django for the tests: the pinned interpreter, and the JSON-lines processes of `tests/django`.
//!
//! `Oracle::start()` runs `python -m oracle` from `tests/django/` (pure questions: codecs, signatures);
//! `Oracle::peer(env)` runs the peer project (`tests/django/peer`, `manage.py peer`) on the PostgreSQL and
//! Redis the environment names. The interpreter is `DJANGO_PYTHON` (default: the workspace's
//! `.venv/django-6.1/bin/python`, the newest pinned Django, made by `tests/django/setup-venvs.sh`). A missing Python or Django fails
//! the test with a message saying how to set it up: these tests never skip. With `DJANGO_EXPECTED_VERSION`
//! set (`make test` sets it), Django must be that version.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

/// The repository's root (this crate is `crates/testkit`), taken lexically, so that a test binary copied
/// elsewhere (the container suite's image) needs only `tests/django` at that path, not the crates.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// The Python with the pinned Django: `DJANGO_PYTHON`, else `.venv/django-6.1/bin/python` (the newest
/// Django the tests run, as `make test`'s first run).
pub fn python() -> PathBuf {
    std::env::var_os("DJANGO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/django-6.1/bin/python"))
}

/// Fails the test unless `version` (Django's `get_version()`) is the one `DJANGO_EXPECTED_VERSION` names,
/// so that a wrong venv cannot pass unnoticed.
pub fn check_expected_version(version: &str) {
    if let Ok(expected) = std::env::var("DJANGO_EXPECTED_VERSION") {
        assert!(
            version.starts_with(&format!("{expected}.")),
            "expected Django {expected}, the venv runs {version}"
        );
    }
}

pub struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Oracle {
    /// The in-memory oracle (`python -m oracle`).
    pub fn start() -> Oracle {
        Oracle::spawn(&["-m", "oracle"], "tests/django", &[])
    }

    /// The peer: a real Django project (`tests/django/peer`) on the given PostgreSQL/Redis settings,
    /// answering the same JSON-lines protocol (`python manage.py peer`).
    pub fn peer(env: &[(&str, &str)]) -> Oracle {
        Oracle::spawn(&["manage.py", "peer"], "tests/django/peer", env)
    }

    fn spawn(args: &[&str], dir: &str, env: &[(&str, &str)]) -> Oracle {
        let python = python();
        let mut child = Command::new(&python)
            .args(args)
            .current_dir(workspace_root().join(dir))
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the Django oracle with {}: {e}. Run tests/django/setup-venvs.sh \
                     (or `make test`), or point DJANGO_PYTHON at a Python with the pinned Django.",
                    python.display()
                )
            });
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut oracle = Oracle {
            child,
            stdin,
            stdout,
        };
        let version = oracle.call("version", json!({}), json!({}));
        eprintln!("Django {dir}: {version}");
        check_expected_version(
            version["django"]
                .as_str()
                .or(version.as_str())
                .unwrap_or_default(),
        );
        oracle
    }

    /// Sends one request; returns Django's whole answer (`ok`, or `error` with `trace`).
    fn request(&mut self, op: &str, settings: Value, args: Value) -> (Value, Value) {
        let request = json!({"op": op, "settings": settings, "args": args});
        writeln!(self.stdin, "{request}").expect("oracle stdin");
        self.stdin.flush().expect("oracle stdin");
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).expect("oracle stdout");
        assert!(n > 0, "the Django oracle exited (request {request})");
        (
            request,
            serde_json::from_str(&line).expect("oracle answers JSON"),
        )
    }

    /// Returns `Ok(result)` or `Err("ExceptionType: message")` as Django answered.
    pub fn try_call(&mut self, op: &str, settings: Value, args: Value) -> Result<Value, String> {
        let (_, mut answer) = self.request(op, settings, args);
        match answer.get_mut("ok") {
            Some(ok) => Ok(ok.take()),
            None => Err(answer["error"].as_str().unwrap_or("?").to_string()),
        }
    }

    /// Like `try_call`, but a Django exception fails the test (with Django's traceback).
    pub fn call(&mut self, op: &str, settings: Value, args: Value) -> Value {
        let (request, mut answer) = self.request(op, settings, args);
        match answer.get_mut("ok") {
            Some(ok) => ok.take(),
            None => panic!(
                "Django raised {} for {request}\n{}",
                answer["error"],
                answer["trace"].as_str().unwrap_or("")
            ),
        }
    }

    /// The Django major.minor the oracle runs, e.g. "5.2".
    pub fn django_version(&mut self) -> String {
        let v = self.call("version", json!({}), json!({}));
        let full = v["django"]
            .as_str()
            .or(v.as_str())
            .unwrap_or_default()
            .to_string();
        full.split('.').take(2).collect::<Vec<_>>().join(".")
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of a mail as a mail reader shows it, from the text a console or file backend wrote (Django's
/// or the portal's; without the console's closing line of dashes): what follows the headers,
/// quoted-printable decoded when the message says so. Django 6.0 builds its mail with Python's modern
/// `email` API, which quoted-prints a text with a line over 78 characters (the reset link on a longer
/// host); Django 5.2 and the portal send it as it is (7bit or 8bit), and readers show the same text.
pub fn mail_body(message: &str) -> String {
    let message = message.replace("\r\n", "\n");
    let (head, body) = message.split_once("\n\n").unwrap_or((&message, ""));
    let quoted_printable = head.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("content-transfer-encoding")
                && value.trim().eq_ignore_ascii_case("quoted-printable")
        })
    });
    if !quoted_printable {
        return body.to_string();
    }
    let (bytes, mut decoded, mut i) = (body.as_bytes(), Vec::new(), 0);
    while i < bytes.len() {
        let next = bytes.get(i + 1..i + 3);
        match (bytes[i], next) {
            // A soft line break: the line goes on.
            (b'=', _) if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            (b'=', Some([high, low])) if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                let hex = [*high, *low];
                let text = std::str::from_utf8(&hex).unwrap_or("3F");
                decoded.push(u8::from_str_radix(text, 16).unwrap_or(b'?'));
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::mail_body;

    #[test]
    fn mail_body_decodes_what_django_6_quoted_prints() {
        // Django 6.1's console backend, for the reset mail of a user named Zoë.
        let printed = "Content-Type: text/plain; charset=\"utf-8\"\n\
            Content-Transfer-Encoding: quoted-printable\n\
            Subject: Password reset\n\n\
            http://127.0.0.1:8000/accounts/reset/MQ/dj7olr-3efb2000acf7111aa8b1650abcc08a=\n\
            bcdef/\n\nYour username: Zo=C3=AB, 1+1=3D2\n";
        assert_eq!(
            mail_body(printed),
            "http://127.0.0.1:8000/accounts/reset/MQ/dj7olr-3efb2000acf7111aa8b1650abcc08abcdef/\n\n\
             Your username: Zoë, 1+1=2\n"
        );
        // 8bit (Django 5.2, the portal): as it is.
        let printed = "Content-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\nZoë = a=b\n";
        assert_eq!(mail_body(printed), "Zoë = a=b\n");
    }
}
