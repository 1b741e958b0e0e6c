//! CORS on Kratos' public API: each origin `serve.public.cors` allows is
//! answered as a browser needs, and an origin it does not list is not.

use anyhow::{Context, Result};
use cucumber::{then, when};

use crate::client::{ClientKind, UNISSUED_FLOW_ID};
use crate::deployment::CORS_UNLISTED_ORIGIN;
use crate::{ConformanceWorld, check};

/// rs/cors' `Vary` on a preflight, allowed or not: what it read.
const PREFLIGHT_VARY: &str = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/// Preflights for a password step, as an SPA on each origin sends them (to a
/// flow id nobody issued: the preflight is answered before any flow is read).
#[when(regex = r"^an SPA on (each origin serve\.public\.cors allows|an origin serve\.public\.cors does not list) sends the preflight of its password step$")]
async fn sends_preflights(world: &mut ConformanceWorld, which: String) -> Result<()> {
    let deployment = world.deployment().await?;
    let origins = if which.starts_with("each") { deployment.cors.example_origins() } else { vec![CORS_UNLISTED_ORIGIN.to_string()] };
    let client = world.new_client(ClientKind::Spa).await?;
    let mut url = world.kratos().await?.public("self-service/login");
    url.query_pairs_mut().append_pair("flow", UNISSUED_FLOW_ID);
    for origin in origins {
        let answer = client.preflight(url.clone(), &origin).await?;
        world.preflights.push((origin, answer));
    }
    Ok(())
}

/// rs/cors (Kratos v1.3.1): 204, the origin itself (never `*` where
/// credentials are allowed), the method and headers asked for, credentials as
/// `allow_credentials` says, and `Vary` on what it read.
#[then("Kratos allows each of them, with credentials as configured")]
async fn allows_each(world: &mut ConformanceWorld) -> Result<()> {
    let deployment = world.deployment().await?;
    anyhow::ensure!(!world.preflights.is_empty(), "no preflight was sent");
    let credentials = deployment.cors.allow_credentials.then_some("true");
    for (origin, answer) in &world.preflights {
        let what = |header: &str| format!("{header} for the origin {origin}");
        check::status(answer, 204)?;
        check::equals(answer, &what("Access-Control-Allow-Origin"), Some(origin.as_str()), answer.header("access-control-allow-origin"))?;
        check::equals(answer, &what("Access-Control-Allow-Credentials"), credentials, answer.header("access-control-allow-credentials"))?;
        check::equals(answer, &what("Access-Control-Allow-Methods"), Some("POST"), answer.header("access-control-allow-methods"))?;
        check::equals(answer, &what("Access-Control-Allow-Headers"), Some("content-type"), answer.header("access-control-allow-headers"))?;
        check::equals(answer, &what("Vary"), Some(PREFLIGHT_VARY), answer.header("vary"))?;
    }
    Ok(())
}

/// The preflight is answered (204), with nothing that lets the page read on.
#[then("Kratos allows none of them")]
async fn allows_none(world: &mut ConformanceWorld) -> Result<()> {
    let (origin, answer) = world.preflights.first().context("no preflight was sent")?;
    check::status(answer, 204)?;
    for header in ["access-control-allow-origin", "access-control-allow-credentials", "access-control-allow-methods", "access-control-allow-headers"] {
        check::equals(answer, &format!("{header} for the origin {origin}"), None, answer.header(header))?;
    }
    check::equals(answer, "Vary", Some(PREFLIGHT_VARY), answer.header("vary"))
}
