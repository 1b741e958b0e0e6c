//! What a scenario needs of a deployment, read from its tags, and why a
//! deployment does not meet it. A scenario whose needs are not met is reported
//! as skipped with the reason, never run against a deployment it does not fit.
//!
//! Tags (on the scenario, its rule, its feature or its `Examples:`; the nearest
//! wins for the AAL rules):
//!
//! | tag | needs |
//! |---|---|
//! | `@needs:totp`, `@needs:lookup_secret`, `@needs:password` | the method enabled |
//! | `@disabled:totp`, `@disabled:lookup_secret` | the method off |
//! | `@disabled:registration`, `@disabled:recovery` | the self-service flow off |
//! | `@needs:registration` | self-service registration with a password |
//! | `@needs:admin-api` | the admin API reachable from the suite |
//! | `@whoami:aal1`, `@whoami:highest_available` | `session.whoami.required_aal` |
//! | `@settings-aal:aal1`, `@settings-aal:highest_available` | `selfservice.flows.settings.required_aal` |
//! | `@needs:short-flow-lifespans` | flows that expire within seconds (derived where the suite starts Kratos) |
//! | `@needs:short-privileged-session` | a privileged session of seconds (derived likewise) |
//! | `@needs:short-session-lifespan` | sessions that end within seconds (derived likewise) |
//! | `@needs:recovery` | account recovery by code (`selfservice.flows.recovery`, `use: code`) |
//! | `@needs:schema-without-totp-account-name` | an identity schema without `totp.account_name` |
//! | `@needs:pinned-kratos` | the Kratos the suite built or pulled at its pinned version |
//! | `@kratos:>=v25.4.0`, `@kratos:<v25.4.0` | a Kratos version |
//! | `@login-style:unified`, `@login-style:identifier_first` | `selfservice.flows.login.style` |
//! | `@registration-steps:two`, `@registration-steps:one` | two-step registration, or `enable_legacy_one_step` |
//! | `@needs:cookie-secret-rotation` | the instances of a rotation of `secrets.cookie` on one database (derived where the suite starts Kratos) |
//! | `@needs:previous-configuration` | identities created under the configuration before a change (`KRATOS_PREVIOUS_CONFIG_DIR`, process and container backends) |
//! | `@needs:concurrency` | an instance that takes requests at the same moment (PostgreSQL, or an external deployment allowed more than one) |
//! | `@needs:replicas` | at least two replicas the suite can send requests to one by one (the production topology, or `KRATOS_REPLICA_URLS`) |
//! | `@needs:own-replicas` | replicas the suite started behind its proxy, which it can kill, start again and reach over plain HTTP (`KRATOS_TOPOLOGY=production`) |
//! | `@needs:cross-site-cookies` | Kratos' CSRF and session cookies `SameSite=None`, with `Secure` (derived where the suite starts Kratos in the production topology) |
//! | `@needs:same-site-lax-or-strict` | a CSRF cookie `SameSite=Lax` or `Strict` (as configured, or as `--dev` forces it) |
//! | `@real-browser` | a real browser (Chromium, installed by scripts/setup.sh), and CORS and UI URLs for the suite's own origin (derived where the suite starts Kratos) |
//! | `@settings-ui-return:allowed`, `@settings-ui-return:forbidden` | whether `selfservice.allowed_return_urls` admits the settings UI (a step-up to AAL2 from settings returns there) |
//! | `@session-extend:at-once`, `@session-extend:later` | whether the admin API extends a new session (`session.earliest_possible_extend` unset or not shorter than `session.lifespan`) |
//! | `@needs:cors` | `serve.public.cors` on, with an allow-list that leaves some origin out (turned on where the suite starts Kratos) |
//! | `@each:password-identifier` | (not a need) the scenario runs once per password identifier |

use std::cmp::Ordering;

use super::{AalRule, CookieSecrets, Deployment, Derivation, LONGEST_WAIT, OtherSide, SuiteOrigins, Switch};

/// A need the configuration does not meet: why, and the setting turned to the
/// other side that meets it where the suite starts Kratos (none where no
/// setting can).
struct Gap {
    reason: String,
    met_by: Option<OtherSide>,
}

impl Gap {
    fn unmet(reason: String) -> Gap {
        Gap { reason, met_by: None }
    }

    fn met_by(side: Option<OtherSide>, reason: String) -> Gap {
        Gap { reason, met_by: side }
    }
}

/// What the run knows about an instance beyond its configuration.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    pub admin_api_reachable: bool,
    /// The suite started the Kratos it built (or pulled) at its pinned version.
    pub pinned_kratos: bool,
    /// What `/admin/version` reports.
    pub version: Option<String>,
    /// How many requests the suite sends the instance at once.
    pub concurrency: usize,
    /// What the instance's database is, for the reason a scenario cannot run.
    pub database: String,
    /// How many replicas the suite can address one by one (1: only the
    /// deployment as a whole).
    pub replicas: usize,
    /// The suite started them, behind its own proxy.
    pub own_replicas: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    pub methods: Vec<String>,
    /// `@disabled:<method or flow>`: the method or self-service flow off (the
    /// scenarios of a deployment without it).
    pub disabled: Vec<String>,
    pub registration: bool,
    pub admin_api: bool,
    pub whoami: Option<AalRule>,
    pub settings_aal: Option<AalRule>,
    pub short_flow_lifespans: bool,
    pub short_privileged_session: bool,
    pub short_session_lifespan: bool,
    pub recovery: bool,
    pub schema_without_account_name: bool,
    pub pinned_kratos: bool,
    pub concurrency: bool,
    pub previous_configuration: bool,
    pub cookie_secret_rotation: bool,
    pub replicas: bool,
    pub own_replicas: bool,
    pub cross_site_cookies: bool,
    pub same_site_lax_or_strict: bool,
    /// `@needs:cors`: CORS on, not for every origin.
    pub cors: bool,
    pub versions: Vec<(Ordering, bool, String)>,
    pub login_style: Option<String>,
    /// `@settings-ui-return:allowed|forbidden`: whether the allow-list admits the settings UI.
    pub settings_ui_return_allowed: Option<bool>,
    /// `@session-extend:at-once|later`: whether a new session is extended at once.
    pub session_extends_at_once: Option<bool>,
    pub registration_one_step: Option<bool>,
    pub each_password_identifier: bool,
    /// `@real-browser`: Chromium, and a deployment whose CORS allows the
    /// suite's origin and whose login UI is the suite's page.
    pub real_browser: bool,
}

impl Needs {
    /// Reads the needs from tag lists, nearest first (`[scenario, rule, feature]`;
    /// tags without their `@`). An unknown `needs:` tag is an error, so a typo
    /// cannot quietly select nothing.
    pub fn from_tags(nearest_first: &[&[String]]) -> Result<Needs, String> {
        let mut needs = Needs::default();
        for tags in nearest_first {
            for tag in tags.iter() {
                needs.read(tag)?;
            }
        }
        Ok(needs)
    }

    fn read(&mut self, tag: &str) -> Result<(), String> {
        let aal = |value: &str| AalRule::parse(value).ok_or_else(|| format!("@{tag}: the AAL rule is aal1 or highest_available"));
        if let Some(need) = tag.strip_prefix("needs:") {
            match need {
                "totp" | "lookup_secret" | "password" => {
                    if !self.methods.iter().any(|m| m == need) {
                        self.methods.push(need.to_string());
                    }
                }
                "registration" => self.registration = true,
                "admin-api" => self.admin_api = true,
                "short-flow-lifespans" => self.short_flow_lifespans = true,
                "short-privileged-session" => self.short_privileged_session = true,
                "short-session-lifespan" => self.short_session_lifespan = true,
                "recovery" => self.recovery = true,
                "schema-without-totp-account-name" => self.schema_without_account_name = true,
                "pinned-kratos" => self.pinned_kratos = true,
                "concurrency" => self.concurrency = true,
                "previous-configuration" => self.previous_configuration = true,
                "cookie-secret-rotation" => self.cookie_secret_rotation = true,
                "replicas" => self.replicas = true,
                "own-replicas" => self.own_replicas = true,
                "cross-site-cookies" => self.cross_site_cookies = true,
                "same-site-lax-or-strict" => self.same_site_lax_or_strict = true,
                "cors" => self.cors = true,
                other => return Err(format!("@needs:{other} is not a need the suite knows (see src/deployment/needs.rs)")),
            }
        } else if let Some(method) = tag.strip_prefix("disabled:") {
            match method {
                "totp" | "lookup_secret" | "registration" | "recovery" => {
                    if !self.disabled.iter().any(|m| m == method) {
                        self.disabled.push(method.to_string());
                    }
                }
                other => return Err(format!("@disabled:{other}: the suite knows disabled totp, lookup_secret, registration and recovery")),
            }
        } else if let Some(rule) = tag.strip_prefix("whoami:") {
            // The nearest tag wins: a scenario's rule overrides its feature's.
            if self.whoami.is_none() {
                self.whoami = Some(aal(rule)?);
            }
        } else if let Some(rule) = tag.strip_prefix("settings-aal:") {
            if self.settings_aal.is_none() {
                self.settings_aal = Some(aal(rule)?);
            }
        } else if let Some(requirement) = tag.strip_prefix("kratos:") {
            self.versions.push(parse_version_requirement(requirement).ok_or_else(|| {
                format!("@kratos:{requirement}: write a version requirement as >=v25.4.0, <v25.4.0, =v1.3.1")
            })?);
        } else if let Some(when) = tag.strip_prefix("session-extend:") {
            let at_once = match when {
                "at-once" => true,
                "later" => false,
                _ => return Err(format!("@{tag}: a session is extended at-once or later")),
            };
            self.session_extends_at_once.get_or_insert(at_once);
        } else if let Some(admitted) = tag.strip_prefix("settings-ui-return:") {
            let allowed = match admitted {
                "allowed" => true,
                "forbidden" => false,
                _ => return Err(format!("@{tag}: the settings UI's return is allowed or forbidden")),
            };
            self.settings_ui_return_allowed.get_or_insert(allowed);
        } else if let Some(style) = tag.strip_prefix("login-style:") {
            if !matches!(style, "unified" | "identifier_first") {
                return Err(format!("@{tag}: the login style is unified or identifier_first"));
            }
            self.login_style.get_or_insert(style.to_string());
        } else if let Some(steps) = tag.strip_prefix("registration-steps:") {
            let one = match steps {
                "one" => true,
                "two" => false,
                _ => return Err(format!("@{tag}: registration has one or two steps")),
            };
            self.registration_one_step.get_or_insert(one);
        } else if tag == "each:password-identifier" {
            self.each_password_identifier = true;
        } else if tag == "real-browser" {
            self.real_browser = true;
        }
        Ok(())
    }

    /// The derivations a deployment needs to meet these needs where the suite
    /// starts Kratos itself.
    pub fn derivations(&self) -> Vec<Derivation> {
        let mut derived = Vec::new();
        if self.short_flow_lifespans {
            derived.push(Derivation::ShortFlowLifespans);
        }
        if self.short_privileged_session {
            derived.push(Derivation::ShortPrivilegedSession);
        }
        if self.short_session_lifespan {
            derived.push(Derivation::ShortSessionLifespan);
        }
        if self.real_browser {
            derived.push(Derivation::BrowserOrigin);
        }
        if self.cross_site_cookies {
            derived.push(Derivation::CrossSiteCookies);
        }
        if self.previous_configuration {
            derived.push(Derivation::AfterChange);
        }
        if self.cookie_secret_rotation {
            derived.push(Derivation::CookieSecret(CookieSecrets::Before));
        }
        derived
    }

    /// The settings `deployment` takes the other side of from what these needs
    /// describe, turned to that side: where the suite starts Kratos, such a
    /// scenario runs on the team's configuration with them changed
    /// ([`OtherSide`]). Needs no setting can meet (a replica, a version, a
    /// schema without an account-name trait) are not among them.
    pub fn other_sides(&self, deployment: &Deployment) -> Vec<Derivation> {
        self.gaps_in_config(deployment).into_iter().filter_map(|gap| gap.met_by).map(Derivation::OtherSide).collect()
    }

    /// Why `deployment` does not meet these needs; empty when it does.
    pub fn unmet(&self, deployment: &Deployment, facts: &RunFacts) -> Vec<String> {
        let mut reasons = self.unmet_in_config(deployment);
        reasons.extend(self.unmet_in_facts(facts));
        reasons
    }

    /// The needs its configuration does not meet (known before Kratos starts).
    pub fn unmet_in_config(&self, deployment: &Deployment) -> Vec<String> {
        self.gaps_in_config(deployment).into_iter().map(|gap| gap.reason).collect()
    }

    /// Each need the configuration does not meet, with the setting turned to
    /// the other side that would meet it: one list, so that what is not
    /// applicable and what the suite turns cannot disagree.
    fn gaps_in_config(&self, deployment: &Deployment) -> Vec<Gap> {
        let mut gaps: Vec<Gap> = Vec::new();
        for method in &self.methods {
            let (on, setting) = switched_on(deployment, method);
            if !on {
                gaps.push(Gap::met_by(Switch::parse(method).map(|switch| OtherSide::Switched(switch, true)), format!("{method} is disabled ({setting})")));
            }
        }
        for off in &self.disabled {
            let (on, setting) = switched_on(deployment, off);
            if on {
                let side = Switch::parse(off).map(|switch| OtherSide::Switched(switch, false));
                gaps.push(Gap::met_by(side, format!("it describes a deployment with {off} disabled, and the deployment has it on ({setting})")));
            }
        }
        if self.registration && !deployment.registration_enabled {
            gaps.push(Gap::met_by(Some(OtherSide::Switched(Switch::Registration, true)), "self-service registration is disabled (selfservice.flows.registration.enabled)".into()));
        }
        if let Some(rule) = self.whoami
            && deployment.whoami_required_aal != rule {
                gaps.push(Gap::met_by(
                    Some(OtherSide::WhoamiAal(rule)),
                    format!("it describes session.whoami.required_aal: {}, the deployment has {}", rule.name(), deployment.whoami_required_aal.name()),
                ));
            }
        if let Some(rule) = self.settings_aal
            && deployment.settings_required_aal != rule {
                gaps.push(Gap::met_by(
                    Some(OtherSide::SettingsAal(rule)),
                    format!("it describes selfservice.flows.settings.required_aal: {}, the deployment has {}", rule.name(), deployment.settings_required_aal.name()),
                ));
            }
        if let Some(wanted) = self.session_extends_at_once
            && wanted != deployment.extends_new_sessions()
        {
            let setting = match deployment.earliest_possible_extend {
                Some(window) => format!("session.earliest_possible_extend {}", humantime::format_duration(window)),
                None => "session.earliest_possible_extend unset".into(),
            };
            let reason = if wanted {
                format!("it extends a session just made, and the deployment extends one only once less than its window is left ({setting}, session.lifespan {})", humantime::format_duration(deployment.lifespans.session))
            } else {
                format!("it describes a session too young to be extended, and the deployment extends every session at once ({setting})")
            };
            gaps.push(Gap::met_by(Some(OtherSide::ExtendsAtOnce(wanted)), reason));
        }
        if let Some(wanted) = self.settings_ui_return_allowed {
            let admitted = deployment.admits_return_to(&deployment.ui.settings);
            if wanted != admitted {
                let (what, has) = if admitted { ("outside", "admits it") } else { ("inside", "does not admit it") };
                gaps.push(Gap::met_by(
                    Some(OtherSide::SettingsUiReturn(wanted)),
                    format!("it describes a settings UI {what} selfservice.allowed_return_urls, and the deployment's {has} ({})", deployment.ui.settings),
                ));
            }
        }
        if let Some(style) = &self.login_style
            && *style != deployment.login_style {
                gaps.push(Gap::met_by(
                    Some(OtherSide::IdentifierFirstLogin(style == "identifier_first")),
                    format!("it describes the {} login, the deployment's is {} (selfservice.flows.login.style)", style.replace('_', "-"), deployment.login_style.replace('_', "-")),
                ));
            }
        if let Some(one) = self.registration_one_step
            && one != deployment.registration_one_step {
                let steps = |one: bool| if one { "one-step" } else { "two-step" };
                gaps.push(Gap::met_by(
                    Some(OtherSide::OneStepRegistration(one)),
                    format!(
                        "it describes {} registration, the deployment's is {} (selfservice.flows.registration.enable_legacy_one_step)",
                        steps(one),
                        steps(deployment.registration_one_step)
                    ),
                ));
            }
        if self.short_flow_lifespans {
            let longest = deployment.lifespans.login.max(deployment.lifespans.settings);
            if longest > LONGEST_WAIT {
                gaps.push(Gap::unmet(format!(
                    "its flows must expire within {LONGEST_WAIT:?} to be waited out, the deployment's live {longest:?} (the process and container backends derive such an instance)"
                )));
            }
        }
        if self.short_privileged_session && deployment.lifespans.privileged_session > LONGEST_WAIT {
            gaps.push(Gap::unmet(format!(
                "its privileged session must end within {LONGEST_WAIT:?}, the deployment's lasts {:?} (the process and container backends derive such an instance)",
                deployment.lifespans.privileged_session
            )));
        }
        if self.short_session_lifespan && deployment.lifespans.session > LONGEST_WAIT {
            gaps.push(Gap::unmet(format!(
                "its sessions must end within {LONGEST_WAIT:?} to be waited out, the deployment's last {:?} (the process and container backends derive such an instance)",
                deployment.lifespans.session
            )));
        }
        if self.recovery {
            // Turned on, recovery is by code (the setting sets `use` too).
            let on_by_code = Some(OtherSide::Switched(Switch::Recovery, true));
            if !deployment.recovery_enabled {
                gaps.push(Gap::met_by(on_by_code, "account recovery is disabled (selfservice.flows.recovery.enabled)".into()));
            } else if deployment.recovery_use != "code" {
                gaps.push(Gap::met_by(on_by_code, format!("account recovery uses {} (selfservice.flows.recovery.use), the scenario recovers by code", deployment.recovery_use)));
            }
        }
        let pages_over_https = deployment.suite_origins.as_ref().is_some_and(SuiteOrigins::over_https);
        if self.real_browser && !deployment.dev && !pages_over_https {
            // Kratos outside `--dev` sends `Secure` cookies, and a CSRF cookie
            // with the configured `SameSite`: a plain-HTTP page on another site
            // cannot use them, so the scenarios would fail for the suite's sake.
            gaps.push(Gap::unmet(
                "a real browser is given the suite's pages on plain http://127.0.0.1, and this Kratos runs without --dev (Secure cookies, the CSRF cookie SameSite as configured), which such a page cannot use; the suite serves its pages over HTTPS only where it terminates TLS itself (KRATOS_TOPOLOGY=production)".into(),
            ));
        } else if self.real_browser
            && let Some(origins) = &deployment.suite_origins {
                let origin = SuiteOrigins::origin(&origins.allowed);
                let page = SuiteOrigins::page(&origins.allowed, &deployment.name, "login");
                if !deployment.cors.allows(&origin) || deployment.ui.login != page.as_str() {
                    gaps.push(Gap::unmet(format!(
                        "a real browser needs the deployment's CORS (serve.public.cors) to allow an origin the suite serves, and its login UI to be the suite's page: this one allows {} (the process and container backends derive such an instance)",
                        if deployment.cors.enabled && !deployment.cors.allowed_origins.is_empty() { deployment.cors.allowed_origins.join(", ") } else { "no origin".into() }
                    )));
                }
            }
        if self.cross_site_cookies {
            let csrf = &deployment.csrf_cookie.same_site;
            let session = &deployment.session_cookie.same_site;
            if deployment.dev {
                gaps.push(Gap::unmet("it needs cookies SameSite=None, which a browser takes only with Secure, and this Kratos runs with --dev, which drops Secure (KRATOS_TOPOLOGY=production derives such an instance)".into()));
            } else if !csrf.eq_ignore_ascii_case("none") || !session.eq_ignore_ascii_case("none") {
                gaps.push(Gap::unmet(format!(
                    "it needs the CSRF and session cookies SameSite=None; this deployment's are SameSite={csrf} and SameSite={session} (cookies.same_site, session.cookie.same_site; KRATOS_TOPOLOGY=production derives such an instance)"
                )));
            }
        }
        // --dev forces the CSRF cookie to Lax whatever is configured.
        if self.same_site_lax_or_strict && !deployment.dev && deployment.csrf_cookie.same_site.eq_ignore_ascii_case("none") {
            gaps.push(Gap::unmet("it describes a CSRF cookie SameSite=Lax or Strict, and this deployment's is SameSite=None (cookies.same_site)".into()));
        }
        if self.cookie_secret_rotation && !deployment.derived.contains(&Derivation::CookieSecret(CookieSecrets::Before)) {
            gaps.push(Gap::unmet(
                "it rotates the cookie secret (secrets.cookie) of instances on one database, which the suite can only do with a Kratos it starts (the process and container backends derive them)".into(),
            ));
        }
        if self.cors && !deployment.cors.restricted() {
            gaps.push(Gap::met_by(Some(OtherSide::RestrictedCors), if deployment.cors.enabled {
                format!("it describes CORS for some origins and not others, and the deployment's allows every origin (serve.public.cors.allowed_origins: {})", deployment.cors.allowed_origins.join(", "))
            } else {
                "it describes CORS, and the deployment has it off (serve.public.cors.enabled)".to_string()
            }));
        }
        if self.schema_without_account_name && deployment.schemas.iter().all(|s| s.totp_account_name().is_some()) {
            gaps.push(Gap::unmet("every identity schema names a TOTP account-name trait".into()));
        }
        gaps
    }

    /// The needs the running instance does not meet (admin API, version, build).
    pub fn unmet_in_facts(&self, facts: &RunFacts) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.admin_api && !facts.admin_api_reachable {
            reasons.push("the admin API is not reachable from the suite (KRATOS_ADMIN_URL)".into());
        }
        if self.concurrency && facts.concurrency < 2 {
            reasons.push(format!(
                "it sends requests at the same moment, and the instance takes one at a time ({}; run with KRATOS_DATABASE=postgres, or raise KRATOS_MAX_CONCURRENT_REQUESTS for an external deployment)",
                facts.database
            ));
        }
        if self.replicas && facts.replicas < 2 {
            reasons.push(
                "it sends requests to one replica and then to another, and the suite knows one address of the deployment (run with KRATOS_TOPOLOGY=production, or name an external deployment's replicas with KRATOS_REPLICA_URLS)".into(),
            );
        }
        if self.own_replicas && !(facts.own_replicas && facts.replicas >= 2) {
            reasons.push(
                "it kills a replica, starts it again, or reaches it behind the proxy, which the suite can only do with the replicas it starts (KRATOS_TOPOLOGY=production)".into(),
            );
        }
        if self.pinned_kratos && !facts.pinned_kratos {
            reasons.push("the suite did not start its own pinned Kratos (KRATOS_BIN, KRATOS_IMAGE or an external deployment)".into());
        }
        for (ordering, or_equal, version) in &self.versions {
            let Some(actual) = &facts.version else {
                reasons.push(format!("it is about Kratos {}, and the version is unknown", describe_requirement(*ordering, *or_equal, version)));
                continue;
            };
            let found = compare_versions(actual, version);
            let met = found == *ordering || (*or_equal && found == Ordering::Equal);
            if !met {
                reasons.push(format!("it is about Kratos {}, this is {actual}", describe_requirement(*ordering, *or_equal, version)));
            }
        }
        reasons
    }
}

fn describe_requirement(ordering: Ordering, or_equal: bool, version: &str) -> String {
    let op = match (ordering, or_equal) {
        (Ordering::Greater, true) => ">=",
        (Ordering::Greater, false) => ">",
        (Ordering::Less, true) => "<=",
        (Ordering::Less, false) => "<",
        (Ordering::Equal, _) => "=",
    };
    format!("{op}{version}")
}

/// `>=v25.4.0` → (Greater, or equal, "v25.4.0").
fn parse_version_requirement(text: &str) -> Option<(Ordering, bool, String)> {
    let (ordering, or_equal, version) = if let Some(v) = text.strip_prefix(">=") {
        (Ordering::Greater, true, v)
    } else if let Some(v) = text.strip_prefix("<=") {
        (Ordering::Less, true, v)
    } else if let Some(v) = text.strip_prefix('>') {
        (Ordering::Greater, false, v)
    } else if let Some(v) = text.strip_prefix('<') {
        (Ordering::Less, false, v)
    } else {
        (Ordering::Equal, true, text.strip_prefix('=').unwrap_or(text))
    };
    version_numbers(version).map(|_| (ordering, or_equal, version.to_string()))
}

fn version_numbers(version: &str) -> Option<Vec<u64>> {
    let core = version.trim_start_matches('v').split(['-', '+']).next()?;
    core.split('.').map(|n| n.parse().ok()).collect()
}

/// Compares `v1.3.1` with `v25.4.0` numerically (pre-release suffixes ignored).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (version_numbers(a), version_numbers(b)) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => a.cmp(b),
    }
}

/// Whether the method or self-service flow a tag names is on, and the setting
/// that says so (the tags' words were checked when they were read).
fn switched_on(deployment: &Deployment, name: &str) -> (bool, &'static str) {
    match name {
        "totp" => (deployment.methods.totp, "selfservice.methods.totp.enabled"),
        "lookup_secret" => (deployment.methods.lookup_secret, "selfservice.methods.lookup_secret.enabled"),
        "password" => (deployment.methods.password, "selfservice.methods.password.enabled"),
        "registration" => (deployment.registration_enabled, "selfservice.flows.registration.enabled"),
        _ => (deployment.recovery_enabled, "selfservice.flows.recovery.enabled"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_nearest_aal_rule_wins_and_needs_add_up() {
        let scenario = tags(&["whoami:aal1", "needs:lookup_secret"]);
        let feature = tags(&["whoami:highest_available", "needs:totp", "needs:admin-api"]);
        let needs = Needs::from_tags(&[&scenario, &[], &feature]).unwrap();
        assert_eq!(needs.whoami, Some(AalRule::Aal1));
        assert_eq!(needs.methods, ["lookup_secret", "totp"]);
        assert!(needs.admin_api);
    }

    #[test]
    fn an_unknown_need_is_an_error() {
        assert!(Needs::from_tags(&[&tags(&["needs:lookup-secrets"])]).unwrap_err().contains("not a need"));
        assert!(Needs::from_tags(&[&tags(&["whoami:aal3"])]).is_err());
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("v1.3.1", "v25.4.0"), Ordering::Less);
        assert_eq!(compare_versions("v26.2.0", "v25.4.0"), Ordering::Greater);
        assert_eq!(compare_versions("v25.4.0", "v25.4.0"), Ordering::Equal);
        let needs = Needs::from_tags(&[&tags(&["kratos:>=v25.4.0"])]).unwrap();
        assert_eq!(needs.versions, [(Ordering::Greater, true, "v25.4.0".to_string())]);
    }

    /// selfservice.flows.{registration,recovery}.enabled decide whether the
    /// scenarios of a deployment without the flow apply.
    #[tokio::test]
    async fn a_disabled_flow_is_the_deployment_s_setting() {
        let needs = Needs::from_tags(&[&tags(&["disabled:registration", "disabled:recovery"])]).unwrap();
        let mut deployment = super::super::tests::own_deployment_allowing(&["http://127.0.0.1:4455/"]).await;
        deployment.registration_enabled = true;
        deployment.recovery_enabled = false;
        let reasons = needs.unmet_in_config(&deployment);
        assert_eq!(reasons, ["it describes a deployment with registration disabled, and the deployment has it on (selfservice.flows.registration.enabled)"]);
        deployment.registration_enabled = false;
        assert!(needs.unmet_in_config(&deployment).is_empty());
        assert!(Needs::from_tags(&[&tags(&["disabled:verification"])]).unwrap_err().contains("the suite knows"));
    }

    /// Each setting a scenario can describe the other side of, turned to that
    /// side, meets the scenario's need: the derived instance is described from
    /// the changed settings, so a turn that Kratos' configuration does not take
    /// as intended would leave the scenario not applicable rather than run.
    #[tokio::test]
    async fn each_other_side_meets_the_need_it_is_turned_for() {
        let base = super::super::tests::own_deployment_allowing(&["http://127.0.0.1:4455/"]).await;
        let cases: &[(&str, &str)] = &[
            ("whoami:aal1", "whoami-aal1"),
            ("settings-aal:aal1", "settings-aal1"),
            ("login-style:identifier_first", "identifier-first-login"),
            ("registration-steps:one", "one-step-registration"),
            ("disabled:lookup_secret", "lookup-secret-off"),
            ("disabled:registration", "registration-off"),
            ("disabled:recovery", "recovery-off"),
            ("session-extend:later", "extend-later"),
            ("settings-ui-return:forbidden", "settings-ui-return-forbidden"),
            ("needs:cors", "restricted-cors"),
        ];
        for (tag, side) in cases {
            let needs = Needs::from_tags(&[&tags(&[tag])]).unwrap();
            assert!(!needs.unmet_in_config(&base).is_empty(), "@{tag} is the other side of the own configuration");
            let sides = needs.other_sides(&base);
            assert_eq!(sides.iter().map(|d| d.name()).collect::<Vec<_>>(), [*side], "@{tag}");
            let mut config = base.config.clone();
            for (key, value) in sides.iter().flat_map(|d| d.settings(&base.config, "test", None)) {
                config.set(key, value);
            }
            let dir = super::super::config::ConfigDir::open(&base.dir).unwrap();
            let turned = Deployment::describe(&dir, Some("strict"), &sides, config, base.schemas.clone(), base.public_base_url.clone(), base.admin_base_url.clone(), true).unwrap();
            assert_eq!(needs.unmet_in_config(&turned), Vec::<String>::new(), "@{tag} on the instance turned to {side}");
            assert!(needs.other_sides(&turned).is_empty(), "@{tag}: nothing left to turn");
        }
        // The other way round, on team configurations that take the other sides.
        for (fixture, cases) in [
            ("globex-workforce", &[("whoami:highest_available", "whoami-highest-available"), ("needs:lookup_secret", "lookup-secret-on"), ("needs:registration", "registration-on"), ("needs:recovery", "recovery-on"), ("needs:cors", "restricted-cors")][..]),
            ("initech-partners", &[("settings-aal:highest_available", "settings-highest-available"), ("login-style:unified", "unified-login"), ("registration-steps:two", "two-step-registration"), ("session-extend:at-once", "extend-at-once"), ("settings-ui-return:allowed", "settings-ui-return-allowed")][..]),
        ] {
            let dir = super::super::config::ConfigDir::open(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(fixture)).unwrap();
            let config = dir.load(None).unwrap();
            let schemas = super::super::schema::load_all(config.get("identity.schemas").unwrap(), &dir.dir).await.unwrap();
            let public = url::Url::parse("http://127.0.0.1:4433/").unwrap();
            let team = Deployment::describe(&dir, None, &[], config.clone(), schemas.clone(), public.clone(), public.clone(), true).unwrap();
            for (tag, side) in cases {
                let needs = Needs::from_tags(&[&tags(&[tag])]).unwrap();
                assert!(!needs.unmet_in_config(&team).is_empty(), "@{tag} is the other side of {fixture}");
                let sides = needs.other_sides(&team);
                assert_eq!(sides.iter().map(|d| d.name()).collect::<Vec<_>>(), [*side], "@{tag} on {fixture}");
                let mut turned_config = config.clone();
                for (key, value) in sides.iter().flat_map(|d| d.settings(&config, "test", None)) {
                    turned_config.set(key, value);
                }
                let turned = Deployment::describe(&dir, None, &sides, turned_config, schemas.clone(), public.clone(), public.clone(), true).unwrap();
                assert_eq!(needs.unmet_in_config(&turned), Vec::<String>::new(), "@{tag} on {fixture} turned to {side}");
            }
        }
        // What no setting meets is not turned.
        let needs = Needs::from_tags(&[&tags(&["needs:replicas", "needs:schema-without-totp-account-name", "needs:password"])]).unwrap();
        assert!(needs.other_sides(&base).is_empty());
        // What the deployment already has is not turned either.
        let needs = Needs::from_tags(&[&tags(&["whoami:highest_available", "needs:lookup_secret", "needs:recovery"])]).unwrap();
        assert!(needs.other_sides(&base).is_empty());
    }
}
