//! Reaching the shared database: the URL (libpq's URL form, a unix-socket directory as a
//! percent-encoded host), TLS by rustls with ring (`sslmode` as libpq reads it), and the
//! bridge that lets the synchronous [`crate::state::StateStore`] calls run on
//! tokio-postgres: one thread with its own runtime per state URL and process, owned by
//! that URL's connection pool (`pool.rs`).
//!
//! Only the URL given is used: no `PG*` environment variable, no `~/.pgpass`, no service
//! file (tokio-postgres reads none of them), so a machine's libpq settings never redirect
//! sheetsync's state, and without a state URL no connection is ever made.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::config::redact_url;
use crate::state::StateError;

/// How the connection is protected, as libpq's `sslmode` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, certificate not checked (libpq's default).
    Prefer,
    /// TLS or no connection; certificate not checked (as libpq without a root cert).
    Require,
    /// TLS, the certificate chain checked against `sslrootcert` (or the system's roots)
    /// and the host name against the certificate.
    VerifyFull,
}

/// A parsed state URL: what tokio-postgres is given, and what sheetsync handles itself.
#[derive(Debug, Clone)]
pub struct Target {
    pub config: tokio_postgres::Config,
    pub ssl_mode: SslMode,
    pub root_cert: Option<std::path::PathBuf>,
    /// The URL with its password cut out, for messages.
    pub shown: String,
}

impl Target {
    /// Parses a `postgres://` / `postgresql://` URL. `sslmode` and `sslrootcert` are taken
    /// out of the query and handled here (tokio-postgres knows neither `verify-full` nor
    /// root certificates); every other parameter is tokio-postgres's to read.
    pub fn parse(url: &str) -> Result<Target, StateError> {
        let shown = redact_url(url);
        let bad = |message: String| StateError::StateUrl {
            url: shown.clone(),
            message,
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(bad(
                "a state URL starts with postgres:// or postgresql://".to_owned()
            ));
        }
        let (head, query) = match url.split_once('?') {
            Some((h, q)) => (h, q),
            None => (url, ""),
        };
        let mut ssl_mode = SslMode::Prefer;
        let mut root_cert = None;
        let mut rest = Vec::new();
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k {
                "sslmode" => {
                    ssl_mode = match v {
                        "disable" => SslMode::Disable,
                        "prefer" | "allow" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-full" => SslMode::VerifyFull,
                        "verify-ca" => {
                            return Err(bad("sslmode=verify-ca is not supported: use \
                                 verify-full, which also checks the host name"
                                .to_owned()));
                        }
                        other => return Err(bad(format!("unknown sslmode {other:?}"))),
                    }
                }
                "sslrootcert" => {
                    root_cert = Some(std::path::PathBuf::from(percent_decode(v)));
                }
                _ => rest.push(kv),
            }
        }
        let plain = if rest.is_empty() {
            head.to_owned()
        } else {
            format!("{head}?{}", rest.join("&"))
        };
        let mut config = tokio_postgres::Config::from_str(&plain)
            .map_err(|e| bad(format!("cannot read it: {e}")))?;
        config.ssl_mode(match ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        });
        if config.get_application_name().is_none() {
            config.application_name("sheetsync");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        Ok(Target {
            config,
            ssl_mode,
            root_cert,
            shown,
        })
    }

    /// Connects; the connection's I/O runs as a task on the current runtime until the
    /// client is dropped.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, StateError> {
        let err = |e| StateError::postgres(&self.shown, e);
        if self.ssl_mode == SslMode::Disable {
            let (client, conn) = self
                .config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(err)?;
            tokio::spawn(drive(conn));
            return Ok(client);
        }
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls_config()?);
        let (client, conn) = self.config.connect(tls).await.map_err(err)?;
        tokio::spawn(drive(conn));
        Ok(client)
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig, StateError> {
        let bad = |message: String| StateError::StateUrl {
            url: self.shown.clone(),
            message,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(format!("TLS setup: {e}")))?;
        if self.ssl_mode != SslMode::VerifyFull {
            return Ok(builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
                .with_no_client_auth());
        }
        let mut roots = rustls::RootCertStore::empty();
        match &self.root_cert {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| bad(format!("sslrootcert {}: {e}", path.display())))?;
                for cert in certs {
                    let cert =
                        cert.map_err(|e| bad(format!("sslrootcert {}: {e}", path.display())))?;
                    roots
                        .add(cert)
                        .map_err(|e| bad(format!("sslrootcert {}: {e}", path.display())))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(bad(
                        "sslmode=verify-full found no system root certificates; name the \
                         server's CA with sslrootcert=PATH"
                            .to_owned(),
                    ));
                }
            }
        }
        Ok(builder.with_root_certificates(roots).with_no_client_auth())
    }
}

async fn drive<C: Future<Output = Result<(), tokio_postgres::Error>>>(conn: C) {
    if let Err(e) = conn.await {
        tracing::warn!("shared state connection closed: {e}");
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `sslmode=prefer|require`: encrypted, but the certificate is not checked, as libpq does
/// in these modes. The handshake's signatures are still verified, so the session key is
/// the one the certificate's holder agreed.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
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

/// The synchronous side of the state port over async tokio-postgres: a thread of its own
/// runs a current-thread runtime (the pool's connections' I/O and every query); a call spawns its
/// future there and blocks the caller until the answer comes back. The caller may be a
/// task of the main runtime (the port is called between awaits, as SQLite is), which is
/// why the work cannot run on the caller's runtime: `block_on` there would panic or
/// deadlock a 2-thread runtime.
pub struct Bridge {
    handle: tokio::runtime::Handle,
    /// Dropped with the bridge: the thread then ends and drops its runtime there (a
    /// runtime may not be dropped inside another runtime's task).
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Bridge {
    pub fn start() -> Result<Bridge, StateError> {
        let (handle_tx, handle_rx) = std::sync::mpsc::sync_channel(1);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("sheetsync-state".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = handle_tx.send(Err(e));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(runtime.handle().clone()));
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })
            .map_err(StateError::bridge)?;
        let handle = handle_rx
            .recv()
            .map_err(|_| StateError::bridge(std::io::Error::other("the thread ended")))?
            .map_err(StateError::bridge)?;
        Ok(Bridge {
            handle,
            _stop: stop,
        })
    }

    /// Starts `fut` on the bridge's runtime and returns at once (lease renewal).
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(fut)
    }

    /// Starts `fut` on the bridge's runtime; its handle yields the result to a caller
    /// on another runtime.
    pub fn spawn_with<T, F>(&self, fut: F) -> tokio::task::JoinHandle<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        self.handle.spawn(fut)
    }

    /// Runs `fut` on the bridge's runtime and waits for its result.
    pub fn run<T, F>(&self, fut: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StateError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| StateError::bridge(std::io::Error::other("the state thread stopped")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_root_cert_are_read_here_and_the_rest_by_tokio_postgres() {
        let t = Target::parse(
            "postgres://app:pw@db.example.com:6432/st?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
        )
        .expect("parses");
        assert_eq!(t.ssl_mode, SslMode::VerifyFull);
        assert_eq!(
            t.root_cert.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        assert_eq!(t.config.get_application_name(), Some("x"));
        assert_eq!(t.config.get_dbname(), Some("st"));
        assert_eq!(t.config.get_ports(), &[6432]);
        assert!(!t.shown.contains("pw"), "{}", t.shown);
        assert_eq!(
            t.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
    }

    #[test]
    fn a_socket_directory_is_a_percent_encoded_host() {
        let t = Target::parse("postgresql://postgres@%2Fvar%2Frun%2Fpostgresql/sheetsync")
            .expect("parses");
        assert_eq!(
            t.config.get_hosts(),
            &[tokio_postgres::config::Host::Unix(
                "/var/run/postgresql".into()
            )]
        );
        assert_eq!(t.ssl_mode, SslMode::Prefer);
    }

    #[test]
    fn unknown_forms_are_refused_with_the_password_cut_out() {
        for url in [
            "mysql://u:hunter2@h/db",
            "postgres://u:hunter2@h/db?sslmode=verify-ca",
            "postgres://u:hunter2@h/db?sslmode=always",
        ] {
            let e = Target::parse(url).expect_err(url).to_string();
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
