//! `DATABASE_URL` as libpq reads it, for what tokio-postgres leaves out: TLS with libpq's `sslmode`,
//! `sslrootcert`, `sslcert` and `sslkey`, and libpq's default Unix socket.
//!
//! Django hands `DATABASES["default"]["OPTIONS"]` to psycopg, which hands them to libpq; a team's
//! `DATABASE_URL` therefore means what libpq makes of it. tokio-postgres knows `sslmode=disable`, `prefer`
//! and `require` only, does not verify certificates by itself and refuses the other parameters, so this
//! module takes them out of the URL, gives the rest to tokio-postgres, and connects over rustls (the TLS
//! stack the workspace already uses for Redis and SMTP) with a certificate check chosen as libpq chooses it:
//!
//! | `sslmode` | TLS | certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `allow` | only if the server refuses a plain connection | as `require` |
//! | `prefer` (libpq's default) | when the server offers it | as `require` |
//! | `require` | always | no; against the CA when a root file is there (libpq's backward compatibility) |
//! | `verify-ca` | always | signed by the CA in `sslrootcert` |
//! | `verify-full` | always | signed by the CA, and valid for the host name |
//!
//! `sslrootcert` defaults to `~/.postgresql/root.crt`; `system` means the system's trusted roots and, as in
//! libpq 16, asks for `verify-full`. `sslcert` and `sslkey` (client certificates) default to
//! `~/.postgresql/postgresql.crt` and `.key`, used when both are there. Unlike libpq, a file a parameter
//! names explicitly must exist: a typo should not quietly turn verification or the client certificate off.
//! TLS is never tried over a Unix socket, as in libpq. Errors name the parameter and never the password.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{VerifierBuilderError, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::Host;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Plain connections only.
    Disable,
    /// Plain first; TLS when the server refuses a plain connection.
    Allow,
    /// TLS when the server offers it (libpq's default).
    Prefer,
    /// TLS always; the certificate is checked only when a root certificate file is there.
    Require,
    /// TLS, with a certificate signed by a trusted CA.
    VerifyCa,
    /// TLS, with a certificate signed by a trusted CA and valid for the host name.
    VerifyFull,
}

impl SslMode {
    /// The value as libpq spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// The connection half tokio-postgres hands back, plain or over rustls.
pub type PgConnection = tokio_postgres::Connection<
    tokio_postgres::Socket,
    <MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>>::Stream,
>;

/// Where the trusted roots come from, for messages.
#[derive(Clone, Debug)]
enum Roots {
    /// No root file: certificates are not checked (`allow`, `prefer`, `require`).
    None,
    /// A PEM file (`sslrootcert`, or `~/.postgresql/root.crt`).
    File(PathBuf),
    /// `sslrootcert=system`.
    System,
}

/// A parsed `DATABASE_URL`: tokio-postgres's configuration plus libpq's TLS parameters, ready to connect.
#[derive(Clone)]
pub struct ConnectOptions {
    config: tokio_postgres::Config,
    ssl_mode: SslMode,
    roots: Roots,
    tls: MakeRustlsConnect,
}

impl std::fmt::Debug for ConnectOptions {
    // tokio-postgres's Config redacts the password itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("hosts", &self.config.get_hosts())
            .field("ports", &self.config.get_ports())
            .field("dbname", &self.config.get_dbname())
            .field("ssl_mode", &self.ssl_mode)
            .field("roots", &self.roots)
            .finish()
    }
}

/// The TLS parameters taken out of the URL, percent-decoded.
#[derive(Default)]
struct TlsParams {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
    sslcert: Option<String>,
    sslkey: Option<String>,
}

/// Parameters libpq knows and we do not implement: refused by name rather than ignored.
const UNSUPPORTED: &[&str] = &[
    "sslcrl",
    "sslcrldir",
    "sslpassword",
    "sslsni",
    "sslcertmode",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "requirepeer",
    "gssencmode",
];

impl ConnectOptions {
    /// Parses `url` as libpq would, with `home` as libpq's home directory (for `~/.postgresql/…`).
    /// The error names the parameter at fault (the caller adds `DATABASE_URL`) and never quotes the
    /// password.
    pub fn parse(url: &str, home: Option<&Path>) -> Result<ConnectOptions, String> {
        let (rest, params) = take_tls_params(url)?;
        let mut config: tokio_postgres::Config = rest.parse().map_err(|e| {
            // tokio-postgres's message names the option ("invalid value for option `port`"), not values.
            format!("not a PostgreSQL URL ({e})")
        })?;
        if config.get_hosts().is_empty() {
            // libpq's default: the Unix socket in Debian's (and psycopg's) DEFAULT_PGSOCKET_DIR.
            config.host_path("/var/run/postgresql");
        }
        let rootcert = params.sslrootcert.as_deref().filter(|v| !v.is_empty());
        let ssl_mode = match params.sslmode.as_deref() {
            Some(v) => SslMode::parse(v).ok_or_else(|| {
                format!(
                    "sslmode must be disable, allow, prefer, require, verify-ca or \
                     verify-full, not {v:?}"
                )
            })?,
            // libpq 16: sslrootcert=system makes verify-full the default.
            None if rootcert == Some("system") => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        let dot_postgresql = home.map(|h| h.join(".postgresql"));
        let roots = match rootcert {
            Some("system") => {
                if ssl_mode != SslMode::VerifyFull {
                    return Err(format!(
                        "sslmode={} may not be used with sslrootcert=system (use \
                         verify-full)",
                        ssl_mode.as_str()
                    ));
                }
                Roots::System
            }
            Some(path) => Roots::File(existing("sslrootcert", path)?),
            None => match dot_postgresql.as_ref().map(|d| d.join("root.crt")) {
                Some(path) if path.is_file() => Roots::File(path),
                default => {
                    if ssl_mode.verifies() {
                        return Err(format!(
                            "sslmode={} needs sslrootcert: root certificate file {} \
                             does not exist. Either provide the file, use the system's trusted \
                             roots with sslrootcert=system, or change sslmode to disable server \
                             certificate verification",
                            ssl_mode.as_str(),
                            default.map_or_else(
                                || "~/.postgresql/root.crt".to_string(),
                                |p| format!("\"{}\"", p.display())
                            )
                        ));
                    }
                    Roots::None
                }
            },
        };
        let client_cert = client_certificate(&params, dot_postgresql.as_deref())?;
        let tls = if ssl_mode == SslMode::Disable {
            // Never used (tokio-postgres does not call it with sslmode=disable), but one type for both.
            tls_config(SslMode::Require, &Roots::None, None)?
        } else {
            tls_config(ssl_mode, &roots, client_cert)?
        };
        config.ssl_mode(match ssl_mode {
            SslMode::Disable | SslMode::Allow => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        if config
            .get_hosts()
            .iter()
            .all(|h| matches!(h, Host::Unix(_)))
        {
            // libpq does not request TLS over a Unix socket, whatever sslmode says.
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        }
        Ok(ConnectOptions {
            config,
            ssl_mode,
            roots,
            tls: MakeRustlsConnect::new(tls),
        })
    }

    /// The `sslmode` in effect.
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// tokio-postgres's configuration (hosts, timeouts), to adjust before connecting.
    pub fn config_mut(&mut self) -> &mut tokio_postgres::Config {
        &mut self.config
    }

    /// Connects once, as libpq does for this `sslmode` (`allow` retries with TLS when the server
    /// refuses a plain connection). The error says which parameter to look at.
    pub async fn connect(&self) -> Result<(tokio_postgres::Client, PgConnection), String> {
        match self.config.connect(self.tls.clone()).await {
            Ok(pair) => Ok(pair),
            Err(e) if self.ssl_mode == SslMode::Allow && e.as_db_error().is_some() => {
                let mut with_tls = self.config.clone();
                with_tls.ssl_mode(tokio_postgres::config::SslMode::Require);
                with_tls
                    .connect(self.tls.clone())
                    .await
                    .map_err(|e| self.explain(&e))
            }
            Err(e) => Err(self.explain(&e)),
        }
    }

    /// A connection error in words that name the parameter to check.
    fn explain(&self, e: &tokio_postgres::Error) -> String {
        let mode = self.ssl_mode.as_str();
        if let Some(db) = e.as_db_error() {
            let message = db.message();
            if message.contains("client certificate")
                || message.contains("certificate authentication")
            {
                return format!("sslcert: the server refused the connection: {message}");
            }
            if message.contains("no encryption") {
                return format!(
                    "sslmode={mode}: the server refuses connections without TLS: {message}"
                );
            }
            return format!("{}: {message}", db.severity());
        }
        if let Some(tls) = rustls_error(e) {
            return match tls {
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                ) => format!(
                    "sslmode=verify-full: the server's certificate is not valid for the host name \
                     ({tls})"
                ),
                rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer | CertificateError::BadSignature,
                ) => format!(
                    "sslrootcert: the server's certificate is not signed by {} ({tls})",
                    match &self.roots {
                        Roots::File(path) => format!("a CA in {}", path.display()),
                        Roots::System => "a CA the system trusts".to_string(),
                        Roots::None => "a trusted CA".to_string(),
                    }
                ),
                rustls::Error::InvalidCertificate(_) => {
                    format!("sslmode={mode}: the server's certificate was refused ({tls})")
                }
                rustls::Error::AlertReceived(_) => format!(
                    "sslcert: the server ended the TLS handshake ({tls}); does it require a client \
                     certificate?"
                ),
                other => format!("sslmode={mode}: TLS failed ({other})"),
            };
        }
        // tokio-postgres's own words are in the chain ("error performing TLS handshake: server does not
        // support TLS"); none of them quotes the password.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        if text.contains("server does not support TLS") {
            return format!("sslmode={mode}: the server does not accept TLS connections");
        }
        text
    }
}

/// The rustls error behind a tokio-postgres error, if TLS failed.
fn rustls_error(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        source = s.source();
    }
    None
}

/// Splits the URL's `sslmode`, `sslrootcert`, `sslcert` and `sslkey` off, where tokio-postgres's parser
/// would read them (after the credentials' `@`, from the first `?`); the rest goes to tokio-postgres.
fn take_tls_params(url: &str) -> Result<(String, TlsParams), String> {
    let mut params = TlsParams::default();
    let Some((scheme, after)) = url.split_once("://") else {
        // A key/value connection string goes to tokio-postgres as it is.
        return Ok((url.to_string(), params));
    };
    let credentials_end = after.find('@').map_or(0, |i| i + 1);
    let Some(query_start) = after[credentials_end..]
        .find('?')
        .map(|i| credentials_end + i)
    else {
        return Ok((url.to_string(), params));
    };
    let mut kept = Vec::new();
    for pair in after[query_start + 1..].split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded_key = decode(key, "a parameter name")?;
        let slot = match decoded_key.as_str() {
            "sslmode" => &mut params.sslmode,
            "sslrootcert" => &mut params.sslrootcert,
            "sslcert" => &mut params.sslcert,
            "sslkey" => &mut params.sslkey,
            name if UNSUPPORTED.contains(&name) => {
                return Err(format!("the parameter {name} is not supported"));
            }
            _ => {
                kept.push(pair);
                continue;
            }
        };
        *slot = Some(decode(value, &decoded_key)?);
    }
    let mut rest = format!("{scheme}://{}", &after[..query_start]);
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((rest, params))
}

fn decode(value: &str, what: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| format!("{what} is not UTF-8 once decoded"))
}

/// An explicitly named file, which must exist.
fn existing(parameter: &str, path: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(path);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{parameter}: file \"{}\" does not exist",
            path.display()
        ))
    }
}

type ClientCertificate = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// `sslcert` and `sslkey`, or libpq's defaults when both files are there.
fn client_certificate(
    params: &TlsParams,
    dot_postgresql: Option<&Path>,
) -> Result<Option<ClientCertificate>, String> {
    let explicit = |p: &Option<String>| p.as_deref().filter(|v| !v.is_empty()).map(str::to_string);
    let (cert, key) = match (explicit(&params.sslcert), explicit(&params.sslkey)) {
        (None, None) => {
            let Some(dir) = dot_postgresql else {
                return Ok(None);
            };
            let (cert, key) = (dir.join("postgresql.crt"), dir.join("postgresql.key"));
            if !cert.is_file() {
                return Ok(None);
            }
            (cert, key)
        }
        (Some(cert), key) => {
            let cert = existing("sslcert", &cert)?;
            let key = match key {
                Some(key) => existing("sslkey", &key)?,
                None => match dot_postgresql {
                    Some(dir) => dir.join("postgresql.key"),
                    None => return Err("sslcert needs sslkey".into()),
                },
            };
            (cert, key)
        }
        (None, Some(_)) => return Err("sslkey is set without sslcert".into()),
    };
    let certs = CertificateDer::pem_file_iter(&cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("sslcert {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "sslcert {}: no PEM certificate in it",
            cert.display()
        ));
    }
    key_permissions(&key)?;
    let key =
        PrivateKeyDer::from_pem_file(&key).map_err(|e| format!("sslkey {}: {e}", key.display()))?;
    Ok(Some((certs, key)))
}

/// libpq refuses a private key others can read ("has group or world access").
fn key_permissions(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("sslkey: file \"{}\": {e}", path.display()))?;
    let mode = metadata.mode();
    // libpq's rule: 0600 or less if the file is ours; root-owned keys may also be group-readable (0640).
    let allowed = if metadata.uid() == 0 { 0o640 } else { 0o600 };
    if mode & 0o777 & !allowed != 0 {
        return Err(format!(
            "sslkey: private key file \"{}\" has group or world access; file must have \
             permissions u=rw (0600) or less if owned by the current user, or u=rw,g=r (0640) or less \
             if owned by root",
            path.display()
        ));
    }
    Ok(())
}

fn tls_config(
    mode: SslMode,
    roots: &Roots,
    client_cert: Option<ClientCertificate>,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match roots {
        Roots::None => Arc::new(NoVerification(provider.clone())),
        Roots::File(_) | Roots::System => {
            let store = root_store(roots)?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                    .build()
                    .map_err(|e| match e {
                        VerifierBuilderError::NoRootAnchors => {
                            "sslrootcert: no certificate in it".to_string()
                        }
                        other => format!("sslrootcert: {other}"),
                    })?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match client_cert {
        None => Ok(builder.with_no_client_auth()),
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("sslcert/sslkey: {e}")),
    }
}

fn root_store(roots: &Roots) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::None => {}
        Roots::File(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            for cert in certs {
                store
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(
                    "sslrootcert=system: the system has no trusted roots (install \
                     Debian's ca-certificates)"
                        .into(),
                );
            }
        }
    }
    Ok(store)
}

/// `verify-ca`, and `require` with a root file: the chain must reach a trusted CA; the name is not
/// checked (rustls checks the chain first, so a name error means the chain was good).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `allow`, `prefer` and `require` without a root file: encryption without authentication, as libpq
/// gives it. The handshake's signatures are still checked, against the certificate the server sent.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<ConnectOptions, String> {
        ConnectOptions::parse(url, None)
    }

    #[test]
    fn tls_parameters_leave_the_rest_to_tokio_postgres() {
        let (rest, params) = take_tls_params(
            "postgres://u:p%40ss@h:5432/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:p%40ss@h:5432/db?application_name=x");
        assert_eq!(params.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(params.sslrootcert.as_deref(), Some("/tmp/ca.pem"));
        // A `?` inside the credentials is the credentials', as tokio-postgres reads them.
        let (rest, params) = take_tls_params("postgres://u:a?b@h/db?sslmode=require").unwrap();
        assert_eq!(rest, "postgres://u:a?b@h/db");
        assert_eq!(params.sslmode.as_deref(), Some("require"));
    }

    #[test]
    fn sslmode_defaults_and_refusals_are_libpqs() {
        assert_eq!(
            parse("postgres://h/db").unwrap().ssl_mode(),
            SslMode::Prefer
        );
        for mode in ["disable", "allow", "prefer", "require"] {
            let url = format!("postgres://h/db?sslmode={mode}");
            assert_eq!(parse(&url).unwrap().ssl_mode().as_str(), mode);
        }
        let e = parse("postgres://h/db?sslmode=verify-full").unwrap_err();
        assert!(
            e.contains("sslrootcert") && e.contains("verify-full"),
            "{e}"
        );
        let e = parse("postgres://h/db?sslmode=strict").unwrap_err();
        assert!(e.contains("sslmode"), "{e}");
        let e = parse("postgres://h/db?sslmode=require&sslrootcert=system").unwrap_err();
        assert!(
            e.contains("sslrootcert=system") && e.contains("verify-full"),
            "{e}"
        );
        let e = parse("postgres://h/db?sslrootcert=/nonexistent/ca.pem").unwrap_err();
        assert!(
            e.contains("sslrootcert") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
        let e =
            parse("postgres://h/db?sslcert=/nonexistent/c.pem&sslkey=/nonexistent/k").unwrap_err();
        assert!(e.contains("sslcert"), "{e}");
        let e = parse("postgres://h/db?sslcrl=/x").unwrap_err();
        assert!(e.contains("sslcrl"), "{e}");
    }

    #[test]
    fn no_message_quotes_the_password() {
        for url in [
            "postgres://u:hunter2@h/db?sslmode=nope",
            "postgres://u:hunter2@h:notaport/db",
            "postgres://u:hunter2@h/db?sslrootcert=/nonexistent",
            "postgres://u:hunter2@h/db?password=hunter2&sslmode=verify-ca",
        ] {
            let e = parse(url).unwrap_err();
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn unix_sockets_as_django_gives_them() {
        for url in [
            "postgresql://u@%2Fvar%2Frun%2Fpostgresql/db",
            "postgresql://u@/db?host=/var/run/postgresql",
            "postgresql:///db",
        ] {
            let options = parse(url).unwrap();
            assert_eq!(
                options.config.get_hosts(),
                &[Host::Unix("/var/run/postgresql".into())],
                "{url}"
            );
            // No TLS request over a socket, as libpq.
            assert_eq!(
                options.config.get_ssl_mode(),
                tokio_postgres::config::SslMode::Disable
            );
        }
    }
}
