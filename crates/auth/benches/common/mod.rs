//! What both benchmarks share: criterion's saved estimates, and the Django peer to compare with.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Criterion's mean estimate (ns) of a benchmark, from its saved report.
pub fn criterion_mean_ns(name: &str) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let path = target
        .join("criterion")
        .join(name)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

/// The Python with the pinned Django (`DJANGO_PYTHON`, else the 5.2 venv).
pub fn django_python() -> PathBuf {
    std::env::var_os("DJANGO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/django-5.2/bin/python"))
}

/// One request to a fresh peer Django (`tests/django/peer`) configured by `env`.
#[allow(dead_code)]
pub fn peer_call(env: &[(&str, String)], op: &str, args: serde_json::Value) -> serde_json::Value {
    let python = django_python();
    let mut child = Command::new(&python)
        .args(["manage.py", "peer"])
        .current_dir(workspace_root().join("tests/django/peer"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let mut stdin = child.stdin.take().expect("piped stdin");
    writeln!(stdin, "{}", serde_json::json!({"op": op, "args": args})).expect("peer stdin");
    drop(stdin);
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("peer stdout");
    let _ = child.wait();
    let mut answer: serde_json::Value = serde_json::from_str(&line).expect("the peer answers JSON");
    match answer.get_mut("ok") {
        Some(ok) => ok.take(),
        None => panic!("the peer failed: {answer}"),
    }
}
