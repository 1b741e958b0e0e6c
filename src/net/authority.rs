//! The run's own certificate authority, for the TLS the suite terminates
//! itself: the reverse proxy in front of Kratos' replicas (production
//! topology) and the suite's own origin for the browser. Made when the run
//! starts (rcgen), never written anywhere but the run's folder, and trusted by
//! the run's clients and browser only ([`super::tls::trust_pem`]).
//!
//! Server certificates are short-lived (a day either side of now) and list
//! exactly the names the run gives its listeners, so a client that reaches a
//! listener under another name fails as it would in production.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use time::OffsetDateTime;

/// The run's CA: its certificate (PEM) and the key that signs server certificates.
pub struct Authority {
    /// How the CA names itself (its common name), for messages.
    pub name: String,
    /// The CA's certificate, PEM.
    pub certificate_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").field("name", &self.name).finish_non_exhaustive()
    }
}

/// A server certificate and its key, as PEM, for the names it lists.
#[derive(Clone)]
pub struct ServerCertificate {
    pub names: Vec<String>,
    pub certificate_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCertificate").field("names", &self.names).finish_non_exhaustive()
    }
}

/// When a server certificate is valid, relative to now.
#[derive(Debug, Clone, Copy)]
pub enum Validity {
    /// From a day ago to a day from now.
    Current,
    /// It ended before now (for the suite's own tests of an expired certificate).
    Expired,
}

impl Authority {
    /// A new CA named `name` (its common name), valid for a week either side of now.
    pub fn new(name: &str) -> Result<Authority, String> {
        let key = KeyPair::generate().map_err(|e| format!("cannot make a key for the run's CA: {e}"))?;
        let mut params = CertificateParams::default();
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, name);
        subject.push(DnType::OrganizationName, "kratos-conformance (a test run's own CA)");
        params.distinguished_name = subject;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::from_secs(7 * 86_400);
        params.not_after = now + Duration::from_secs(7 * 86_400);
        let certificate = params.self_signed(&key).map_err(|e| format!("cannot sign the run's CA certificate: {e}"))?;
        Ok(Authority { name: name.to_string(), certificate_pem: certificate.pem(), issuer: Issuer::new(params, key) })
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn issue(&self, names: &[String], validity: Validity) -> Result<ServerCertificate, String> {
        let key = KeyPair::generate().map_err(|e| format!("cannot make a server key: {e}"))?;
        let mut params = CertificateParams::new(names.to_vec()).map_err(|e| format!("cannot make a certificate for {}: {e}", names.join(", ")))?;
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, names.first().cloned().unwrap_or_default());
        params.distinguished_name = subject;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        let day = Duration::from_secs(86_400);
        (params.not_before, params.not_after) = match validity {
            Validity::Current => (now - day, now + day),
            Validity::Expired => (now - day * 3, now - day),
        };
        let certificate = params.signed_by(&key, &self.issuer).map_err(|e| format!("cannot sign a certificate for {}: {e}", names.join(", ")))?;
        Ok(ServerCertificate { names: names.to_vec(), certificate_pem: certificate.pem(), key_pem: key.serialize_pem() })
    }
}

impl ServerCertificate {
    /// Writes `<stem>.pem` (the certificate, then the CA's, as a server sends
    /// its chain) and `<stem>-key.pem` (mode 0600) into `dir`; their paths.
    pub fn write(&self, dir: &Path, stem: &str, authority: &Authority) -> Result<(PathBuf, PathBuf), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let certificate = dir.join(format!("{stem}.pem"));
        let key = dir.join(format!("{stem}-key.pem"));
        std::fs::write(&certificate, format!("{}{}", self.certificate_pem, authority.certificate_pem))
            .map_err(|e| format!("cannot write {}: {e}", certificate.display()))?;
        write_private(&key, &self.key_pem)?;
        Ok((certificate, key))
    }
}

impl ServerCertificate {
    /// A rustls server configuration that presents this certificate (and the
    /// CA's after it, as a server sends its chain), for the suite's own TLS
    /// listeners.
    pub fn server_config(&self, authority: &Authority) -> Result<std::sync::Arc<rustls::ServerConfig>, String> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        super::tls::install_provider();
        let chain = [&self.certificate_pem, &authority.certificate_pem]
            .into_iter()
            .map(|pem| CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("the certificate for {} does not parse: {e}", self.names.join(", "))))
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|e| format!("the key for {} does not parse: {e}", self.names.join(", ")))?;
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("rustls refuses the certificate for {}: {e}", self.names.join(", ")))?;
        Ok(std::sync::Arc::new(config))
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_certificate_names_exactly_its_hosts_and_chains_to_the_ca() {
        use rustls::pki_types::pem::PemObject as _;
        let ca = Authority::new("kratos-conformance test CA").unwrap();
        let leaf = ca.issue(&["auth.example.test".into(), "127.0.0.1".into()], Validity::Current).unwrap();
        assert!(ca.certificate_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(leaf.certificate_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(leaf.key_pem.contains("PRIVATE KEY"));
        // rustls accepts the CA as a root and the leaf for its name.
        super::super::tls::install_provider();
        let mut roots = rustls::RootCertStore::empty();
        let ca_der = rustls::pki_types::CertificateDer::from_pem_slice(ca.certificate_pem.as_bytes()).unwrap();
        roots.add(ca_der).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder(std::sync::Arc::new(roots)).build().unwrap();
        let leaf_der = rustls::pki_types::CertificateDer::from_pem_slice(leaf.certificate_pem.as_bytes()).unwrap();
        let now = rustls::pki_types::UnixTime::now();
        let name = rustls::pki_types::ServerName::try_from("auth.example.test").unwrap();
        use rustls::client::danger::ServerCertVerifier as _;
        assert!(verifier.verify_server_cert(&leaf_der, &[], &name, &[], now).is_ok());
        let other = rustls::pki_types::ServerName::try_from("other.example.test").unwrap();
        let refused = verifier.verify_server_cert(&leaf_der, &[], &other, &[], now).unwrap_err();
        assert!(matches!(refused, rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext { .. } | rustls::CertificateError::NotValidForName)), "{refused:?}");
    }
}
