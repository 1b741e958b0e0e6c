//! What a run of the production topology has besides its instances: its own
//! certificate authority (trusted by the run's clients and browser from the
//! moment it is made), a server certificate per host name, and the folder of
//! the run's proxies and certificates (`production/<run id>/` of the report
//! folder, removed when the run ends).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::net::authority::{Authority, Validity};

use super::SetupError;

/// A misconfiguration the suite's own tests give the production topology on
/// purpose (`KRATOS_SELF_TEST_FAULT`), to see the run refuse it in its first
/// lines ([`crate::preflight`]). Not for verifying a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The last replica gets a `secrets.cookie` of its own.
    ReplicaCookieSecret,
    /// `serve.public.base_url` is the proxy's address on `http://`.
    HttpBaseUrl,
    /// The proxy does not send `X-Forwarded-Proto`.
    NoForwardedProto,
    /// The proxy sends neither the client's `Host` nor `X-Forwarded-Host`.
    NoForwardedHost,
}

impl Fault {
    const ALL: [(&'static str, Fault); 4] = [
        ("replica-cookie-secret", Fault::ReplicaCookieSecret),
        ("http-base-url", Fault::HttpBaseUrl),
        ("no-forwarded-proto", Fault::NoForwardedProto),
        ("no-forwarded-host", Fault::NoForwardedHost),
    ];

    pub fn parse(value: &str) -> Result<Fault, String> {
        Self::ALL.iter().find(|(name, _)| *name == value).map(|(_, fault)| *fault).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|(name, _)| *name).collect();
            format!("KRATOS_SELF_TEST_FAULT={value} is not one of: {}", names.join(", "))
        })
    }
}

pub struct Production {
    pub authority: Authority,
    /// `production/<run id>/`: `ca.pem`, `certificates/`, `proxies/<instance>/`.
    pub dir: PathBuf,
    issued: Mutex<BTreeMap<String, (PathBuf, PathBuf)>>,
}

impl std::fmt::Debug for Production {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Production").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Production {
    /// Makes the run's CA in `root/<run id>/` and trusts it.
    pub fn prepare(root: &Path, run_id: &str) -> Result<Production, SetupError> {
        let fail = |e: String| SetupError::Start(format!("the production topology's CA: {e}"));
        super::process::prune(root, &root.join(run_id));
        let dir = root.join(run_id);
        std::fs::create_dir_all(&dir).map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
        let authority = Authority::new(&format!("kratos-conformance run {run_id}")).map_err(fail)?;
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &authority.certificate_pem).map_err(|e| fail(format!("cannot write {}: {e}", ca.display())))?;
        crate::net::tls::trust_pem(&format!("the run's own CA ({})", ca.display()), &authority.certificate_pem).map_err(fail)?;
        Ok(Production { authority, dir, issued: Default::default() })
    }

    /// Where the CA's certificate is (for `curl --cacert`, and the summary).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The certificate and key files for `host`, issued once per run.
    pub fn certificate_for(&self, host: &str) -> Result<(PathBuf, PathBuf), String> {
        let mut issued = self.issued.lock().expect("not poisoned");
        if let Some(files) = issued.get(host) {
            return Ok(files.clone());
        }
        let certificate = self.authority.issue(&[host.to_string()], Validity::Current)?;
        let files = certificate.write(&self.dir.join("certificates"), host, &self.authority)?;
        issued.insert(host.to_string(), files.clone());
        Ok(files)
    }

    /// Removes the run's folder (its proxies are stopped by then).
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
