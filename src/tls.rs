//! TLS on the one port (`--tls-cert` / `--tls-key`): owns the certificate and private key the
//! gateway presents, how they are read from PEM files and re-read on SIGHUP, and the rustls
//! server configuration (ring, TLS 1.3 and 1.2, ALPN `h2` then `http/1.1`). The accept loop
//! that puts the handshake in front of the same application as the plain listener is in
//! [`listener`].
//!
//! **Why a resolver over an [`ArcSwap`].** The rustls [`ServerConfig`] is built once; its
//! certificate comes from [`Resolver`], which hands each new handshake whatever pair is
//! current. A reload swaps the pair in one atomic store: handshakes already done keep the pair
//! they started with, new ones get the new pair, and no connection is dropped.
//!
//! A reload never makes things worse: a new pair that cannot be read, does not parse or whose
//! key does not match its certificate is logged (naming the file) and the previous pair keeps
//! serving. Errors and Debug output name files, never key material.

mod listener;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::task::JoinHandle;

pub use listener::{serve, serve_with_limits};

/// How long a new connection may take to complete its TLS handshake before it is closed.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The protocols offered in ALPN, in the server's order of preference.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why a certificate or key could not be used; names the file at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", file.display())]
pub struct TlsError {
    /// The file at fault.
    pub file: PathBuf,
    /// What is wrong with it (never its content).
    pub message: String,
}

impl TlsError {
    fn new(file: &Path, message: impl Into<String>) -> TlsError {
        TlsError {
            file: file.to_path_buf(),
            message: message.into(),
        }
    }
}

/// Describes a PEM error without quoting the file: a key file's lines are secret.
fn pem_problem(e: &pem::Error) -> String {
    match e {
        pem::Error::Io(e) => format!("cannot read it: {e}"),
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64".to_owned(),
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line".to_owned(),
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".to_owned(),
        pem::Error::SectionTooLarge => "a PEM section is too large".to_owned(),
        pem::Error::NoItemsFound => "no PEM section found".to_owned(),
        _ => "not a valid PEM file".to_owned(),
    }
}

/// Reads a certificate chain (leaf first) and its private key, and checks they belong together.
fn load_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::new(cert, pem_problem(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(cert, pem_problem(&e)))?;
    if chain.is_empty() {
        return Err(TlsError::new(
            cert,
            "no certificate found (expected PEM \"BEGIN CERTIFICATE\" sections, the server's first)",
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::new(
            key,
            "no private key found (expected a PEM PKCS#8, PKCS#1 RSA or SEC1 EC private key)",
        ),
        e => TlsError::new(key, pem_problem(&e)),
    })?;
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| TlsError::new(key, format!("unusable private key: {e}")))?;
    let pair = CertifiedKey::new(chain, signing);
    match pair.keys_match() {
        // Keys whose public half the provider cannot derive are taken on trust, as rustls does.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(pair)
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::new(
                key,
                format!(
                    "the private key does not belong to the certificate in {}",
                    cert.display()
                ),
            ))
        }
        Err(e) => Err(TlsError::new(
            cert,
            format!("not a usable certificate: {e}"),
        )),
    }
}

/// The SHA-256 of the leaf certificate, in hex: how log lines tell certificates apart.
fn fingerprint(pair: &CertifiedKey) -> String {
    let leaf = pair.cert.first().map_or(&[][..], |c| c.as_ref());
    let digest = ring::digest::digest(&ring::digest::SHA256, leaf);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

struct Inner {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
}

/// Hands every new handshake the current pair.
struct Resolver(Arc<Inner>);

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("cert", &self.0.cert)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current.load_full())
    }
}

/// The certificate and key being served, and the TLS configuration that serves them. Cheap to
/// clone; clones share the pair, so a reload through one is seen by all.
#[derive(Clone)]
pub struct Certificates {
    inner: Arc<Inner>,
    config: Arc<ServerConfig>,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates")
            .field("cert", &self.inner.cert)
            .field("key", &self.inner.key)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl Certificates {
    /// Reads the PEM certificate chain at `cert` (leaf first) and the PEM private key at `key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Certificates, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pair = load_pair(cert, key, &provider)?;
        let inner = Arc::new(Inner {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider: provider.clone(),
            current: ArcSwap::from_pointee(pair),
        });
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::new(cert, format!("cannot configure TLS: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(inner.clone())));
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Certificates {
            inner,
            config: Arc::new(config),
        })
    }

    /// The certificate file's path.
    pub fn cert_path(&self) -> &Path {
        &self.inner.cert
    }

    /// The SHA-256 fingerprint (hex) of the leaf certificate being served.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.inner.current.load())
    }

    /// Re-reads both files and, if they make a valid pair, serves it to new handshakes. On
    /// error the current pair stays. Blocks on file reads. Returns whether the certificate
    /// changed.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let pair = Arc::new(load_pair(
            &self.inner.cert,
            &self.inner.key,
            &self.inner.provider,
        )?);
        let before = self.inner.current.swap(pair.clone());
        Ok(before.cert != pair.cert)
    }

    /// [`Certificates::reload`] off the async workers, with the outcome logged.
    pub async fn reload_logged(&self) {
        let certs = self.clone();
        let outcome = tokio::task::spawn_blocking(move || certs.reload()).await;
        let cert = self.inner.cert.display();
        match outcome {
            Ok(Ok(true)) => tracing::info!(
                "{cert}: TLS certificate reloaded (sha256 {}); new connections use it",
                self.fingerprint()
            ),
            Ok(Ok(false)) => tracing::info!(
                "{cert}: TLS certificate re-read, unchanged (sha256 {})",
                self.fingerprint()
            ),
            Ok(Err(e)) => tracing::error!(
                "TLS certificate not reloaded (still serving sha256 {}): {e}",
                self.fingerprint()
            ),
            Err(e) => tracing::error!("{cert}: TLS certificate reload failed: {e}"),
        }
    }

    /// What accepts connections with this configuration.
    pub fn acceptor(&self) -> Acceptor {
        Acceptor {
            tls: tokio_rustls::TlsAcceptor::from(self.config.clone()),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Reloads the pair on each SIGHUP (Unix), beside the config reload that listens for the
    /// same signal in [`crate::reload`]: tokio delivers a signal to every listener. The handler
    /// is installed before this returns, so a SIGHUP sent afterwards is not missed.
    pub fn reload_on_sighup(&self) -> SighupReload {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::hangup()) {
                Ok(mut hangup) => {
                    let certs = self.clone();
                    let task = tokio::spawn(async move {
                        while hangup.recv().await.is_some() {
                            tracing::info!(
                                "SIGHUP received: re-reading the TLS certificate {} and key {}",
                                certs.inner.cert.display(),
                                certs.inner.key.display()
                            );
                            certs.reload_logged().await;
                        }
                    });
                    return SighupReload { task: Some(task) };
                }
                Err(e) => tracing::warn!(
                    "cannot listen for SIGHUP ({e}); the TLS certificate will not be reloaded"
                ),
            }
        }
        SighupReload { task: None }
    }
}

/// Accepts TLS connections: the rustls acceptor and how long a handshake may take.
#[derive(Clone)]
pub struct Acceptor {
    tls: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acceptor")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl Acceptor {
    /// The same acceptor with another handshake timeout.
    pub fn with_handshake_timeout(self, handshake_timeout: Duration) -> Acceptor {
        Acceptor {
            handshake_timeout,
            ..self
        }
    }
}

/// The SIGHUP listener of [`Certificates::reload_on_sighup`]; stops when dropped.
#[derive(Debug)]
pub struct SighupReload {
    task: Option<JoinHandle<()>>,
}

impl SighupReload {
    /// Stops listening (a reload under way finishes on the blocking pool).
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for SighupReload {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests;
