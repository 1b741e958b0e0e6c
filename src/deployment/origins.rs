//! Where the suite serves its own pages to a real browser, as the deployment
//! under test must name them: the origins its CORS allows and its UI URLs
//! point at on an instance the suite derives for the browser
//! ([`super::Derivation::BrowserOrigin`]). The pages are served by
//! [`crate::browser::origin`]; this is only where they are, a value of the run
//! that the launcher hands every description it makes.

use url::Url;

/// The site of the other-site origin over HTTPS: one no deployment is on.
pub const OTHER_SITE: &str = "kratos-conformance-other-site.test";

/// Where the suite serves its pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteOrigins {
    /// `http://127.0.0.1:<port>` (over HTTPS `https://app.<Kratos' site>:<port>`):
    /// allowed by the derived instance's CORS.
    pub allowed: Url,
    /// `http://localhost:<port>` (over HTTPS `https://app.`[`OTHER_SITE`]`:<port>`):
    /// the same server, another site than Kratos' (allowed by CORS too).
    pub other_site: Url,
    /// The allowed origin's host on another port: allowed by nobody.
    pub refused: Url,
}

impl SuiteOrigins {
    /// An origin as the `Origin` header and CORS' `allowed_origins` spell it
    /// (no trailing slash).
    pub fn origin(url: &Url) -> String {
        url.as_str().trim_end_matches('/').to_string()
    }

    /// A page of the suite for `instance` on `origin`: `spa`, `login`, ...
    pub fn page(origin: &Url, instance: &str, page: &str) -> Url {
        let mut url = origin.clone();
        url.set_path(&format!("/i/{instance}/{page}"));
        url
    }

    /// Whether the pages go over HTTPS (where the suite terminates TLS itself).
    pub fn over_https(&self) -> bool {
        self.allowed.scheme() == "https"
    }

    /// The host names of the pages over HTTPS, same site as `kratos_host` (its
    /// parent domain, where it has one below a registrable name) and on
    /// another: `(allowed, other site)`.
    pub fn https_hosts(kratos_host: &str) -> (String, String) {
        let labels: Vec<&str> = kratos_host.split('.').collect();
        let site = if labels.len() >= 3 { labels[1..].join(".") } else { kratos_host.to_string() };
        (format!("app.{site}"), format!("app.{OTHER_SITE}"))
    }
}
