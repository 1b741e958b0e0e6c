//! What the deployment's configuration makes Kratos send: cookie attributes,
//! redirect targets, otpauth URLs, `continue_with` items. The steps compare the
//! wire with these, so a scenario states behaviour ("the session cookie as the
//! deployment configures it") and the deployment supplies the values.

use serde_json::{Value, json};
use url::Url;

use super::Deployment;

/// The CSRF cookie's lifetime: nosurf's constant, one year.
const CSRF_MAX_AGE: u64 = 31_536_000;

impl Deployment {
    /// The session cookie's attributes, in the order Go writes them (`Path`,
    /// `Domain`, `Expires`, `Max-Age`, `HttpOnly`, `Secure`, `SameSite`), as the
    /// pattern [`crate::check::cookie_attributes`] takes: `Expires=*` (a date),
    /// `Max-Age=a..b` (counted down from the expiry to the second).
    pub fn session_cookie_attributes(&self) -> String {
        let lifespan = self.lifespans.session.as_secs();
        self.session_cookie_attributes_lasting(lifespan.saturating_sub(1), lifespan)
    }

    /// The same, for a session that has `low..=high` seconds left (Kratos
    /// counts the cookie's `Max-Age` down from the session's `expires_at`).
    pub fn session_cookie_attributes_lasting(&self, low: u64, high: u64) -> String {
        let cookie = &self.session_cookie;
        let mut attributes = vec![format!("Path={}", cookie.path)];
        attributes.extend(cookie.domain.as_ref().map(|d| format!("Domain={d}")));
        if cookie.persistent {
            attributes.push("Expires=*".into());
            attributes.push(format!("Max-Age={low}..{high}"));
        }
        attributes.push("HttpOnly".into());
        if !self.dev {
            attributes.push("Secure".into());
        }
        attributes.push(format!("SameSite={}", cookie.same_site));
        attributes.join("; ")
    }

    /// The session cookie as logout expires it.
    pub fn expired_session_cookie_attributes(&self) -> String {
        let cookie = &self.session_cookie;
        let mut attributes = vec![format!("Path={}", cookie.path)];
        attributes.extend(cookie.domain.as_ref().map(|d| format!("Domain={d}")));
        attributes.push("Expires=Thu, 01 Jan 1970 00:00:01 GMT".into());
        attributes.push("Max-Age=0".into());
        attributes.push("HttpOnly".into());
        if !self.dev {
            attributes.push("Secure".into());
        }
        attributes.push(format!("SameSite={}", cookie.same_site));
        attributes.join("; ")
    }

    /// The CSRF cookie's attributes. Under `--dev` it is always `SameSite=Lax`.
    pub fn csrf_cookie_attributes(&self) -> String {
        let cookie = &self.csrf_cookie;
        let mut attributes = vec![format!("Path={}", cookie.path)];
        attributes.extend(cookie.domain.as_ref().map(|d| format!("Domain={d}")));
        attributes.push(format!("Max-Age={CSRF_MAX_AGE}"));
        attributes.push("HttpOnly".into());
        if !self.dev {
            attributes.push("Secure".into());
        }
        let same_site = if self.dev { "Lax" } else { cookie.same_site.as_str() };
        attributes.push(format!("SameSite={same_site}"));
        attributes.join("; ")
    }

    /// The otpauth URL an authenticator app is shown, as Kratos (pquerna/otp)
    /// writes it: the issuer and account name in the label, path-escaped; the
    /// parameters sorted and query-escaped, with `%20` for a space.
    pub fn otpauth_url(&self, account: &str, secret: &str) -> String {
        let issuer = &self.methods.totp_issuer;
        let mut url = Url::parse("otpauth://totp/").expect("valid");
        url.set_path(&format!("/{issuer}:{account}"));
        let query = [("algorithm", "SHA1"), ("digits", "6"), ("issuer", issuer.as_str()), ("period", "30"), ("secret", secret)]
            .iter()
            .map(|(k, v)| format!("{k}={}", query_escape(v)))
            .collect::<Vec<_>>()
            .join("&");
        format!("{}?{query}", url.as_str())
    }

    /// Where a browser goes after a login whose last step used `method`.
    pub fn after_login_url(&self, method: &str) -> String {
        self.return_urls.after_login(method).to_string()
    }

    /// Where a browser goes after a successful settings submit of `method`:
    /// the configured return URL, or the settings UI showing the flow.
    pub fn after_settings_url(&self, method: &str, flow_id: &str) -> String {
        let configured = self
            .config
            .str(&format!("selfservice.flows.settings.after.{method}.default_browser_return_url"))
            .or_else(|| self.config.str("selfservice.flows.settings.after.default_browser_return_url"));
        match configured {
            Some(url) => url.to_string(),
            None => format!("{}?flow={flow_id}", self.ui.settings),
        }
    }

    /// Where a browser goes after registering with a password.
    pub fn after_registration_url(&self) -> String {
        self.config
            .str("selfservice.flows.registration.after.password.default_browser_return_url")
            .or_else(|| self.config.str("selfservice.flows.registration.after.default_browser_return_url"))
            .unwrap_or(&self.return_urls.default)
            .to_string()
    }

    /// Whether registration sends a browser on to the verification UI (the
    /// `show_verification_ui` hook, with verification on).
    pub fn registration_shows_verification(&self) -> bool {
        self.verification.enabled && self.registration_hooks().iter().any(|h| h == "show_verification_ui")
    }

    fn settings_hooks(&self, method: &str) -> Vec<String> {
        self.config
            .get(&format!("selfservice.flows.settings.after.{method}.hooks"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|h| h.get("hook").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    fn registration_hooks(&self) -> Vec<String> {
        let hooks = self
            .config
            .get("selfservice.flows.registration.after.password.hooks")
            .or_else(|| self.config.get("selfservice.flows.registration.after.hooks"));
        hooks
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|h| h.get("hook").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    /// The `show_verification_ui` items Kratos adds to a registration or a
    /// settings submit (`method`) for these unverified addresses (`with_url`:
    /// browser flows carry the UI URL). The flow ids are Kratos' own; `flow_ids`
    /// gives them, in order, from the answer.
    ///
    /// Up to v1.3.1 every unverified address gets one. Since v25.4.0
    /// (ory/kratos#4402) only the `show_verification_ui` hook adds one, for the
    /// first address (registration; settings only for the profile method),
    /// unless `feature_flags.legacy_continue_with_verification_ui` is on.
    pub fn verification_items(&self, addresses: &[String], flow_ids: &[String], with_url: bool, method: Option<&str>) -> Vec<Value> {
        if !self.verification.enabled {
            return Vec::new();
        }
        let legacy = self
            .kratos_version
            .as_deref()
            .is_none_or(|v| super::needs::compare_versions(v, "v25.4.0") == std::cmp::Ordering::Less)
            || self.config.bool("feature_flags.legacy_continue_with_verification_ui").unwrap_or(false);
        let addresses: &[String] = if legacy {
            addresses
        } else {
            let hooked = match method {
                None => self.registration_hooks().iter().any(|h| h == "show_verification_ui"),
                Some("profile") => self.settings_hooks("profile").iter().any(|h| h == "show_verification_ui"),
                Some(_) => false,
            };
            if hooked { &addresses[..addresses.len().min(1)] } else { &[] }
        };
        addresses
            .iter()
            .zip(flow_ids.iter().map(Some).chain(std::iter::repeat(None)))
            .map(|(address, id)| {
                let id = id.cloned().unwrap_or_default();
                let mut flow = json!({"id": id, "verifiable_address": address});
                if with_url {
                    flow["url"] = json!(format!("{}?flow={id}", self.ui.verification));
                }
                json!({"action": "show_verification_ui", "flow": flow})
            })
            .collect()
    }
}

/// Go's `url.QueryEscape`, then `+` as `%20` (what pquerna/otp does).
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_escaping_follows_go() {
        assert_eq!(query_escape("Acme Corp"), "Acme%20Corp");
        assert_eq!(query_escape("kratos-conformance"), "kratos-conformance");
        assert_eq!(query_escape("a@b"), "a%40b");
    }
}
