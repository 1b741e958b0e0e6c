//! HTTPS for the suite's clients: what they trust, and a failed connection
//! said as what it is.
//!
//! Every client trusts the system's roots (where `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` point, as OpenSSL's tools do) plus the certificate
//! authorities the run names: `KRATOS_CA_CERT` (a PEM file of one or more CA
//! certificates, for a deployment whose certificate a private CA signed) and
//! the run's own CA where the suite terminates TLS itself
//! ([`super::authority`]). The real browser trusts the same ones and nothing
//! else ([`crate::browser`] imports them into its own certificate database).
//!
//! A connection that fails is explained by [`explain`]: an unknown issuer, a
//! name the certificate does not list, an expired certificate, a server that
//! does not speak TLS at all — each with the URL and what to set or fix.

use std::path::Path;
use std::sync::{Once, RwLock};

use reqwest::Certificate;
use rustls::{CertificateError, Error as TlsError};

/// A certificate authority the run trusts, and where it came from.
#[derive(Debug, Clone)]
pub struct TrustedCa {
    /// For messages: `KRATOS_CA_CERT=/path/ca.pem`, `the run's own CA`.
    pub source: String,
    /// The PEM text (one or more certificates).
    pub pem: String,
}

static TRUSTED: RwLock<Vec<TrustedCa>> = RwLock::new(Vec::new());

/// The variable that names a CA for the suite to trust.
pub const CA_VARIABLE: &str = "KRATOS_CA_CERT";

/// rustls' ring provider, as the process default (reqwest, the suite's own
/// TLS listeners and rcgen all use ring). Idempotent; a provider somebody else
/// installed first is kept.
pub fn install_provider() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Reads a PEM file of CA certificates and trusts them from now on. One line
/// on what is wrong otherwise.
pub fn trust_file(variable: &str, path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{variable}={}: cannot read it ({e}); name a PEM file of the CA that signed the deployment's certificate", path.display()))?;
    trust_pem(&format!("{variable}={}", path.display()), &text)
        .map_err(|e| format!("{variable}={}: {e}; name a PEM file (-----BEGIN CERTIFICATE-----) of the CA that signed the deployment's certificate", path.display()))
}

/// Trusts the CA certificates in `pem` from now on.
pub fn trust_pem(source: &str, pem: &str) -> Result<(), String> {
    let certificates = Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| format!("it holds no certificate a TLS client can use ({e})"))?;
    if certificates.is_empty() {
        return Err("it holds no PEM certificate".into());
    }
    // The verifier must accept them as roots, or every client would fail to build.
    install_provider();
    reqwest::Client::builder()
        .tls_certs_merge(certificates)
        .build()
        .map_err(|e| format!("its certificates cannot be trusted as roots ({})", chain(&e)))?;
    let mut trusted = TRUSTED.write().expect("not poisoned");
    if !trusted.iter().any(|t| t.pem == pem) {
        trusted.push(TrustedCa { source: source.to_string(), pem: pem.to_string() });
    }
    Ok(())
}

/// Every CA the run trusts besides the system's roots.
pub fn trusted() -> Vec<TrustedCa> {
    TRUSTED.read().expect("not poisoned").clone()
}

pub(super) fn trusted_certificates() -> Vec<Certificate> {
    trusted().iter().flat_map(|ca| Certificate::from_pem_bundle(ca.pem.as_bytes()).unwrap_or_default()).collect()
}

/// What went wrong with a request that got no HTTP answer, said as what it is:
/// a TLS failure names the URL's host, the kind of failure and what to do; a
/// refused connection says nothing listens; a timeout says so.
pub fn explain(error: &reqwest::Error) -> String {
    let host = error.url().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_else(|| "the server".into());
    if let Some(tls) = find::<TlsError>(error) {
        return explain_tls(tls, &host);
    }
    if error.is_timeout() {
        return "no answer in time".into();
    }
    let text = chain(error);
    if error.is_connect() {
        if text.contains("Connection refused") {
            return "nothing accepts connections there (connection refused)".into();
        }
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return format!("the name {host} does not resolve");
        }
        return format!("the connection failed ({text})");
    }
    text
}

/// Whether the request failed in its TLS handshake (a problem waiting will
/// not solve: a probe stops at once).
pub fn is_tls_failure(error: &reqwest::Error) -> bool {
    find::<TlsError>(error).is_some()
}

fn explain_tls(error: &TlsError, host: &str) -> String {
    let trust = format!("set {CA_VARIABLE} to the PEM file of the CA that signed it ({})", trusted_list());
    match error {
        TlsError::InvalidCertificate(problem) => match problem {
            CertificateError::UnknownIssuer => {
                format!("TLS: the certificate {host} presents is signed by a CA the suite does not trust (unknown issuer); {trust}")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => format!(
                "TLS: the certificate {host} presents is not valid for the name {host} (name mismatch: {}); use a URL with a name the certificate lists, or fix the certificate",
                listed_names(problem)
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("TLS: the certificate {host} presents has expired ({}); renew it", error_text(problem))
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("TLS: the certificate {host} presents is not valid yet ({}); check this machine's clock", error_text(problem))
            }
            CertificateError::Revoked => format!("TLS: the certificate {host} presents is revoked"),
            CertificateError::BadSignature => format!("TLS: the certificate {host} presents has a bad signature; {trust}"),
            CertificateError::Other(other) if other.to_string().contains("UnknownIssuer") || other.to_string().to_lowercase().contains("unknown issuer") => {
                format!("TLS: the certificate {host} presents is signed by a CA the suite does not trust (unknown issuer); {trust}")
            }
            other => format!("TLS: the certificate {host} presents was refused ({}); {trust}", error_text(other)),
        },
        TlsError::InvalidMessage(_) | TlsError::InappropriateMessage { .. } | TlsError::InappropriateHandshakeMessage { .. } => format!(
            "TLS: {host} does not speak TLS on that port (its answer is not a TLS handshake: is it plain HTTP? then use an http:// URL)"
        ),
        TlsError::AlertReceived(alert) => format!("TLS: {host} refused the handshake (alert {alert:?})"),
        TlsError::PeerIncompatible(why) => format!("TLS: {host} and the suite have no TLS version or cipher in common ({why:?})"),
        other => format!("TLS: the handshake with {host} failed ({other})"),
    }
}

fn listed_names(problem: &CertificateError) -> String {
    match problem {
        CertificateError::NotValidForNameContext { presented, .. } if !presented.is_empty() => format!("it lists {}", presented.join(", ")),
        _ => "it lists other names".into(),
    }
}

fn error_text(problem: &CertificateError) -> String {
    TlsError::InvalidCertificate(problem.clone()).to_string()
}

fn trusted_list() -> String {
    let trusted = trusted();
    if trusted.is_empty() {
        format!("only the system's roots are trusted now: {CA_VARIABLE} is not set")
    } else {
        format!("trusted now: the system's roots and {}", trusted.iter().map(|t| t.source.clone()).collect::<Vec<_>>().join(", "))
    }
}

/// The first error of type `E` in `error`'s chain of sources, looking inside
/// the I/O errors that wrap TLS errors too (`io::Error::source` skips the
/// error it wraps).
fn find<'a, E: std::error::Error + 'static>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a E> {
    let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            if let Some(found) = inner.downcast_ref::<E>() {
                return Some(found);
            }
            if let Some(found) = find::<E>(inner) {
                return Some(found);
            }
        }
        current = e.source();
    }
    None
}

/// An error and its sources, as one line.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut current = error.source();
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}
