//! What the suite changes when it runs a configuration itself (the `process` and
//! `container` backends), all through Kratos' environment variables so the
//! configuration files stay exactly as the team wrote them. Only settings that
//! are not under test change, and every run's summary lists them:
//!
//! - the database: the suite's own in-memory SQLite (`DSN=memory`), so a run
//!   starts empty and leaves nothing behind;
//! - where Kratos listens and the base URLs it builds links from: the loopback
//!   addresses the suite chose;
//! - the identity schema URLs, when a `file://` URL names a path that only exists
//!   where the team deploys (`/etc/config/kratos/...`): the same file from the
//!   configuration folder;
//! - password hashing cost (bcrypt 4, argon2 minimal) and the unknown-identifier
//!   delay: they make a login take 0.6 s instead of milliseconds, and what they
//!   protect against is not what the suite tests;
//! - breached-password lookups at Have I Been Pwned: a test run's passwords are
//!   nobody's, and the lookup is a call to a third party (15 s without a network);
//! - the derivations a scenario needs ([`crate::deployment::Derivation`]).
//!
//! Kratos runs with `--dev` (required for the lower hashing cost); no mail is
//! sent, since the courier only runs with `--watch-courier`.

use std::path::Path;

use serde_json::{Value, json};

use crate::deployment::{Derivation, IdentitySchema, RawConfig};

/// One environment variable and why the suite sets it.
#[derive(Debug, Clone)]
pub struct Override {
    pub name: String,
    pub value: String,
}

/// `selfservice.flows.login.lifespan` → `SELFSERVICE_FLOWS_LOGIN_LIFESPAN`.
pub fn env_name(dotted: &str) -> String {
    dotted.replace('.', "_").to_ascii_uppercase()
}

/// The settings the suite changes for every configuration it runs, whatever the
/// addresses: the database and the hashing cost.
pub fn not_under_test() -> Vec<Override> {
    [
        ("DSN", "memory"),
        ("HASHERS_BCRYPT_COST", "4"),
        ("HASHERS_ARGON2_MEMORY", "64KB"),
        ("HASHERS_ARGON2_ITERATIONS", "1"),
        ("HASHERS_ARGON2_PARALLELISM", "1"),
        ("HASHERS_ARGON2_EXPECTED_DURATION", "10ms"),
        ("HASHERS_ARGON2_EXPECTED_DEVIATION", "5ms"),
        // Kratos' default asks a third party (api.pwnedpasswords.com) about
        // every new password: from a test run, not wanted; without a network,
        // 15 s per registration.
        ("SELFSERVICE_METHODS_PASSWORD_CONFIG_HAVEIBEENPWNED_ENABLED", "false"),
    ]
    .into_iter()
    .map(|(name, value)| Override { name: name.into(), value: value.into() })
    .collect()
}

/// What the production topology changes of [`not_under_test`]: the team's own
/// password hashing stays (outside `--dev` Kratos raises a bcrypt cost below
/// 12 to 12 anyway, and that cost is part of how production behaves); and
/// where the configuration sets no `secrets.default` (nor `secrets.cookie`),
/// its replicas share one secret of the run's making, as a deployment's
/// secret store gives every replica the same. Without it each replica would
/// choose its own at random, and a session made on one would be refused by
/// the others: that misconfiguration is what a team's own deployment is
/// checked for, not something the suite should bring about.
pub fn for_production(env: &mut Vec<Override>, config: &RawConfig) {
    env.retain(|o| !o.name.starts_with("HASHERS_"));
    if secrets_missing(config) {
        env.push(Override { name: "SECRETS_DEFAULT".into(), value: Value::Array(vec![Value::String(run_secret().to_string())]).to_string() });
    }
}

/// Whether the configuration leaves Kratos to choose its secrets itself.
pub fn secrets_missing(config: &RawConfig) -> bool {
    let set = |key: &str| config.get(key).and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    !set("secrets.default") && !set("secrets.cookie")
}

/// A secret of the run's own, the same for every replica and instance.
fn run_secret() -> &'static str {
    static SECRET: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SECRET.get_or_init(|| {
        let secret = crate::random::nonce(32);
        crate::redact::register(secret.clone());
        secret
    })
}

/// The derivations' settings as environment variables (lists as JSON, which
/// Kratos reads for list settings, as for `IDENTITY_SCHEMAS`).
///
/// Kratos lays a list from the environment over the file's list entry by entry
/// (measured on v1.3.1: `SELFSERVICE_ALLOWED_RETURN_URLS='["https://a/"]'` over
/// a file's two entries leaves the second in force), so a derivation never
/// sets a list shorter than the file's ([`crate::deployment::padded_to`]).
pub fn derivations(derived: &[Derivation], base: &crate::deployment::RawConfig, instance: &str, origins: Option<&crate::deployment::SuiteOrigins>) -> Vec<Override> {
    derived
        .iter()
        .flat_map(|d| d.settings(base, instance, origins))
        .map(|(key, value)| Override {
            name: env_name(key),
            value: match value {
                Value::String(s) => s,
                other => other.to_string(),
            },
        })
        .collect()
}

/// `IDENTITY_SCHEMAS` with every `file://` schema pointing where the Kratos being
/// started finds it: `place(local file)` gives that location (the local path for
/// a process, the path inside a container). Other URLs stay as written.
pub fn identity_schemas(schemas: &[IdentitySchema], place: impl Fn(&Path) -> String) -> Override {
    let entries: Vec<Value> = schemas
        .iter()
        .map(|s| {
            let url = match &s.local_file {
                Some(file) if s.url.starts_with("file://") => format!("file://{}", place(file)),
                _ => s.url.clone(),
            };
            json!({"id": s.id, "url": url})
        })
        .collect();
    Override { name: "IDENTITY_SCHEMAS".into(), value: Value::Array(entries).to_string() }
}

/// What the summary says the suite changed.
pub fn describe(settings: &super::Settings, config: Option<&RawConfig>) -> Vec<String> {
    use super::Topology;
    let database = match settings.database {
        super::database::DatabaseKind::Sqlite => "database: its own in-memory SQLite (DSN=memory)".to_string(),
        super::database::DatabaseKind::Postgres => "database: a database of the run's own PostgreSQL per instance (DSN)".to_string(),
    };
    let mut lines = vec![database];
    match settings.topology {
        Topology::Dev => {
            lines.push("listen addresses and base URLs: loopback ports of its own".into());
            lines.push("password hashing: bcrypt cost 4, argon2 minimal, unknown-identifier delay 10 ms (--dev)".into());
        }
        Topology::Production => {
            lines.push(format!(
                "{} replicas per instance without --dev, listening on loopback ports, base URL the reverse proxy's https:// address (serve.public.base_url)",
                settings.replicas
            ));
            if config.is_some_and(secrets_missing) {
                lines.push("secrets.default: one secret of the run's own for every replica (the configuration sets none)".into());
            }
        }
    }
    lines.push("no breached-password lookups (haveibeenpwned_enabled: false)".into());
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_kratos() {
        assert_eq!(env_name("selfservice.flows.settings.privileged_session_max_age"), "SELFSERVICE_FLOWS_SETTINGS_PRIVILEGED_SESSION_MAX_AGE");
        let env = derivations(&[Derivation::ShortFlowLifespans], &crate::deployment::RawConfig::from_value(json!({})), "strict", None);
        assert!(env.iter().any(|o| o.name == "SELFSERVICE_FLOWS_LOGIN_LIFESPAN" && o.value == format!("{}s", crate::deployment::SHORT_LIFESPAN.as_secs())));
    }

    #[test]
    fn file_schemas_are_placed_and_others_kept() {
        let file = IdentitySchema::from_document("a", "file:///etc/config/kratos/a.json", Some("/tmp/x/a.json".into()), json!({}));
        let inline = IdentitySchema::from_document("b", "base64://e30=", None, json!({}));
        let env = identity_schemas(&[file, inline], |p| format!("/inside{}", p.display()));
        assert_eq!(env.value, r#"[{"id":"a","url":"file:///inside/tmp/x/a.json"},{"id":"b","url":"base64://e30="}]"#);
    }
}
