//! `conformance.yml`: what the suite needs to know about a deployment that its
//! Kratos configuration does not say. It is optional and lives beside
//! `kratos.yml`:
//!
//! ```yaml
//! # Values or generators for traits the suite cannot generate from the schema.
//! traits:
//!   phone: "+4915112345678"            # a fixed value
//!   username: { pattern: "^[a-z]{12}$" } # strings that match this regex
//!   region: { one_of: [eu, us] }         # one of these values
//! # Where the fake identities' mail goes: a reserved test domain (RFC 2606).
//! mail_domain: example.org
//! # What the team expects of its deployment; a difference is reported first.
//! expect:
//!   totp: enabled                        # enabled (default) | disabled | any
//!   lookup_secret: enabled               # enabled | disabled | any (default)
//!   whoami_required_aal: highest_available
//!   settings_required_aal: highest_available
//!   return_urls: restricted              # restricted (default) | any
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::SetupError;

pub const FILE_NAME: &str = "conformance.yml";

/// The default mail domain: reserved for documentation and tests (RFC 2606), so
/// no mail of a run ever reaches a person.
pub const DEFAULT_MAIL_DOMAIN: &str = "example.org";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamFile {
    #[serde(default)]
    pub traits: BTreeMap<String, TraitPin>,
    pub mail_domain: Option<String>,
    #[serde(default)]
    pub expect: Expectations,
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// How the suite fills one trait instead of generating it from the schema.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TraitPin {
    /// `{ pattern: "..." }`: strings matching this regex.
    Pattern {
        pattern: String,
    },
    /// `{ one_of: [...] }`: one of these values.
    OneOf {
        one_of: Vec<Value>,
    },
    /// `{ value: ... }` or a bare value: exactly this.
    Value {
        value: Value,
    },
    Bare(Value),
}

impl TraitPin {
    /// The fixed value, if the pin is one.
    pub fn fixed(&self) -> Option<&Value> {
        match self {
            TraitPin::Value { value } | TraitPin::Bare(value) => Some(value),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Toggle {
    Enabled,
    Disabled,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnUrlPolicy {
    /// Every allow-list entry names its host (wildcard subdomains are fine).
    Restricted,
    Any,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    pub totp: Option<Toggle>,
    pub lookup_secret: Option<Toggle>,
    pub whoami_required_aal: Option<String>,
    pub settings_required_aal: Option<String>,
    pub return_urls: Option<ReturnUrlPolicy>,
}

impl TeamFile {
    /// `<dir>/conformance.yml`, or the defaults where there is none.
    pub fn load(dir: &Path) -> Result<TeamFile, SetupError> {
        let path = dir.join(FILE_NAME);
        if !path.is_file() {
            return Ok(TeamFile::default());
        }
        let value = super::config::read_yaml(&path)?;
        let mut file: TeamFile = serde_json::from_value(value).map_err(|e| {
            SetupError::Config(format!("{} is not valid: {e} (see the README, \"conformance.yml\")", path.display()))
        })?;
        for aal in [&file.expect.whoami_required_aal, &file.expect.settings_required_aal].into_iter().flatten() {
            if !matches!(aal.as_str(), "aal1" | "highest_available") {
                return Err(SetupError::Config(format!(
                    "{}: expect: required_aal \"{aal}\" is not one of aal1, highest_available",
                    path.display()
                )));
            }
        }
        if let Some(domain) = &file.mail_domain
            && !is_reserved_test_domain(domain) {
                return Err(SetupError::Config(format!(
                    "{}: mail_domain \"{domain}\" is not a reserved test domain; use example.org, example.com, example.net or a name under .test, .example or .invalid, so no mail of a run reaches a person",
                    path.display()
                )));
            }
        file.path = Some(path);
        Ok(file)
    }

    pub fn mail_domain(&self) -> &str {
        self.mail_domain.as_deref().unwrap_or(DEFAULT_MAIL_DOMAIN)
    }
}

/// RFC 2606 / RFC 6761 names that never deliver mail to anyone.
fn is_reserved_test_domain(domain: &str) -> bool {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    ["example.org", "example.com", "example.net"].iter().any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
        || [".test", ".example", ".invalid", ".localhost"].iter().any(|tld| domain.ends_with(tld))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pins_of_every_form_parse() {
        let file: TeamFile = serde_json::from_value(json!({
            "traits": {
                "phone": "+4915112345678",
                "username": {"pattern": "^[a-z]{12}$"},
                "region": {"one_of": ["eu", "us"]},
                "name": {"first": "Ann", "last": "Lee"},
                "tenant": {"value": {"id": 1}}
            }
        }))
        .unwrap();
        assert_eq!(file.traits["phone"], TraitPin::Bare(json!("+4915112345678")));
        assert_eq!(file.traits["username"], TraitPin::Pattern { pattern: "^[a-z]{12}$".into() });
        assert_eq!(file.traits["region"], TraitPin::OneOf { one_of: vec![json!("eu"), json!("us")] });
        assert_eq!(file.traits["name"].fixed(), Some(&json!({"first": "Ann", "last": "Lee"})));
        assert_eq!(file.traits["tenant"].fixed(), Some(&json!({"id": 1})));
    }

    #[test]
    fn only_reserved_domains_receive_mail() {
        for ok in ["example.org", "mail.example.com", "acme.test", "x.invalid"] {
            assert!(is_reserved_test_domain(ok), "{ok}");
        }
        for bad in ["gmail.com", "acme.com", "example.org.evil.com"] {
            assert!(!is_reserved_test_domain(bad), "{bad}");
        }
    }
}
