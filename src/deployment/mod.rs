//! The deployment under test, described once: what its configuration makes
//! Kratos do, read from the configuration the suite is given
//! (`KRATOS_CONFIG_DIR`). Every expectation of a step comes from here (URLs,
//! schemas, identifiers, issuer, cookie names, AAL rules, lifespans), never from
//! this repository's `kratos-config/`.
//!
//! - [`config`]: `kratos.yml`, its variants and the suite's derived overlays;
//! - [`schema`]: identity schemas and what their traits are for;
//! - [`team`]: `conformance.yml`, what Kratos' configuration does not say;
//! - [`needs`]: what a scenario needs of a deployment, and why one does not meet it;
//! - [`expectations`]: the team's expectations, checked before any scenario.

pub mod config;
pub mod expectations;
pub mod hosts;
pub mod needs;
pub mod origins;
pub mod schema;
pub mod team;
pub mod wire;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

pub use config::{ConfigDir, RawConfig};
pub use origins::SuiteOrigins;
pub use schema::{IdentitySchema, Trait};
pub use team::TeamFile;

use crate::error::SetupError;

/// Kratos v1.3.1's defaults for the keys the description reads
/// (`embedx/config.schema.json`, `driver/config/config.go`).
pub mod defaults {
    pub const FLOW_LIFESPAN: &str = "1h";
    pub const PRIVILEGED_SESSION_MAX_AGE: &str = "1h";
    pub const SESSION_LIFESPAN: &str = "24h";
    pub const SESSION_COOKIE_NAME: &str = "ory_kratos_session";
    pub const SAME_SITE: &str = "Lax";
    pub const COOKIE_PATH: &str = "/";
    pub const REQUIRED_AAL: &str = "highest_available";
    pub const FALLBACK_UI: &str = "https://www.ory.sh/kratos/docs/fallback/";
    pub const VERIFICATION_USE: &str = "code";
    pub const RECOVERY_USE: &str = "code";
    pub const MIN_PASSWORD_LENGTH: usize = 8;
}

/// An authenticator assurance level rule: `aal1` or `highest_available`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AalRule {
    Aal1,
    HighestAvailable,
}

impl AalRule {
    pub fn parse(text: &str) -> Option<AalRule> {
        match text {
            "aal1" => Some(AalRule::Aal1),
            "highest_available" => Some(AalRule::HighestAvailable),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AalRule::Aal1 => "aal1",
            AalRule::HighestAvailable => "highest_available",
        }
    }
}

/// A change the suite makes to a configuration for settings that are not
/// themselves under test: so that expiry and re-authentication scenarios wait
/// seconds, not the deployment's hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Derivation {
    /// Login, registration and settings flows expire after [`SHORT_LIFESPAN`].
    ShortFlowLifespans,
    /// A sign-in counts as recent for [`SHORT_PRIVILEGED_SESSION`] only.
    ShortPrivilegedSession,
    /// Sessions end [`SHORT_SESSION_LIFESPAN`] after they were authenticated.
    ShortSessionLifespan,
    /// The suite's own origin for a real browser ([`crate::browser::origin`]):
    /// CORS allows it (and the same server as another site, `localhost`), its
    /// pages are the login, settings and error UI, and return URLs may point
    /// at it. The rest of CORS (credentials, headers, methods) and the cookies
    /// stay as configured: they are what the browser scenarios are about.
    BrowserOrigin,
    /// Started on the database of the previous configuration
    /// (`KRATOS_PREVIOUS_CONFIG_DIR`), with the identities created there
    /// ([`crate::schema_change`]). Nothing of the configuration changes.
    AfterChange,
    /// Kratos' cookies `SameSite=None` (`cookies.same_site` and
    /// `session.cookie.same_site`), for an SPA on another site; only in the
    /// production topology, since `--dev` drops `Secure`, without which a
    /// browser refuses `SameSite=None`.
    CrossSiteCookies,
    /// One stage of a rotation of `secrets.cookie`, all stages on one database
    /// at once, as in a rolling deployment ([`CookieSecrets`]).
    CookieSecret(CookieSecrets),
    /// One setting turned to the side the configuration does not take, for
    /// the scenarios that describe that side ([`OtherSide`]).
    OtherSide(OtherSide),
}

/// A setting the configuration takes one side of, turned to the other: where
/// the suite starts Kratos, the scenarios that describe the other side run on
/// the team's configuration with that one setting changed, rather than not at
/// all. The run's summary names every such instance and what it changed; the
/// rest of the configuration (schemas, URLs, cookies, hooks) stays the team's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OtherSide {
    /// `session.whoami.required_aal`.
    WhoamiAal(AalRule),
    /// `selfservice.flows.settings.required_aal`.
    SettingsAal(AalRule),
    /// `selfservice.flows.login.style`: `identifier_first` (true) or `unified`.
    IdentifierFirstLogin(bool),
    /// `selfservice.flows.registration.enable_legacy_one_step`.
    OneStepRegistration(bool),
    /// A method or self-service flow on (true) or off.
    Switched(Switch, bool),
    /// `session.earliest_possible_extend`: a new session extended at once
    /// (true: the window is the session lifespan) or only later (half of it).
    ExtendsAtOnce(bool),
    /// `selfservice.allowed_return_urls` admitting the settings UI (true: it
    /// is added) or not (false: the entries that admit it are left out).
    SettingsUiReturn(bool),
    /// `serve.public.cors` on, with an allow-list that leaves some origin out:
    /// the configured origins but `*`, or the suite's own where none is left.
    RestrictedCors,
}

/// `list`, made as long as the file's list of `in_file` entries with
/// `filler(i)` for each missing entry `i`: Kratos lays a list from the
/// environment over the file's entry by entry, so a shorter one would leave
/// the file's last entries in force (measured on v1.3.1). The fillers must be
/// distinct where Kratos wants unique items (`secrets.cookie`), and harmless:
/// return URLs under `.invalid` (reserved, RFC 2606), secrets nobody signs with.
pub fn padded_to(mut list: Vec<String>, in_file: usize, filler: impl Fn(usize) -> String) -> Vec<String> {
    for i in 0..in_file.saturating_sub(list.len()) {
        list.push(filler(i));
    }
    list
}

/// What [`OtherSide::Switched`] turns on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Switch {
    Totp,
    LookupSecret,
    Registration,
    Recovery,
}

impl Switch {
    /// The tag's word for it (`@needs:lookup_secret`, `@disabled:recovery`).
    pub fn parse(word: &str) -> Option<Switch> {
        match word {
            "totp" => Some(Switch::Totp),
            "lookup_secret" => Some(Switch::LookupSecret),
            "registration" => Some(Switch::Registration),
            "recovery" => Some(Switch::Recovery),
            _ => None,
        }
    }

    /// The setting that turns it on or off.
    pub fn setting(self) -> &'static str {
        match self {
            Switch::Totp => "selfservice.methods.totp.enabled",
            Switch::LookupSecret => "selfservice.methods.lookup_secret.enabled",
            Switch::Registration => "selfservice.flows.registration.enabled",
            Switch::Recovery => "selfservice.flows.recovery.enabled",
        }
    }
}

impl OtherSide {
    /// The settings it changes in the configuration `base`.
    pub fn settings(self, base: &RawConfig) -> Vec<(&'static str, Value)> {
        let session_lifespan = base
            .str("session.lifespan")
            .and_then(|v| humantime::parse_duration(v).ok())
            .unwrap_or(Duration::from_secs(24 * 3600));
        match self {
            OtherSide::WhoamiAal(rule) => vec![("session.whoami.required_aal", Value::String(rule.name().into()))],
            OtherSide::SettingsAal(rule) => vec![("selfservice.flows.settings.required_aal", Value::String(rule.name().into()))],
            OtherSide::IdentifierFirstLogin(first) => {
                vec![("selfservice.flows.login.style", Value::String(if first { "identifier_first" } else { "unified" }.into()))]
            }
            OtherSide::OneStepRegistration(one) => vec![("selfservice.flows.registration.enable_legacy_one_step", Value::Bool(one))],
            OtherSide::Switched(Switch::Recovery, true) => vec![
                (Switch::Recovery.setting(), Value::Bool(true)),
                // The recovery scenarios recover by code, Kratos' default.
                ("selfservice.flows.recovery.use", Value::String("code".into())),
            ],
            OtherSide::Switched(switch, on) => vec![(switch.setting(), Value::Bool(on))],
            OtherSide::ExtendsAtOnce(at_once) => {
                let window = if at_once { session_lifespan } else { session_lifespan / 2 };
                // Go's durations, which Kratos parses, are written without spaces.
                vec![("session.earliest_possible_extend", Value::String(format!("{}s", window.as_secs().max(1))))]
            }
            OtherSide::RestrictedCors => {
                let listed = base.strings("serve.public.cors.allowed_origins");
                let mut origins: Vec<String> = listed.iter().filter(|o| !o.contains('*')).cloned().collect();
                if origins.is_empty() {
                    origins.push(CORS_SUITE_ORIGIN.to_string());
                }
                let origins = padded_to(origins, listed.len(), |i| format!("https://nowhere-{}.invalid", i + 1));
                vec![
                    ("serve.public.cors.enabled", Value::Bool(true)),
                    ("serve.public.cors.allowed_origins", Value::Array(origins.into_iter().map(Value::String).collect())),
                ]
            }
            OtherSide::SettingsUiReturn(admitted) => {
                let settings_ui = base.str("selfservice.flows.settings.ui_url").unwrap_or_default().to_string();
                let mut allowed = base.strings("selfservice.allowed_return_urls");
                if admitted {
                    allowed.push(settings_ui);
                } else {
                    let in_file = allowed.len();
                    allowed.retain(|entry| expectations::admitting_entry(std::slice::from_ref(entry), &settings_ui).is_none());
                    allowed = padded_to(allowed, in_file, |i| format!("https://nowhere-{}.invalid/", i + 1));
                }
                vec![("selfservice.allowed_return_urls", Value::Array(allowed.into_iter().map(Value::String).collect()))]
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OtherSide::WhoamiAal(AalRule::Aal1) => "whoami-aal1",
            OtherSide::WhoamiAal(AalRule::HighestAvailable) => "whoami-highest-available",
            OtherSide::SettingsAal(AalRule::Aal1) => "settings-aal1",
            OtherSide::SettingsAal(AalRule::HighestAvailable) => "settings-highest-available",
            OtherSide::IdentifierFirstLogin(true) => "identifier-first-login",
            OtherSide::IdentifierFirstLogin(false) => "unified-login",
            OtherSide::OneStepRegistration(true) => "one-step-registration",
            OtherSide::OneStepRegistration(false) => "two-step-registration",
            OtherSide::Switched(Switch::Totp, true) => "totp-on",
            OtherSide::Switched(Switch::Totp, false) => "totp-off",
            OtherSide::Switched(Switch::LookupSecret, true) => "lookup-secret-on",
            OtherSide::Switched(Switch::LookupSecret, false) => "lookup-secret-off",
            OtherSide::Switched(Switch::Registration, true) => "registration-on",
            OtherSide::Switched(Switch::Registration, false) => "registration-off",
            OtherSide::Switched(Switch::Recovery, true) => "recovery-on",
            OtherSide::Switched(Switch::Recovery, false) => "recovery-off",
            OtherSide::ExtendsAtOnce(true) => "extend-at-once",
            OtherSide::ExtendsAtOnce(false) => "extend-later",
            OtherSide::SettingsUiReturn(true) => "settings-ui-return-allowed",
            OtherSide::SettingsUiReturn(false) => "settings-ui-return-forbidden",
            OtherSide::RestrictedCors => "restricted-cors",
        }
    }

    pub fn describe(self) -> String {
        let turned = |what: String| format!("{what}: the other side of what the configuration sets, for the scenarios that describe it");
        match self {
            OtherSide::WhoamiAal(rule) => turned(format!("session.whoami.required_aal {}", rule.name())),
            OtherSide::SettingsAal(rule) => turned(format!("selfservice.flows.settings.required_aal {}", rule.name())),
            OtherSide::IdentifierFirstLogin(first) => {
                turned(format!("selfservice.flows.login.style {}", if first { "identifier_first" } else { "unified" }))
            }
            OtherSide::OneStepRegistration(one) => turned(format!("selfservice.flows.registration.enable_legacy_one_step {one}")),
            OtherSide::Switched(Switch::Recovery, true) => turned("selfservice.flows.recovery.enabled true, use code".into()),
            OtherSide::Switched(switch, on) => turned(format!("{} {on}", switch.setting())),
            OtherSide::ExtendsAtOnce(true) => turned("session.earliest_possible_extend the session lifespan (a new session is extended at once)".into()),
            OtherSide::ExtendsAtOnce(false) => turned("session.earliest_possible_extend half the session lifespan (a new session is not extended yet)".into()),
            OtherSide::SettingsUiReturn(true) => turned("selfservice.allowed_return_urls with the settings UI added".into()),
            OtherSide::SettingsUiReturn(false) => turned("selfservice.allowed_return_urls without the entries that admit the settings UI".into()),
            OtherSide::RestrictedCors => turned("serve.public.cors on, allowing the configured origins but any wildcard (or the suite's own, where none is left)".into()),
        }
    }
}

/// The stages of a rotation of the cookie secret. Kratos signs a session cookie
/// with the first of `secrets.cookie` and reads it with any of them, so a
/// rotation puts a new secret first, keeps the old one until the cookies
/// signed with it are gone, then drops it. A scenario's instance is the stage
/// before; the two after it run beside it on its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CookieSecrets {
    /// The deployment's own cookie secrets (a secret of the run's making where
    /// it sets none: Kratos would otherwise choose one per process).
    Before,
    /// A new secret first, the deployment's after it.
    Rotated,
    /// The new secret alone.
    Retired,
    /// The rotation half rolled out over one instance's replicas: the first
    /// has the [`CookieSecrets::Rotated`] secrets, the others still the
    /// [`CookieSecrets::Before`] ones, as during a rolling update. Only where
    /// the suite starts replicas (the production topology).
    RollingOut,
}

impl CookieSecrets {
    pub const AFTER: [CookieSecrets; 2] = [CookieSecrets::Rotated, CookieSecrets::Retired];

    /// `secrets.cookie` of replica `index` (0-based) of an instance at this
    /// stage: the same for all but a rotation rolling out, whose replicas
    /// after the first are not rotated yet.
    pub fn replica_secrets(self, base: &RawConfig, index: usize) -> Vec<String> {
        match self {
            CookieSecrets::RollingOut if index > 0 => CookieSecrets::Before.secrets(base),
            stage => stage.secrets(base),
        }
    }

    /// `secrets.cookie` at this stage, for the configuration `base`.
    pub fn secrets(self, base: &RawConfig) -> Vec<String> {
        static MADE: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
        let (made_old, made_new) = MADE.get_or_init(|| {
            let make = || {
                use rand::RngExt as _;
                let secret: String = rand::rng().sample_iter(rand::distr::Alphanumeric).take(32).map(char::from).collect();
                crate::redact::register(secret.clone());
                secret
            };
            (make(), make())
        });
        let mut old = base.strings("secrets.cookie");
        if old.is_empty() {
            old = base.strings("secrets.default");
        }
        if old.is_empty() {
            old = vec![made_old.clone()];
        }
        old.iter().for_each(|s| crate::redact::register(s.clone()));
        match self {
            CookieSecrets::Before => old,
            CookieSecrets::Rotated | CookieSecrets::RollingOut => std::iter::once(made_new.clone()).chain(old).collect(),
            // The configured ones give way to secrets nobody signs with (the
            // first signs), so that no configured one stays in force.
            // They are 32 bytes long, since the second is an AES key of the
            // continuity cookie (expectations::continuity_key_problem).
            CookieSecrets::Retired => padded_to(vec![made_new.clone()], old.len(), |i| {
                let unused = format!("{:x}", Sha256::digest(format!("{made_new}-unused-{i}")))[..32].to_string();
                crate::redact::register(unused.clone());
                unused
            }),
        }
    }
}

/// The lifespan of the derived short-lived flows.
///
/// Each short lifespan must hold what a scenario does inside it, on a loaded
/// machine and behind the other scenarios' requests at an instance that takes
/// one request at a time; the waits for it to end overlap, so a longer one
/// costs a run little. Measured over 60 whole runs with both cores busy:
/// inside a flow, a sign-in (a flow started and a password step) took at most
/// 1.3 s; inside a privileged session, the set-up's recovery codes or pairing
/// (two or three settings requests after its sign-in) took up to 8 s, and
/// more than 5 s in one run, which failed two scenarios that had 5 s.
pub const SHORT_LIFESPAN: Duration = Duration::from_secs(4);
/// Also what a refresh login and the settings requests after it need.
pub const SHORT_PRIVILEGED_SESSION: Duration = Duration::from_secs(15);
/// Inside it: a password step and the start of an AAL2 flow (at most 1.6 s).
pub const SHORT_SESSION_LIFESPAN: Duration = Duration::from_secs(5);
/// The longest lifespan the suite waits out in a scenario (an external
/// deployment's own short lifespans qualify up to this).
pub const LONGEST_WAIT: Duration = Duration::from_secs(15);

impl Derivation {
    /// The lifespan the scenarios on such an instance wait out.
    pub fn waited(self) -> Duration {
        match self {
            Derivation::ShortFlowLifespans => SHORT_LIFESPAN,
            Derivation::ShortPrivilegedSession => SHORT_PRIVILEGED_SESSION,
            Derivation::ShortSessionLifespan => SHORT_SESSION_LIFESPAN,
            Derivation::BrowserOrigin
            | Derivation::AfterChange
            | Derivation::CookieSecret(_)
            | Derivation::CrossSiteCookies
            | Derivation::OtherSide(_) => Duration::ZERO,
        }
    }

    /// The settings it changes, as dotted keys and values, for the instance
    /// `instance` of the configuration `base`, where the suite serves its
    /// pages on `origins` (none: the browser's derivation changes nothing).
    pub fn settings(self, base: &RawConfig, instance: &str, origins: Option<&SuiteOrigins>) -> Vec<(&'static str, Value)> {
        let short = |d: Duration| Value::String(format!("{}s", d.as_secs()));
        match self {
            Derivation::BrowserOrigin => {
                let Some(origins) = origins else { return Vec::new() };
                let listed = |key: &str| -> Vec<Value> { base.get(key).and_then(Value::as_array).cloned().unwrap_or_default() };
                let mut cors = listed("serve.public.cors.allowed_origins");
                let mut returns = listed("selfservice.allowed_return_urls");
                for origin in [&origins.allowed, &origins.other_site] {
                    cors.push(Value::String(SuiteOrigins::origin(origin)));
                }
                returns.push(Value::String(origins.allowed.to_string()));
                let page = |name: &str| Value::String(SuiteOrigins::page(&origins.allowed, instance, name).to_string());
                vec![
                    ("serve.public.cors.enabled", Value::Bool(true)),
                    ("serve.public.cors.allowed_origins", Value::Array(cors)),
                    ("selfservice.allowed_return_urls", Value::Array(returns)),
                    ("selfservice.flows.login.ui_url", page("login")),
                    ("selfservice.flows.settings.ui_url", page("settings")),
                    ("selfservice.flows.error.ui_url", page("error")),
                ]
            }
            Derivation::ShortFlowLifespans => vec![
                ("selfservice.flows.login.lifespan", short(SHORT_LIFESPAN)),
                ("selfservice.flows.registration.lifespan", short(SHORT_LIFESPAN)),
                ("selfservice.flows.settings.lifespan", short(SHORT_LIFESPAN)),
            ],
            Derivation::ShortPrivilegedSession => {
                vec![("selfservice.flows.settings.privileged_session_max_age", short(SHORT_PRIVILEGED_SESSION))]
            }
            Derivation::ShortSessionLifespan => vec![("session.lifespan", short(SHORT_SESSION_LIFESPAN))],
            Derivation::AfterChange => Vec::new(),
            Derivation::CrossSiteCookies => vec![
                ("cookies.same_site", Value::String("None".into())),
                ("session.cookie.same_site", Value::String("None".into())),
            ],
            Derivation::CookieSecret(stage) => {
                vec![("secrets.cookie", Value::Array(stage.secrets(base).into_iter().map(Value::String).collect()))]
            }
            Derivation::OtherSide(side) => side.settings(base),
        }
    }

    /// A name for summaries and instance names.
    pub fn name(self) -> &'static str {
        match self {
            Derivation::ShortFlowLifespans => "short-flow-lifespans",
            Derivation::ShortPrivilegedSession => "short-privileged-session",
            Derivation::ShortSessionLifespan => "short-session-lifespan",
            Derivation::BrowserOrigin => "browser-origin",
            Derivation::AfterChange => "after-change",
            Derivation::CrossSiteCookies => "cross-site-cookies",
            Derivation::CookieSecret(CookieSecrets::Before) => "cookie-secret",
            Derivation::CookieSecret(CookieSecrets::Rotated) => "cookie-secret-rotated",
            Derivation::CookieSecret(CookieSecrets::Retired) => "cookie-secret-retired",
            Derivation::CookieSecret(CookieSecrets::RollingOut) => "cookie-secret-rolling-out",
            Derivation::OtherSide(side) => side.name(),
        }
    }

    /// What it changes, in a sentence; `origins` as for [`Derivation::settings`].
    pub fn describe(self, origins: Option<&SuiteOrigins>) -> String {
        match self {
            Derivation::ShortFlowLifespans => format!("login, registration and settings flows expire after {:?}", SHORT_LIFESPAN),
            Derivation::ShortPrivilegedSession => format!("privileged_session_max_age {:?}", SHORT_PRIVILEGED_SESSION),
            Derivation::ShortSessionLifespan => format!("session.lifespan {:?}", SHORT_SESSION_LIFESPAN),
            Derivation::BrowserOrigin => match origins {
                Some(o) => format!(
                    "CORS also allows the suite's pages at {} and {} (another site); login, settings and error UI and a return URL there",
                    SuiteOrigins::origin(&o.allowed),
                    SuiteOrigins::origin(&o.other_site)
                ),
                None => "the suite's pages for the browser are not served in this run".into(),
            },
            Derivation::AfterChange => "on the database of the previous configuration (KRATOS_PREVIOUS_CONFIG_DIR), with its identities".into(),
            Derivation::CrossSiteCookies => "the CSRF and session cookies SameSite=None (cookies.same_site, session.cookie.same_site), for an SPA on another site".into(),
            Derivation::CookieSecret(CookieSecrets::Before) => {
                "on a database shared with the two instances of a cookie secret rotation (the configured secrets.cookie, or one of the run's making where none is set)".into()
            }
            Derivation::CookieSecret(CookieSecrets::Rotated) => "secrets.cookie rotated: a new secret first, the configured ones after it".into(),
            Derivation::CookieSecret(CookieSecrets::Retired) => "secrets.cookie: the new secret alone, the configured ones retired".into(),
            Derivation::CookieSecret(CookieSecrets::RollingOut) => {
                "secrets.cookie rotated on replica 1 only (a new secret first, the configured ones after it); the other replicas still have the configured ones alone".into()
            }
            Derivation::OtherSide(side) => side.describe(),
        }
    }
}

/// The self-service methods and what the configuration sets for them.
#[derive(Debug, Clone)]
pub struct Methods {
    pub password: bool,
    pub totp: bool,
    /// `selfservice.methods.totp.config.issuer`, or Kratos' fallback: the host of
    /// the public base URL.
    pub totp_issuer: String,
    pub lookup_secret: bool,
    /// `code.mfa_enabled`: in v1.3.1 it makes every identity AAL2-capable.
    pub code_mfa: bool,
    pub webauthn: bool,
    pub passkey: bool,
    pub oidc: bool,
}

/// The UI URLs Kratos sends browsers to.
#[derive(Debug, Clone)]
pub struct UiUrls {
    pub login: String,
    pub registration: String,
    pub settings: String,
    pub error: String,
    pub verification: String,
    pub recovery: String,
}

#[derive(Debug, Clone)]
pub struct ReturnUrls {
    /// `selfservice.default_browser_return_url`.
    pub default: String,
    /// `selfservice.allowed_return_urls`.
    pub allowed: Vec<String>,
    /// Where a browser goes after logout.
    pub after_logout: String,
    /// Where a browser goes after a login that ended with `method`
    /// (`login.after.<method>.default_browser_return_url`, then
    /// `login.after.default_browser_return_url`, then the default).
    after_login: Vec<(String, String)>,
    after_login_default: String,
}

impl ReturnUrls {
    pub fn after_login(&self, method: &str) -> &str {
        self.after_login.iter().find(|(m, _)| m == method).map(|(_, url)| url.as_str()).unwrap_or(&self.after_login_default)
    }
}

#[derive(Debug, Clone)]
pub struct Lifespans {
    pub login: Duration,
    pub registration: Duration,
    pub settings: Duration,
    pub privileged_session: Duration,
    pub session: Duration,
}

#[derive(Debug, Clone)]
pub struct SessionCookie {
    pub name: String,
    pub domain: Option<String>,
    pub path: String,
    pub same_site: String,
    /// A persistent cookie carries `Expires` and `Max-Age`; a session cookie does not.
    pub persistent: bool,
}

#[derive(Debug, Clone)]
pub struct CsrfCookie {
    /// `csrf_token_` + the SHA-256 of the public base URL.
    pub name: String,
    pub domain: Option<String>,
    pub path: String,
    pub same_site: String,
}

#[derive(Debug, Clone)]
pub struct Verification {
    pub enabled: bool,
    pub use_strategy: String,
    /// Whether self-service registration ends with a session (the `session` hook).
    pub registration_issues_session: bool,
}

/// What whoami tells a cache (`feature_flags.cacheable_sessions`): how long it
/// may keep the session, at most `max_age` (`cacheable_sessions_max_age`).
#[derive(Debug, Clone)]
pub struct SessionCaching {
    pub enabled: bool,
    pub max_age: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct Cors {
    pub enabled: bool,
    pub allowed_origins: Vec<String>,
    pub allow_credentials: bool,
}

impl Cors {
    /// Whether a browser page on `origin` may read Kratos' answers, as Kratos'
    /// CORS handler (rs/cors) decides: an exact entry, `*`, or an entry with
    /// one `*` wildcard.
    pub fn allows(&self, origin: &str) -> bool {
        self.enabled
            && self.allowed_origins.iter().any(|entry| match entry.split_once('*') {
                None => entry.eq_ignore_ascii_case(origin),
                Some((prefix, suffix)) => origin.len() >= prefix.len() + suffix.len() && origin.starts_with(prefix) && origin.ends_with(suffix),
            })
    }

    /// Whether the allow-list leaves some origin out (no `*` entry).
    pub fn restricted(&self) -> bool {
        self.enabled && !self.allowed_origins.is_empty() && !self.allows(CORS_UNLISTED_ORIGIN)
    }

    /// One origin each entry admits, as a page there sends it: the entry
    /// itself, with `app` for its wildcard (rs/cors' `*` stands for any
    /// characters, none included), without a trailing slash.
    pub fn example_origins(&self) -> Vec<String> {
        self.allowed_origins
            .iter()
            .map(|entry| if entry == "*" { CORS_UNLISTED_ORIGIN.to_string() } else { entry.replacen('*', "app", 1).trim_end_matches('/').to_string() })
            .collect()
    }
}

/// An origin no allow-list of a team's names (`.invalid` is reserved, RFC 2606).
pub const CORS_UNLISTED_ORIGIN: &str = "https://unlisted.conformance.invalid";
/// The origin the suite allows where it turns CORS on for its scenarios.
pub const CORS_SUITE_ORIGIN: &str = "https://spa.conformance.invalid";

/// One Kratos instance's configuration, described.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The instance's name in reports: the variant, and its derivations.
    pub name: String,
    pub variant: Option<String>,
    pub derived: Vec<Derivation>,
    pub dir: PathBuf,
    /// The repository's own `kratos-config/`.
    pub own_config: bool,
    pub config: RawConfig,
    pub team: TeamFile,
    /// What Kratos builds `ui.action`, redirects and the CSRF cookie name from.
    pub public_base_url: Url,
    pub admin_base_url: Url,
    /// Kratos runs with `--dev`: no `Secure` cookies, the CSRF cookie `SameSite=Lax`.
    pub dev: bool,
    pub schemas: Vec<IdentitySchema>,
    pub default_schema_id: String,
    pub methods: Methods,
    pub ui: UiUrls,
    pub return_urls: ReturnUrls,
    pub lifespans: Lifespans,
    pub whoami_required_aal: AalRule,
    pub settings_required_aal: AalRule,
    pub session_cookie: SessionCookie,
    pub csrf_cookie: CsrfCookie,
    pub verification: Verification,
    pub recovery_enabled: bool,
    /// `selfservice.flows.recovery.use`: `code` or `link`.
    pub recovery_use: String,
    pub registration_enabled: bool,
    /// `selfservice.flows.registration.enable_legacy_one_step`: the traits and
    /// the password in one form, not two steps.
    pub registration_one_step: bool,
    /// `selfservice.flows.login.style`: `unified` (the password form at once)
    /// or `identifier_first` (the identifier, then the password).
    pub login_style: String,
    pub cors: Cors,
    pub session_caching: SessionCaching,
    /// `feature_flags.faster_session_extend`: the admin API's extend answers
    /// 204 instead of the session.
    pub faster_session_extend: bool,
    /// `session.earliest_possible_extend`: a session is extended only once it
    /// has less than this left (unset: the session lifespan, so at any time).
    pub earliest_possible_extend: Option<Duration>,
    /// How many codes one recovery (or code login) flow takes before it
    /// refuses every further one: `selfservice.methods.code.config.max_submissions`
    /// since v25.4.0, 5 before (fixed).
    pub code_max_submissions: u64,
    /// What `/admin/version` reports, once the instance runs.
    pub kratos_version: Option<String>,
    /// Where the run serves the suite's pages to a real browser (the launcher
    /// says, [`Deployment::with_suite_origins`]); none where it serves none.
    pub suite_origins: Option<SuiteOrigins>,
}

impl Deployment {
    /// The description as the run sees it: where it serves the suite's pages.
    pub fn with_suite_origins(mut self, origins: Option<SuiteOrigins>) -> Deployment {
        self.suite_origins = origins;
        self
    }

    /// Describes a merged configuration. `public` and `admin` are the base URLs
    /// Kratos runs with (the suite's own addresses when it starts Kratos).
    #[allow(clippy::too_many_arguments)]
    pub fn describe(
        dir: &ConfigDir,
        variant: Option<&str>,
        derived: &[Derivation],
        config: RawConfig,
        schemas: Vec<IdentitySchema>,
        public: Url,
        admin: Url,
        dev: bool,
    ) -> Result<Deployment, SetupError> {
        let c = &config;
        let text = |path: &str, default: &str| c.str(path).unwrap_or(default).to_string();
        let duration = |path: &str, default: &str| -> Result<Duration, SetupError> {
            let value = c.str(path).unwrap_or(default);
            humantime::parse_duration(value)
                .map_err(|e| SetupError::Config(format!("{}: {path}: \"{value}\" is not a duration ({e})", dir.main_file.display())))
        };
        let aal = |path: &str| -> Result<AalRule, SetupError> {
            let value = c.str(path).unwrap_or(defaults::REQUIRED_AAL);
            AalRule::parse(value).ok_or_else(|| {
                SetupError::Config(format!("{}: {path}: \"{value}\" is not aal1 or highest_available", dir.main_file.display()))
            })
        };
        let enabled = |method: &str, default: bool| c.bool(&format!("selfservice.methods.{method}.enabled")).unwrap_or(default);
        let ui = |flow: &str| text(&format!("selfservice.flows.{flow}.ui_url"), &format!("{}{flow}", defaults::FALLBACK_UI));

        let default_return = c.str("selfservice.default_browser_return_url").map(str::to_string).ok_or_else(|| {
            SetupError::Config(format!(
                "{} does not set selfservice.default_browser_return_url, which Kratos requires",
                dir.main_file.display()
            ))
        })?;
        let after_login_default = text("selfservice.flows.login.after.default_browser_return_url", &default_return);
        let after_login = ["password", "totp", "lookup_secret", "webauthn", "code", "oidc", "passkey"]
            .iter()
            .filter_map(|m| {
                c.str(&format!("selfservice.flows.login.after.{m}.default_browser_return_url"))
                    .map(|url| (m.to_string(), url.to_string()))
            })
            .collect();
        let allowed = c.strings("selfservice.allowed_return_urls");
        let cookies_domain = c.str("cookies.domain").map(str::to_string);
        let cookies_path = text("cookies.path", defaults::COOKIE_PATH);
        let cookies_same_site = text("cookies.same_site", defaults::SAME_SITE);
        let issuer = c
            .str("selfservice.methods.totp.config.issuer")
            .map(str::to_string)
            .unwrap_or_else(|| public.host_str().unwrap_or_default().to_string());
        let default_schema_id = text("identity.default_schema_id", "default");
        if !schemas.iter().any(|s| s.id == default_schema_id) {
            return Err(SetupError::Config(format!(
                "{}: identity.default_schema_id is \"{default_schema_id}\", but identity.schemas has only {}",
                dir.main_file.display(),
                schemas.iter().map(|s| format!("\"{}\"", s.id)).collect::<Vec<_>>().join(", ")
            )));
        }
        let registration_hooks: Vec<String> = c
            .get("selfservice.flows.registration.after.password.hooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|h| h.get("hook").and_then(Value::as_str).map(str::to_string))
            .collect();
        // Kratos' default list is every origin.
        let cors_origins = if c.get("serve.public.cors.allowed_origins").is_none() { vec!["*".to_string()] } else { c.strings("serve.public.cors.allowed_origins") };

        let mut name = variant.map(str::to_string).unwrap_or_else(|| "as configured".into());
        for d in derived {
            name.push('+');
            name.push_str(d.name());
        }
        Ok(Deployment {
            name,
            variant: variant.map(str::to_string),
            derived: derived.to_vec(),
            dir: dir.dir.clone(),
            own_config: dir.own,
            team: dir.team.clone(),
            public_base_url: public.clone(),
            admin_base_url: admin,
            dev,
            default_schema_id,
            methods: Methods {
                password: enabled("password", true),
                totp: enabled("totp", false),
                totp_issuer: issuer,
                lookup_secret: enabled("lookup_secret", false),
                code_mfa: c.bool("selfservice.methods.code.mfa_enabled").unwrap_or(false),
                webauthn: enabled("webauthn", false),
                passkey: enabled("passkey", false),
                oidc: enabled("oidc", false),
            },
            ui: UiUrls {
                login: ui("login"),
                registration: ui("registration"),
                settings: ui("settings"),
                error: ui("error"),
                verification: ui("verification"),
                recovery: ui("recovery"),
            },
            return_urls: ReturnUrls {
                after_logout: text("selfservice.flows.logout.after.default_browser_return_url", &default_return),
                default: default_return,
                allowed,
                after_login,
                after_login_default,
            },
            lifespans: Lifespans {
                login: duration("selfservice.flows.login.lifespan", defaults::FLOW_LIFESPAN)?,
                registration: duration("selfservice.flows.registration.lifespan", defaults::FLOW_LIFESPAN)?,
                settings: duration("selfservice.flows.settings.lifespan", defaults::FLOW_LIFESPAN)?,
                privileged_session: duration(
                    "selfservice.flows.settings.privileged_session_max_age",
                    defaults::PRIVILEGED_SESSION_MAX_AGE,
                )?,
                session: duration("session.lifespan", defaults::SESSION_LIFESPAN)?,
            },
            whoami_required_aal: aal("session.whoami.required_aal")?,
            settings_required_aal: aal("selfservice.flows.settings.required_aal")?,
            session_cookie: SessionCookie {
                name: text("session.cookie.name", defaults::SESSION_COOKIE_NAME),
                domain: c.str("session.cookie.domain").map(str::to_string).or_else(|| cookies_domain.clone()),
                path: c.str("session.cookie.path").map(str::to_string).unwrap_or_else(|| cookies_path.clone()),
                same_site: c.str("session.cookie.same_site").map(str::to_string).unwrap_or_else(|| cookies_same_site.clone()),
                persistent: c.bool("session.cookie.persistent").unwrap_or(true),
            },
            csrf_cookie: CsrfCookie {
                name: format!("csrf_token_{:x}", Sha256::digest(public.as_str())),
                domain: cookies_domain,
                path: cookies_path,
                same_site: cookies_same_site,
            },
            verification: Verification {
                enabled: c.bool("selfservice.flows.verification.enabled").unwrap_or(false),
                use_strategy: text("selfservice.flows.verification.use", defaults::VERIFICATION_USE),
                registration_issues_session: registration_hooks.iter().any(|h| h == "session"),
            },
            recovery_enabled: c.bool("selfservice.flows.recovery.enabled").unwrap_or(false),
            recovery_use: text("selfservice.flows.recovery.use", defaults::RECOVERY_USE),
            registration_enabled: c.bool("selfservice.flows.registration.enabled").unwrap_or(true),
            registration_one_step: c.bool("selfservice.flows.registration.enable_legacy_one_step").unwrap_or(false),
            login_style: text("selfservice.flows.login.style", "unified"),
            kratos_version: None,
            suite_origins: None,
            cors: Cors {
                enabled: c.bool("serve.public.cors.enabled").unwrap_or(false),
                allowed_origins: cors_origins,
                allow_credentials: c.bool("serve.public.cors.allow_credentials").unwrap_or(true),
            },
            session_caching: SessionCaching {
                enabled: c.bool("feature_flags.cacheable_sessions").unwrap_or(false),
                max_age: match c.str("feature_flags.cacheable_sessions_max_age") {
                    Some(_) => Some(duration("feature_flags.cacheable_sessions_max_age", "0s")?),
                    None => None,
                },
            },
            faster_session_extend: c.bool("feature_flags.faster_session_extend").unwrap_or(false),
            earliest_possible_extend: match c.str("session.earliest_possible_extend") {
                Some(_) => Some(duration("session.earliest_possible_extend", "0s")?),
                None => None,
            },
            code_max_submissions: c.get("selfservice.methods.code.config.max_submissions").and_then(Value::as_u64).unwrap_or(5),
            config,
            schemas,
        })
    }

    /// `selfservice.methods.password.config.min_password_length` (Kratos'
    /// default 8): the shortest password Kratos takes, counted in bytes
    /// (`len()` of a Go string, `selfservice/strategy/password/validator.go`).
    pub fn min_password_length(&self) -> usize {
        self.config
            .get("selfservice.methods.password.config.min_password_length")
            .and_then(Value::as_u64)
            .map_or(defaults::MIN_PASSWORD_LENGTH, |n| n as usize)
    }

    /// Whether the hooks after these flows (`selfservice.flows.<...>.after[.<method>]`)
    /// end the identity's other sessions (`revoke_active_sessions`).
    pub fn revokes_sessions_after(&self, flows: &[&str]) -> bool {
        flows.iter().any(|flow| {
            self.config
                .get(&format!("selfservice.flows.{flow}.hooks"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|h| h.get("hook").and_then(Value::as_str) == Some("revoke_active_sessions"))
        })
    }

    pub fn schema(&self, id: &str) -> Option<&IdentitySchema> {
        self.schemas.iter().find(|s| s.id == id)
    }

    /// The schema new identities get when none is named.
    pub fn default_schema(&self) -> &IdentitySchema {
        self.schema(&self.default_schema_id).expect("describe() checked the default schema exists")
    }

    /// The UI URL of a flow kind (`login`, `registration`, `settings`, `error`, ...).
    pub fn ui_url(&self, flow: &str) -> &str {
        match flow {
            "login" => &self.ui.login,
            "registration" => &self.ui.registration,
            "settings" => &self.ui.settings,
            "verification" => &self.ui.verification,
            "recovery" => &self.ui.recovery,
            _ => &self.ui.error,
        }
    }

    /// A URL of the public API, e.g. `public("self-service/login/browser")`.
    pub fn public(&self, path: &str) -> Url {
        self.public_base_url.join(path.trim_start_matches('/')).expect("a relative path joins")
    }

    /// The lifespan of a flow kind.
    pub fn flow_lifespan(&self, flow: &str) -> Duration {
        match flow {
            "registration" => self.lifespans.registration,
            "settings" => self.lifespans.settings,
            _ => self.lifespans.login,
        }
    }

    /// Whether Kratos extends a session that expires at `expires_at` when asked
    /// at `now` (`Session.CanBeRefreshed`, v1.3.1): once fewer than
    /// `session.earliest_possible_extend` are left. Otherwise the extension
    /// leaves the session as it is.
    pub fn extends_session(&self, expires_at: std::time::SystemTime, now: std::time::SystemTime) -> bool {
        let window = self.earliest_possible_extend.unwrap_or(self.lifespans.session);
        expires_at.checked_sub(window).is_some_and(|from| from < now)
    }

    /// Whether a session just made is extended at once (no
    /// `earliest_possible_extend` shorter than the session lifespan).
    pub fn extends_new_sessions(&self) -> bool {
        self.earliest_possible_extend.is_none_or(|window| window >= self.lifespans.session)
    }

    /// Whether a browser flow started with `?return_to=url` keeps it (Kratos
    /// v1.3.1, `x/http_secure_redirect.go`): an entry of
    /// `selfservice.allowed_return_urls` admits it, or it is one of Kratos' own
    /// self-service URLs (the public base URL and `/self-service`). Otherwise
    /// Kratos refuses the flow with `self_service_flow_return_to_forbidden`; a
    /// browser lands on the error UI.
    pub fn admits_return_to(&self, url: &str) -> bool {
        let own = format!("{}/self-service", self.public_base_url.as_str().trim_end_matches('/'));
        expectations::admitting_entry(&self.return_urls.allowed, url).is_some() || expectations::admitting_entry(&[own], url).is_some()
    }

    /// A `return_to` the allow-list admits: the first allowed URL, with a path
    /// of the suite's own so a reader sees it was kept.
    pub fn allowed_return_url(&self) -> Option<String> {
        let base = self.return_urls.allowed.iter().find(|u| !u.contains('*')).or(Some(&self.return_urls.default))?;
        let mut url = Url::parse(base).ok()?;
        Some(with_suite_path(&mut url))
    }

    /// A `return_to` under each entry of the allow-list, so that every entry is
    /// tried, not only the first: the entry's path with one of the suite's
    /// own under it, a wildcard host given a label (`https://*.a.test/` →
    /// `https://conformance.a.test/`). An entry whose scheme has no host
    /// (`app:/callback`) is taken as it is.
    pub fn return_url_under_each_allowed(&self) -> Vec<String> {
        self.return_urls
            .allowed
            .iter()
            .map(|entry| {
                let concrete = entry.replacen("://*.", "://conformance.", 1);
                match Url::parse(&concrete) {
                    Ok(mut url) if url.has_host() => with_suite_path(&mut url),
                    _ => concrete,
                }
            })
            .collect()
    }

    /// A `return_to` on a host nobody owns, for each scheme and port the
    /// allow-list names: an entry that admits it admits any host.
    pub fn disallowed_return_url(&self) -> Result<String, String> {
        let mut candidates = vec!["https://evil.example.com/".to_string()];
        for entry in &self.return_urls.allowed {
            if let Some((scheme, rest)) = entry.split_once("://") {
                let port = rest.split('/').next().and_then(|a| a.rsplit_once(':')).map(|(_, p)| format!(":{p}")).unwrap_or_default();
                candidates.push(format!("{scheme}://evil.example.com{port}/"));
            }
        }
        for candidate in &candidates {
            if let Some(entry) = expectations::admitting_entry(&self.return_urls.allowed, candidate) {
                return Err(format!(
                    "selfservice.allowed_return_urls admits any host: the entry \"{entry}\" lets {candidate} receive the user after login"
                ));
            }
        }
        Ok(candidates.swap_remove(0))
    }

    /// The short description printed before the first scenario.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let on = |b: bool| if b { "on" } else { "off" };
        let _ = writeln!(out, "  {} ({}):", self.name, self.public_base_url);
        let schema = self.default_schema();
        let _ = writeln!(
            out,
            "    schema \"{}\" (of {}): password identifiers {}; TOTP account name {}",
            schema.id,
            self.schemas.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", "),
            list_or(&schema.password_identifiers(), "none"),
            schema.totp_account_name().map(|t| format!("traits.{t}")).unwrap_or_else(|| "the identity id (no trait)".into())
        );
        let _ = writeln!(
            out,
            "    methods: password {}, totp {} (issuer \"{}\"), lookup_secret {}{}",
            on(self.methods.password),
            on(self.methods.totp),
            self.methods.totp_issuer,
            on(self.methods.lookup_secret),
            if self.methods.code_mfa { ", code MFA on (every identity counts as AAL2-capable)" } else { "" }
        );
        let _ = writeln!(
            out,
            "    AAL: whoami {}, settings {}; privileged session {}; session {}",
            self.whoami_required_aal.name(),
            self.settings_required_aal.name(),
            human(self.lifespans.privileged_session),
            human(self.lifespans.session)
        );
        let _ = writeln!(
            out,
            "    flows: login {} ({}), registration {} ({}), settings {}; verification {}, recovery {}",
            human(self.lifespans.login),
            self.login_style.replace('_', " "),
            human(self.lifespans.registration),
            match (self.registration_enabled, self.registration_one_step) {
                (false, _) => "disabled",
                (true, true) => "one step",
                (true, false) => "two steps",
            },
            human(self.lifespans.settings),
            on(self.verification.enabled),
            on(self.recovery_enabled)
        );
        let _ = writeln!(
            out,
            "    URLs: login UI {}, default return {}, allowed returns {}, after logout {}",
            self.ui.login,
            self.return_urls.default,
            list_or(&self.return_urls.allowed.iter().map(String::as_str).collect::<Vec<_>>(), "none"),
            self.return_urls.after_logout
        );
        let _ = writeln!(
            out,
            "    cookies: session \"{}\" (SameSite={}{}{}){}",
            self.session_cookie.name,
            self.session_cookie.same_site,
            self.session_cookie.domain.as_ref().map(|d| format!(", Domain={d}")).unwrap_or_default(),
            if self.session_cookie.persistent { "" } else { ", not persistent" },
            if self.cors.enabled { format!("; CORS for {}", list_or(&self.cors.allowed_origins.iter().map(String::as_str).collect::<Vec<_>>(), "no origin")) } else { String::new() }
        );
        for d in &self.derived {
            match d {
                // The setting is what the scenarios on this instance are about.
                Derivation::OtherSide(side) => {
                    let _ = writeln!(out, "    turned by the suite, not as configured: {}", side.describe());
                }
                _ => {
                    let _ = writeln!(out, "    derived by the suite (not under test): {}", d.describe(self.suite_origins.as_ref()));
                }
            }
        }
        out
    }
}

/// `15m`, `1day`: a duration as a person writes it.
fn human(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

fn list_or(items: &[&str], none: &str) -> String {
    if items.is_empty() { none.to_string() } else { items.join(", ") }
}

/// `url` with the suite's own path under its own, so a reader sees it was kept.
fn with_suite_path(url: &mut Url) -> String {
    let path = format!("{}/after-login", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_rotation_puts_a_new_cookie_secret_first_then_drops_the_old_ones() {
        let base = RawConfig::from_value(json!({"secrets": {"cookie": ["old-cookie-secret-0001", "older-cookie-secret-01"], "default": ["default-secret-00001"]}}));
        let before = CookieSecrets::Before.secrets(&base);
        let rotated = CookieSecrets::Rotated.secrets(&base);
        let retired = CookieSecrets::Retired.secrets(&base);
        assert_eq!(before, ["old-cookie-secret-0001", "older-cookie-secret-01"]);
        assert_eq!(rotated[1..], before[..]);
        // The new secret first, then one nobody signs with for each retired one
        // (a shorter list from the environment would leave the file's last in force).
        assert_eq!(retired.len(), before.len());
        assert_eq!(retired[0], rotated[0]);
        assert!(retired[1..].iter().all(|s| s.len() == 32 && !before.contains(s) && *s != retired[0]), "{retired:?}");
        assert!(rotated[0].len() >= 16 && !before.contains(&rotated[0]), "Kratos wants at least 16 characters, and a new secret");
        // Every secret is kept out of the output.
        assert!(crate::redact::registered().contains(&rotated[0]));

        let default_only = RawConfig::from_value(json!({"secrets": {"default": ["default-secret-00001"]}}));
        assert_eq!(CookieSecrets::Before.secrets(&default_only), ["default-secret-00001"]);
        let none = CookieSecrets::Before.secrets(&RawConfig::from_value(json!({})));
        assert_eq!(none.len(), 1);
        assert_eq!(CookieSecrets::Rotated.secrets(&RawConfig::from_value(json!({})))[1], none[0], "the run's own old secret, the same for every stage");
    }

    /// This repository's configuration described as Kratos runs it, with
    /// `allowed_return_urls` replaced.
    pub(super) async fn own_deployment_allowing(allowed: &[&str]) -> Deployment {
        let dir = config::ConfigDir::open(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kratos-config")).unwrap();
        let mut config = dir.load(Some("strict")).unwrap();
        config.set("selfservice.allowed_return_urls", json!(allowed));
        let schemas = schema::load_all(config.get("identity.schemas").unwrap(), &dir.dir).await.unwrap();
        let public = Url::parse("http://127.0.0.1:4433/").unwrap();
        Deployment::describe(&dir, Some("strict"), &[], config, schemas, public.clone(), public, true).unwrap()
    }

    /// selfservice.allowed_return_urls decides whether the step-up to AAL2 from
    /// settings can return to the settings UI (x/http_secure_redirect.go):
    /// the AAL2 login or the error UI.
    #[tokio::test]
    async fn the_allow_list_decides_whether_the_settings_ui_is_a_return_url() {
        let admitted = own_deployment_allowing(&["http://127.0.0.1:4455/"]).await;
        assert!(admitted.admits_return_to(&admitted.ui.settings));
        assert!(expectations::check(&admitted).is_empty());
        let elsewhere = own_deployment_allowing(&["http://127.0.0.1:4455/app"]).await;
        assert!(!elsewhere.admits_return_to(&elsewhere.ui.settings), "{} is not under /app", elsewhere.ui.settings);
        let warned = expectations::check(&elsewhere);
        assert!(warned.iter().any(|m| m.what.contains("is not an allowed return URL")), "{warned:?}");
        // selfservice.flows.settings.required_aal: aal1 asks for no step-up.
        let mut aal1_settings = elsewhere.clone();
        aal1_settings.settings_required_aal = AalRule::Aal1;
        assert!(expectations::check(&aal1_settings).is_empty());
        // Kratos' own self-service URLs are admitted whatever the list says.
        assert!(elsewhere.admits_return_to("http://127.0.0.1:4433/self-service/settings?flow=x"));
        assert!(!elsewhere.admits_return_to("http://127.0.0.1:4433/sessions/whoami"));
    }

    /// session.earliest_possible_extend decides whether the admin API extends
    /// a session (session/session.go, CanBeRefreshed): only once less than it
    /// is left; unset, the session lifespan, so at any time.
    #[tokio::test]
    async fn earliest_possible_extend_decides_whether_a_session_is_extended() {
        let mut deployment = own_deployment_allowing(&["http://127.0.0.1:4455/"]).await;
        let now = std::time::SystemTime::now();
        let lifespan = deployment.lifespans.session;
        assert!(deployment.extends_new_sessions());
        assert!(deployment.extends_session(now + lifespan, now + Duration::from_secs(1)));
        deployment.earliest_possible_extend = Some(Duration::from_secs(3600));
        assert!(!deployment.extends_new_sessions());
        assert!(!deployment.extends_session(now + lifespan, now), "a session just made has its whole lifespan left");
        assert!(deployment.extends_session(now + Duration::from_secs(1800), now), "half an hour left, under the hour's window");
    }
}
