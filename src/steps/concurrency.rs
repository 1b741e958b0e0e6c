//! Requests at the same moment: several clients of one identity racing with
//! one code, a pairing racing an unlinking, many identities logging in at once.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use cucumber::{given, then, when};
use crate::ConformanceWorld;
use crate::check;
use crate::client::race::{Entrant, percentiles, submit_at_once};
use crate::client::{ClientKind, Exchange, FlowKind};
use crate::totp::OtpAuthUrl;
use serde_json::{Value, json};

/// `n` native clients of the scenario's identity, each past the password step
/// and holding an AAL2 login flow: ready to send a second factor.
async fn clients_at_the_second_factor(world: &mut ConformanceWorld, n: usize) -> Result<Vec<(crate::client::Client, crate::client::Flow)>> {
    let person = world.identity()?.person.clone();
    let identifier = world.identifier_of(&person)?;
    let mut ready = Vec::new();
    for _ in 0..n {
        let mut client = world.new_client(ClientKind::Native).await?;
        client.password_step(&identifier, &person.password).await?;
        let flow = client.start_and_load(FlowKind::Login, &[("aal", "aal2")]).await?;
        ready.push((client, flow));
    }
    Ok(ready)
}

/// Attempts until one lets more than one client in (the race shows), each with
/// a fresh code and fresh clients, at most `attempts`.
#[when(regex = r"^(\d+) native clients that have completed the password step all send the same recovery code at the same moment, until more than one reaches AAL2 or (\d+) attempts with a fresh code each have passed$")]
async fn race_recovery_code(world: &mut ConformanceWorld, n: usize, attempts: usize) -> Result<()> {
    let attempts = attempts.min(world.recovery_codes.len());
    let mut outcomes: Vec<Vec<Exchange>> = Vec::new();
    for attempt in 0..attempts {
        let code = world.recovery_codes[attempt].clone();
        let entrants = clients_at_the_second_factor(world, n)
            .await?
            .into_iter()
            .map(|(client, flow)| Entrant { client, flow, fields: json!({"method": "lookup_secret", "lookup_secret": code}), late: Vec::new() })
            .collect();
        let answers = submit_at_once(entrants).await.into_iter().collect::<Result<Vec<Exchange>>>()?;
        let winners = answers.iter().filter(|e| e.status.as_u16() == 200).count();
        outcomes.push(answers);
        if winners > 1 {
            eprintln!("kratos-conformance: {n} clients raced one recovery code: in attempt {} of at most {attempts}, {winners} reached AAL2", attempt + 1);
            break;
        }
    }
    world.race_answers = outcomes;
    Ok(())
}

/// The last attempt let more than one client in; in every attempt, each client
/// that did not get in was told the code was used (4000012). (Each client has
/// its own AAL1 session, so no other answer is right.)
#[then("in one attempt more than one of them reached AAL2 with the same code, and every other was told the code was already used")]
async fn more_than_one_winner(world: &mut ConformanceWorld) -> Result<()> {
    for answers in &world.race_answers {
        for loser in answers.iter().filter(|e| e.status.as_u16() != 200) {
            check::status(loser, 400)?;
            let flow = crate::client::Flow::from_json(loser.json()?).map_err(|e| check::failure(loser, e))?;
            check::message_ids(loser, "ui.messages", &flow.ui.messages, &[4000012])?;
        }
        for winner in answers.iter().filter(|e| e.status.as_u16() == 200) {
            check::json_field(winner, &winner.json()?, "/session/authenticator_assurance_level", &json!("aal2"))?;
        }
    }
    let last = world.race_answers.last().context("no attempt ran")?;
    let winners = last.iter().filter(|e| e.status.as_u16() == 200).count();
    if winners <= 1 {
        let example = last.first().context("an attempt without answers")?;
        return Err(check::failure(
            example,
            format!(
                "in {} attempts the same recovery code never logged in more than one client: if Kratos now consumes a code atomically, this deviation is fixed",
                world.race_answers.len()
            ),
        ));
    }
    Ok(())
}

#[when(regex = r"^(\d+) native clients that have completed the password step all send the same TOTP code at the same moment$")]
async fn race_totp_code(world: &mut ConformanceWorld, n: usize) -> Result<()> {
    let code = world.authenticator()?.current_code();
    let entrants = clients_at_the_second_factor(world, n)
        .await?
        .into_iter()
        .map(|(client, flow)| Entrant { client, flow, fields: json!({"method": "totp", "totp_code": code}), late: Vec::new() })
        .collect();
    world.race_answers = vec![submit_at_once(entrants).await.into_iter().collect::<Result<Vec<Exchange>>>()?];
    Ok(())
}

#[then("every one of them reached AAL2")]
async fn all_reached_aal2(world: &mut ConformanceWorld) -> Result<()> {
    for answer in world.race_answers.iter().flatten() {
        check::status(answer, 200)?;
        check::json_field(answer, &answer.json()?, "/session/authenticator_assurance_level", &json!("aal2"))?;
    }
    Ok(())
}

#[given("another native client signed in with the password starts a settings flow")]
async fn other_starts_settings(world: &mut ConformanceWorld) -> Result<()> {
    let person = world.identity()?.person.clone();
    let mut other = world.new_client(ClientKind::Native).await?;
    other.password_step(&world.identifier_of(&person)?, &person.password).await?;
    let flow = other.start_and_load(FlowKind::Settings, &[]).await?;
    world.crowd = vec![other];
    world.crowd_flows = vec![flow];
    Ok(())
}

#[when("the first client pairs an authenticator app")]
async fn first_pairs(world: &mut ConformanceWorld) -> Result<()> {
    world.authenticator = Some(world.client()?.pair_totp().await?);
    world.pending_addresses.clear();
    Ok(())
}

/// The first client unlinks (a new settings flow of its AAL2 session) while the
/// other submits a code of the secret its older flow offered.
#[when("at the same moment the first client unlinks it and the other client pairs its own")]
async fn unlink_races_pairing(world: &mut ConformanceWorld) -> Result<()> {
    let first = world.client()?.clone();
    let unlink_flow = first.start_and_load(FlowKind::Settings, &[]).await?;
    let other = world.crowd.first().context("no other client")?.clone();
    let other_flow = world.crowd_flows.first().context("the other client has no settings flow")?.clone();
    let secret = other_flow
        .node_by_id("totp_secret_key")
        .and_then(|n| n.attributes.pointer("/text/context/secret")?.as_str())
        .context("the other client's settings flow offers no TOTP secret")?
        .to_string();
    let other_app = crate::totp::Authenticator::from_secret(&secret)?;
    let entrants = vec![
        Entrant { client: first, flow: unlink_flow, fields: json!({"totp_unlink": true}), late: Vec::new() },
        Entrant { client: other, flow: other_flow, fields: json!({"method": "totp"}), late: vec![("totp_code".into(), other_app.late_code(0, None))] },
    ];
    world.race_answers = vec![submit_at_once(entrants).await.into_iter().collect::<Result<Vec<Exchange>>>()?];
    world.previous_authenticator = Some(other_app);
    Ok(())
}

/// Whatever the order, the identity ends with no TOTP credential or with the
/// other client's (never the unlinked one, never two), and a new login asks for
/// the second factor exactly when one is paired, and takes that app's code.
#[then("the identity has no TOTP credential or the other client's, and a login asks for the second factor exactly when it has one")]
async fn one_consistent_state(world: &mut ConformanceWorld) -> Result<()> {
    let id = world.identity()?.id.clone();
    let exchange = world.admin().await?.get(&id, Some("totp")).await?;
    check::status(&exchange, 200)?;
    let body = exchange.json()?;
    let url = body.pointer("/credentials/totp/config/totp_url").and_then(Value::as_str).map(str::to_string);
    let other = world.previous_authenticator.clone().context("the other client paired nothing")?;
    let paired = match &url {
        None => None,
        Some(url) => {
            let secret = OtpAuthUrl::parse(url).map_err(|e| check::failure(&exchange, e))?.secret;
            if secret != other.secret() {
                return Err(check::failure(&exchange, "the identity keeps the authenticator app that was unlinked"));
            }
            Some(other)
        }
    };
    let person = world.identity()?.person.clone();
    let mut client = world.new_client(ClientKind::Native).await?;
    let answer = client.password_step(&world.identifier_of(&person)?, &person.password).await?;
    let identity_shown = answer.json()?.pointer("/session/identity").is_some_and(|i| !i.is_null());
    let aal2_flow = client.start_flow(FlowKind::Login, &[("aal", "aal2")]).await?;
    let flow = crate::client::Flow::from_json(aal2_flow.json()?).map_err(|e| check::failure(&aal2_flow, e))?;
    let offers_totp = flow.node("totp_code").is_some();
    check::equals(&aal2_flow, "the AAL2 login offers TOTP (a TOTP credential is kept)", paired.is_some(), offers_totp)?;
    if let Some(app) = paired {
        let done = client.submit_flow_with(&flow, json!({"method": "totp"}), vec![("totp_code".into(), app.late_code(0, None))]).await?;
        check::status(&done, 200)?;
    } else if world.deployment().await?.whoami_required_aal == crate::deployment::AalRule::HighestAvailable && !identity_shown {
        bail!("without a second factor the password step should show the identity");
    }
    Ok(())
}

#[given(regex = r"^(\d+) identities with a password and a paired authenticator app$")]
async fn many_identities(world: &mut ConformanceWorld, n: usize) -> Result<()> {
    for _ in 0..n {
        let identity = world.create_identity(None).await?;
        let mut app = world.new_client(ClientKind::Native).await?;
        app.password_step(&world.identifier_of(&identity.person)?, &identity.person.password).await?;
        let authenticator = app.pair_totp().await?;
        world.crowd_identities.push((identity, authenticator));
    }
    world.pending_addresses.clear();
    Ok(())
}

/// Each identity's login runs on its own task; their requests interleave as the
/// instance's concurrency allows. Every answer is kept, by step.
#[when("each logs in at the same time with a native client, password then TOTP")]
async fn many_log_in(world: &mut ConformanceWorld) -> Result<()> {
    let mut logins = Vec::new();
    for (identity, app) in world.crowd_identities.clone() {
        let mut client = world.new_client(ClientKind::Native).await?;
        let identifier = world.identifier_of(&identity.person)?;
        logins.push(async move {
            let mut answers = Vec::new();
            let start = client.start_flow(FlowKind::Login, &[]).await?;
            let flow = client.flow_from(FlowKind::Login, &start).await?;
            answers.push(("start the login flow", start));
            let password = client.submit_flow(&flow, json!({"method": "password", "identifier": identifier, "password": identity.person.password})).await?;
            client.keep_session_token(&password);
            answers.push(("submit the password", password));
            let start_aal2 = client.start_flow(FlowKind::Login, &[("aal", "aal2")]).await?;
            let aal2 = client.flow_from(FlowKind::Login, &start_aal2).await?;
            answers.push(("start the AAL2 flow", start_aal2));
            let totp = client.submit_flow_with(&aal2, json!({"method": "totp"}), vec![("totp_code".into(), app.late_code(0, None))]).await?;
            answers.push(("submit the TOTP code", totp));
            anyhow::Ok(answers)
        });
    }
    let results = futures::future::join_all(logins).await;
    world.crowd_answers = results.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(())
}

#[then(regex = r"^all (\d+) reached AAL2, no request was answered with a 5xx, and the latency of each step is reported$")]
async fn all_logged_in(world: &mut ConformanceWorld, n: usize) -> Result<()> {
    check_count(world, n)?;
    let mut by_step: Vec<(&str, Vec<Duration>)> = Vec::new();
    for answers in &world.crowd_answers {
        for (step, exchange) in answers {
            if exchange.status.is_server_error() {
                return Err(check::failure(exchange, format!("{step} was answered {}", exchange.status)));
            }
            match by_step.iter_mut().find(|(s, _)| s == step) {
                Some((_, durations)) => durations.push(exchange.elapsed),
                None => by_step.push((step, vec![exchange.elapsed])),
            }
        }
        let (_, last) = answers.last().context("a login made no request")?;
        check::status(last, 200)?;
        check::json_field(last, &last.json()?, "/session/authenticator_assurance_level", &json!("aal2"))?;
    }
    for (step, durations) in by_step {
        let (p50, p95) = percentiles(durations);
        eprintln!("kratos-conformance: {n} logins at once: {step}: p50 {p50:.1?}, p95 {p95:.1?}");
    }
    Ok(())
}

fn check_count(world: &ConformanceWorld, n: usize) -> Result<()> {
    if world.crowd_answers.len() != n {
        bail!("{} of {n} logins ran", world.crowd_answers.len());
    }
    Ok(())
}
