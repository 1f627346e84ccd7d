//! Real reverse proxies for the forward-auth tests: Debian's `nginx` and `caddy`, each running one of the
//! configurations shipped in `deploy/forward-auth/` on a free port in its own temporary directory, and
//! [`EchoUpstream`], a service that answers every request with the headers it received.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Process, Result, find_binary, io};

/// Replaces each `${NAME}` of `vars` in `text` (as `envsubst` with a list of names does: other `$`
/// expressions, nginx's own variables, stay).
pub fn substitute(text: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(text.to_string(), |text, (name, value)| {
        text.replace(&format!("${{{name}}}"), value)
    })
}

/// Debian's nginx serving one site configuration (a `server { … }` block, such as
/// `deploy/forward-auth/nginx.conf.template` with its variables filled), in the foreground.
pub struct Nginx {
    process: Process,
    binary: PathBuf,
}

impl Nginx {
    /// nginx with the `server` block of `template` (its `${…}` filled from `vars`, and `${LISTEN_PORT}`
    /// with the free port chosen here).
    pub fn start(template: &Path, vars: &[(&str, &str)]) -> Result<Nginx> {
        let binary = find_binary(&["nginx", "/usr/sbin/nginx"], "install Debian's nginx")?;
        let site =
            fs::read_to_string(template).map_err(io(format!("reading {}", template.display())))?;
        crate::with_fresh_ports(|| {
            let process = Process::new("nginx")?;
            let dir = process.dir.path();
            let port = process.port.to_string();
            let mut all = vars.to_vec();
            all.push(("LISTEN_PORT", &port));
            fs::write(dir.join("site.conf"), substitute(&site, &all))
                .map_err(io("writing site.conf"))?;
            // As root, the workers would run as `nobody`, who cannot enter this directory.
            let user = if is_root() { "user root;\n" } else { "" };
            fs::write(
                dir.join("nginx.conf"),
                format!(
                    "{user}daemon off;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
                     error_log {dir}/nginx.log info;\nevents {{ worker_connections 256; }}\n\
                     http {{\n  access_log {dir}/nginx.log;\n  client_body_temp_path {dir}/body;\n  \
                     proxy_temp_path {dir}/proxy;\n  fastcgi_temp_path {dir}/fastcgi;\n  \
                     uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n  \
                     include {dir}/site.conf;\n}}\n",
                    dir = dir.display()
                ),
            )
            .map_err(io("writing nginx.conf"))?;
            let mut nginx = Nginx {
                process,
                binary: binary.clone(),
            };
            nginx.start_again()?;
            Ok(nginx)
        })
    }

    fn start_again(&mut self) -> Result<()> {
        let dir = self.process.dir.path().to_path_buf();
        let mut cmd = Command::new(&self.binary);
        cmd.arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("nginx.log"));
        self.process.spawn(&mut cmd)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.port)
    }

    /// nginx's error and access log.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Debian's Caddy running a Caddyfile (such as `deploy/forward-auth/Caddyfile`) with `vars` in its
/// environment (`{$NAME}` placeholders), its admin endpoint off, its data in the temporary directory.
pub struct Caddy {
    process: Process,
}

impl Caddy {
    /// Caddy with `caddyfile`; `SITE_ADDRESS` is set to `http://127.0.0.1:<a free port>`.
    pub fn start(caddyfile: &Path, vars: &[(&str, &str)]) -> Result<Caddy> {
        let binary = find_binary(&["caddy", "/usr/bin/caddy"], "install Debian's caddy")?;
        crate::with_fresh_ports(|| {
            let mut process = Process::new("caddy")?;
            let dir = process.dir.path().to_path_buf();
            let mut cmd = Command::new(&binary);
            cmd.args(["run", "--adapter", "caddyfile", "--config"])
                .arg(caddyfile)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", &dir)
                .env("XDG_DATA_HOME", dir.join("data"))
                .env("XDG_CONFIG_HOME", dir.join("config"))
                .env("CADDY_ADMIN", "off")
                .env("SITE_ADDRESS", format!("http://127.0.0.1:{}", process.port))
                .envs(vars.iter().copied());
            process.spawn(&mut cmd)?;
            Ok(Caddy { process })
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.port)
    }

    /// Caddy's log.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// A service behind a proxy that answers every request with a JSON object of the request headers it
/// received (lower-case names; repeated headers joined with `"\n"`), so a test sees exactly what the
/// proxy passed on. Runs on a thread until dropped with the test.
pub struct EchoUpstream {
    port: u16,
}

impl EchoUpstream {
    /// Starts it on a free port.
    pub fn start() -> Result<EchoUpstream> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io("binding the echo upstream"))?;
        let port = listener
            .local_addr()
            .map_err(io("reading the echo upstream's port"))?
            .port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = answer(stream);
                });
            }
        });
        Ok(EchoUpstream { port })
    }

    /// `127.0.0.1:<port>`, as the configurations take an upstream.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Reads one request's head (the proxies send no body on the requests of these tests) and answers it.
fn answer(stream: std::net::TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers
                .entry(name.trim().to_ascii_lowercase())
                .and_modify(|v| {
                    v.push('\n');
                    v.push_str(value.trim());
                })
                .or_insert_with(|| value.trim().to_string());
        }
    }
    let mut parts = request_line.split_whitespace();
    let body = serde_json::json!({
        "method": parts.next().unwrap_or(""),
        "path": parts.next().unwrap_or(""),
        "headers": headers,
    })
    .to_string();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
