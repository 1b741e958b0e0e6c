//! A real browser: the SPA on the suite's own origin, and the browser flow
//! through the suite's login UI. Steps parse their words, call one action of
//! the scenario's browser ([`crate::browser::Session`]) and check
//! what the page saw, or what the browser itself said.

use anyhow::{Context, Result, anyhow, bail};
use cucumber::{given, then, when};
use crate::browser::{ANY_PAGE, Answer, Origins, ThirdPartyCookies};
use crate::totp::{Authenticator, OtpAuthUrl, decode_qr_png};
use crate::ConformanceWorld;
use serde_json::{Value, json};
use url::Url;

/// The SPA on one of the suite's origins; the deployment's CORS decides which
/// it allows, and the step checks the origin is what its words say.
#[given(regex = r"^the SPA in a browser( that allows third-party cookies)?, on (an origin the deployment's CORS allows|an origin the deployment's CORS does not allow|another site than Kratos, on an origin the deployment's CORS allows)( and fetching without credentials)?$")]
async fn spa_in_browser(world: &mut ConformanceWorld, third_party: String, which: String, without_credentials: String) -> Result<()> {
    let deployment = world.deployment().await?;
    let origins = suite_origins(&deployment)?;
    let (url, allowed) = match which.as_str() {
        w if w.starts_with("an origin the deployment's CORS allows") => (origins.allowed, true),
        w if w.starts_with("another site") => (origins.other_site, true),
        _ => (origins.refused, false),
    };
    let origin = Origins::origin(&url);
    if deployment.cors.allows(&origin) != allowed {
        bail!("the deployment's CORS {} {origin}, this scenario is about an origin it {}", if allowed { "does not allow" } else { "allows" }, if allowed { "allows" } else { "does not allow" });
    }
    let mut page = Origins::page(&url, &world.instance, "spa");
    if !without_credentials.is_empty() {
        page.set_query(Some("credentials=same-origin"));
    }
    let third_party = if third_party.is_empty() { ThirdPartyCookies::Blocked } else { ThirdPartyCookies::Allowed };
    world.browser_whose_user(third_party).await?.open_page(&page, "spa").await
}

#[given("a real browser")]
async fn a_real_browser(world: &mut ConformanceWorld) -> Result<()> {
    world.browser().await?;
    Ok(())
}

#[when(regex = r"^the SPA starts a login flow( for AAL2)?$")]
async fn spa_starts_login(world: &mut ConformanceWorld, aal2: String) -> Result<()> {
    let query = if aal2.is_empty() { vec![] } else { vec![json!("aal=aal2")] };
    world.browser().await?.spa("startLogin", &query).await?;
    Ok(())
}

#[when("the SPA submits the identifier and the password")]
async fn spa_submits_password(world: &mut ConformanceWorld) -> Result<()> {
    let person = world.identity()?.person.clone();
    let fields = json!({"method": "password", "identifier": world.identifier_of(&person)?, "password": person.password});
    world.browser().await?.spa("submit", &[fields]).await?;
    Ok(())
}

/// The password step as set-up: a login flow and the password, answered as the
/// deployment's AAL rule says (422 asking for the second factor, or 200).
#[when("the SPA completes the password step")]
async fn spa_password_step(world: &mut ConformanceWorld) -> Result<()> {
    spa_starts_login(world, String::new()).await?;
    spa_submits_password(world).await?;
    let answer = world.browser().await?.last_answer()?;
    if !matches!(answer.status, Some(200 | 422)) {
        bail!("the SPA's password step failed\n{answer}");
    }
    Ok(())
}

#[when("the SPA submits the TOTP code of the current step")]
async fn spa_submits_totp(world: &mut ConformanceWorld) -> Result<()> {
    let code = world.authenticator()?.current_code();
    world.browser().await?.spa("submit", &[json!({"method": "totp", "totp_code": code})]).await?;
    Ok(())
}

#[when("the SPA submits one of the recovery codes")]
async fn spa_submits_recovery_code(world: &mut ConformanceWorld) -> Result<()> {
    let code = world.recovery_codes.first().context("the identity has no recovery codes")?.clone();
    world.browser().await?.spa("submit", &[json!({"method": "lookup_secret", "lookup_secret": code})]).await?;
    Ok(())
}

#[when("the SPA asks whoami")]
async fn spa_whoami(world: &mut ConformanceWorld) -> Result<()> {
    world.browser().await?.spa("whoami", &[]).await?;
    Ok(())
}

#[when("the SPA logs out")]
async fn spa_logs_out(world: &mut ConformanceWorld) -> Result<()> {
    world.browser().await?.spa("logout", &[]).await?;
    Ok(())
}

/// What the SPA read, as Kratos answered it.
fn read(answer: &Answer, status: u16) -> Result<&Value> {
    if answer.status != Some(status) {
        bail!("expected the SPA to read {status}\n{answer}");
    }
    static NULL: Value = Value::Null;
    Ok(answer.json.as_ref().unwrap_or(&NULL))
}

#[then(regex = r"^the SPA reads (\d+)$")]
async fn spa_reads(world: &mut ConformanceWorld, status: u16) -> Result<()> {
    read(&world.browser().await?.last_answer()?, status).map(|_| ())
}

#[then("the SPA reads 200 with the flow")]
async fn spa_reads_flow(world: &mut ConformanceWorld) -> Result<()> {
    let answer = world.browser().await?.last_answer()?;
    let body = read(&answer, 200)?;
    if body.pointer("/ui/action").is_none() || body["type"] != "browser" {
        bail!("expected a browser flow with a form\n{answer}");
    }
    Ok(())
}

#[then(expr = "the SPA reads {int} with the error {word}")]
async fn spa_reads_error(world: &mut ConformanceWorld, status: u16, id: String) -> Result<()> {
    let answer = world.browser().await?.last_answer()?;
    let body = read(&answer, status)?;
    if body.pointer("/error/id").and_then(Value::as_str) != Some(id.as_str()) {
        bail!("expected the error {id}\n{answer}");
    }
    Ok(())
}

#[then("the SPA reads 422 with the error browser_location_change_required, redirecting to the AAL2 login")]
async fn spa_reads_location_change(world: &mut ConformanceWorld) -> Result<()> {
    spa_reads_error(world, 422, "browser_location_change_required".into()).await?;
    let kratos = world.kratos().await?;
    let answer = world.browser().await?.last_answer()?;
    let expected = kratos.public("self-service/login/browser?aal=aal2");
    let actual = answer.json.as_ref().and_then(|b| b["redirect_browser_to"].as_str()).unwrap_or_default();
    if !actual.starts_with(expected.as_str()) {
        bail!("expected redirect_browser_to {expected}…\n{answer}");
    }
    Ok(())
}

/// The session in a login's answer (`session`) or whoami's (the body).
#[then(regex = r#"^the SPA reads 200 with a session at "(aal\d)" with the methods "(.*)"$"#)]
async fn spa_reads_session(world: &mut ConformanceWorld, aal: String, methods: String) -> Result<()> {
    let answer = world.browser().await?.last_answer()?;
    let body = read(&answer, 200)?;
    let session = body.get("session").unwrap_or(body);
    let expected: Vec<&str> = methods.split(", ").collect();
    let actual: Vec<&str> = session["authentication_methods"].as_array().into_iter().flatten().filter_map(|m| m["method"].as_str()).collect();
    if session["authenticator_assurance_level"] != aal || actual != expected || session["active"] != true {
        bail!("expected an active session at {aal} with the methods {expected:?}\n{answer}");
    }
    Ok(())
}

/// Kratos' cookies are HttpOnly: the page's script never sees them, though
/// they are the page's host's (cookies do not care about ports).
#[then("the SPA's script sees none of Kratos' cookies")]
async fn spa_sees_no_cookie(world: &mut ConformanceWorld) -> Result<()> {
    let answer = world.browser().await?.last_answer()?;
    if answer.cookies.as_deref().is_some_and(|c| !c.is_empty()) {
        bail!("expected document.cookie to be empty\n{answer}");
    }
    Ok(())
}

/// The browser's own jar, asked over the DevTools protocol.
#[then(regex = r"^the browser keeps the (session|CSRF) cookie for Kratos as the deployment configures it$")]
async fn browser_keeps_cookie(world: &mut ConformanceWorld, which: String) -> Result<()> {
    let deployment = world.deployment().await?;
    let kratos = world.kratos().await?;
    let (name, same_site, domain) = if which == "session" {
        (deployment.session_cookie.name.clone(), deployment.session_cookie.same_site.clone(), deployment.session_cookie.domain.clone())
    } else {
        (deployment.csrf_cookie.name.clone(), deployment.csrf_cookie.same_site.clone(), deployment.csrf_cookie.domain.clone())
    };
    let cookies = world.browser().await?.cookies(&kratos.public_url).await?;
    let listed = || cookies.iter().map(|c| format!("{} (domain {}, SameSite {:?}, HttpOnly {})", c.name, c.domain, c.same_site, c.http_only)).collect::<Vec<_>>().join("; ");
    let cookie = cookies.iter().find(|c| c.name == name).ok_or_else(|| anyhow!("the browser keeps no cookie {name} for {}; it has: {}", kratos.public_url, listed()))?;
    let host = kratos.public_url.host_str().unwrap_or_default();
    let expected_domain = domain.map(|d| format!(".{}", d.trim_start_matches('.'))).unwrap_or_else(|| host.to_string());
    if !cookie.http_only || cookie.same_site.as_deref() != Some(same_site.as_str()) || cookie.domain != expected_domain || cookie.secure == deployment.dev {
        bail!(
            "expected {name} HttpOnly, SameSite={same_site}, for {expected_domain}{}; the browser keeps: {}",
            if deployment.dev { ", not Secure (--dev)" } else { ", Secure" },
            listed()
        );
    }
    Ok(())
}

#[then(regex = r"^the browser keeps no (session )?cookie for Kratos$")]
async fn browser_keeps_no_cookie(world: &mut ConformanceWorld, session: String) -> Result<()> {
    let kratos = world.kratos().await?;
    let session_cookie = world.deployment().await?.session_cookie.name.clone();
    let mut cookies = world.browser().await?.cookies(&kratos.public_url).await?;
    if !session.is_empty() {
        cookies.retain(|c| c.name == session_cookie);
    }
    if !cookies.is_empty() {
        bail!("expected no cookie for {}, the browser keeps {}", kratos.public_url, cookies.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "));
    }
    Ok(())
}

/// The browser's words for a `fetch` it did not let the page read: the error
/// the script got, and the CORS error it reports for the request.
#[then(expr = "the browser does not let the SPA read the answer: {string}, with the CORS error {word}")]
async fn browser_refuses(world: &mut ConformanceWorld, error: String, cors: String) -> Result<()> {
    let answer = world.browser().await?.last_answer()?;
    let reason = format!("CORS error {cors}");
    if answer.error.as_deref() != Some(error.as_str()) || !answer.browser_said.iter().any(|s| s.contains(&reason)) {
        bail!("expected the fetch to fail with \"{error}\" and the browser to report {reason}\n{answer}");
    }
    Ok(())
}

/// The cookie the browser would not store from Kratos' answer to another
/// site's request, with the browser's reasons: its `SameSite` attribute
/// (`SameSiteLax`), or, where the browser blocks third-party cookies outright
/// (a private window, which each scenario's context is, and Chromium decides
/// that first), `UserPreferences` or a third-party phase-out reason.
/// "says why": any reason a cross-site cookie is refused for (its
/// `SameSite`, or third-party cookies blocked); "because of its SameSite":
/// that alone.
#[then(regex = r"^the browser did not store the (CSRF|session) cookie from another site's request, (and says why|because of its SameSite)$")]
async fn browser_did_not_store(world: &mut ConformanceWorld, which: String, why: String) -> Result<()> {
    let deployment = world.deployment().await?;
    let (name, same_site) = if which == "CSRF" {
        (deployment.csrf_cookie.name.clone(), deployment.csrf_cookie.same_site.clone())
    } else {
        (deployment.session_cookie.name.clone(), deployment.session_cookie.same_site.clone())
    };
    // Under --dev Kratos sends the CSRF cookie SameSite=Lax whatever is configured.
    let same_site = if which == "CSRF" && deployment.dev { "Lax".to_string() } else { same_site };
    // Chromium names a SameSite refusal SchemefulSameSite… where it compares
    // sites with their scheme (here too when both are https).
    let mut cross_site = vec![format!("SameSite{same_site}"), format!("SchemefulSameSite{same_site}")];
    if why == "and says why" {
        cross_site.extend(["UserPreferences".into(), "ThirdPartyPhaseout".into(), "ThirdPartyBlockedInFirstPartySet".into()]);
    }
    let blocked = world.browser().await?.blocked_cookies(&name).await;
    let refused = blocked.iter().find(|b| !b.stored && b.cookie == name);
    match refused {
        Some(b) if !b.reasons.is_empty() && b.reasons.iter().all(|r| cross_site.contains(r)) => Ok(()),
        _ => {
            let seen: Vec<String> = blocked.iter().map(|b| format!("{} from {}: {}", b.cookie, b.url, b.reasons.join(", "))).collect();
            bail!(
                "expected the browser to refuse {name} as a cross-site cookie ({}); it refused: {}",
                cross_site.join(" or "),
                if seen.is_empty() { "nothing".into() } else { seen.join("; ") }
            )
        }
    }
}

// --- the browser flow through the suite's login UI ---------------------------------

/// The browser at Kratos' login endpoint, returning to the suite's welcome
/// page: Kratos sends it to the login UI (the suite's page), which renders the
/// flow from `ui.nodes`.
#[when("the browser opens a login flow returning to the suite's welcome page")]
async fn browser_opens_login(world: &mut ConformanceWorld) -> Result<()> {
    let kratos = world.kratos().await?;
    let welcome = welcome_page(world, &kratos.deployment)?;
    let mut url = kratos.public("self-service/login/browser");
    url.query_pairs_mut().append_pair("return_to", welcome.as_str());
    let browser = world.browser().await?;
    browser.navigate(&url).await?;
    browser.wait_rendered("login", 3).await
}

#[when("the browser opens a settings flow")]
async fn browser_opens_settings(world: &mut ConformanceWorld) -> Result<()> {
    let url = world.kratos().await?.public("self-service/settings/browser");
    let browser = world.browser().await?;
    browser.navigate(&url).await?;
    browser.wait_rendered("settings", 3).await
}

fn welcome_page(world: &ConformanceWorld, deployment: &crate::deployment::Deployment) -> Result<Url> {
    Ok(Origins::page(&suite_origins(deployment)?.allowed, &world.instance, "welcome"))
}

/// Where the run serves the suite's pages, as the deployment under test knows it.
fn suite_origins(deployment: &crate::deployment::Deployment) -> Result<Origins> {
    deployment.suite_origins.clone().ok_or_else(|| anyhow!("the run serves no pages for a browser (the runner serves them before any instance starts)"))
}

#[then(regex = r#"^the page shows the (login|settings) UI(?: for (aal\d))?, with the fields "(.*)"$"#)]
async fn page_shows_form(world: &mut ConformanceWorld, page: String, aal: String, fields: String) -> Result<()> {
    let browser = world.browser().await?;
    let data = browser.body_data().await?;
    let shown = browser.form_fields().await?;
    let expected: Vec<&str> = fields.split(", ").collect();
    let wrong_aal = !aal.is_empty() && data.get("aal") != Some(&aal);
    if data.get("rendered") != Some(&page) || wrong_aal || expected.iter().any(|f| !shown.iter().any(|s| s == f)) {
        let at = browser.url().await.unwrap_or_default();
        bail!("expected the {page} UI{} with the fields {expected:?}; the browser is at {} showing {data:?} and the fields {shown:?}", if aal.is_empty() { String::new() } else { format!(" for {aal}") }, crate::redact::text(&at));
    }
    Ok(())
}

#[when("the user submits the identifier and the password on the page")]
async fn user_submits_password(world: &mut ConformanceWorld) -> Result<()> {
    let person = world.identity()?.person.clone();
    let identifier = world.identifier_of(&person)?;
    world.browser().await?.submit_form(&[("identifier", &identifier), ("password", &person.password)], "method=password", ANY_PAGE).await
}

#[when(regex = r"^the user submits (the TOTP code of the current step|a wrong TOTP code) on the page$")]
async fn user_submits_totp(world: &mut ConformanceWorld, which: String) -> Result<()> {
    let code = world.authenticator()?.current_code();
    let code = if which.starts_with("a wrong") { format!("{:06}", (code.parse::<u32>().unwrap_or(0) + 500_000) % 1_000_000) } else { code };
    world.browser().await?.submit_form(&[("totp_code", &code)], "method=totp", ANY_PAGE).await
}

#[then(regex = r#"^the browser is on the suite's welcome page, signed in at "(aal\d)" with the methods "(.*)"$"#)]
async fn browser_on_welcome(world: &mut ConformanceWorld, aal: String, methods: String) -> Result<()> {
    let deployment = world.deployment().await?;
    let welcome = welcome_page(world, &deployment)?;
    let browser = world.browser().await?;
    let at = browser.url().await?;
    let data = browser.body_data().await?;
    if !at.starts_with(welcome.as_str()) || data.get("aal") != Some(&aal) || data.get("methods") != Some(&methods) {
        bail!("expected the browser at {welcome}, signed in at {aal} with {methods}; it is at {} showing {data:?}", crate::redact::text(&at));
    }
    Ok(())
}

#[then(expr = "the page shows the message {int}")]
async fn page_shows_message(world: &mut ConformanceWorld, id: u64) -> Result<()> {
    let browser = world.browser().await?;
    let messages = browser.messages().await?;
    if !messages.iter().any(|(m, _)| *m == id.to_string()) {
        bail!("expected the message {id} on the page; it shows {messages:?}");
    }
    Ok(())
}

/// An authenticator app pointed at the QR code as the browser rendered it:
/// a screenshot of the image element, decoded in memory, never written.
#[when("the user scans the QR code on the page with an authenticator app")]
async fn user_scans_qr(world: &mut ConformanceWorld) -> Result<()> {
    let png = world.browser().await?.element_png("img[data-node=totp_qr]").await?;
    let content = decode_qr_png(&png).map_err(|e| anyhow!("the QR code on the page does not scan: {e:#}"))?;
    let url = OtpAuthUrl::parse(&content)?;
    let issuer = world.deployment().await?.methods.totp_issuer.clone();
    if url.issuer_in_label.as_deref() != Some(issuer.as_str()) {
        bail!("expected the scanned otpauth URL to name the issuer \"{issuer}\", it names {:?}", url.issuer_in_label);
    }
    world.authenticator = Some(Authenticator::from_secret(&url.secret)?);
    Ok(())
}

#[when("the user submits the app's TOTP code on the settings page")]
async fn user_pairs(world: &mut ConformanceWorld) -> Result<()> {
    let code = world.authenticator()?.current_code();
    world.browser().await?.submit_form(&[("totp_code", &code)], "method=totp", ANY_PAGE).await
}

/// A new browser context: no cookies, as another browser would be.
#[when("the user comes back in a fresh browser")]
async fn fresh_browser(world: &mut ConformanceWorld) -> Result<()> {
    if let Some(old) = world.browser.take() {
        old.close().await;
    }
    world.browser().await?;
    Ok(())
}
