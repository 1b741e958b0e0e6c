//! Existing identities after a change of the schema or the configuration: the
//! identities of a kind created before it, asked again what they could do.

use anyhow::{Context, Result};
use cucumber::{given, then, when};
use crate::{ConformanceWorld, check};
use crate::schema_change::{self, Aspect, Existing, Factor, Kind};

#[given(regex = r"^the identities with (.+) created before the change$")]
async fn created_before(world: &mut ConformanceWorld, kind: String) -> Result<()> {
    let kind = Kind::parse(&kind).with_context(|| format!("\"{kind}\" is not a kind of identity the suite creates before a change"))?;
    let kratos = world.kratos().await?;
    let change = change_of(&kratos)?;
    world.existing = Some(change.existing_of(kind)?);
    Ok(())
}

/// Asks each aspect after the change and keeps the answers for the `Then`.
async fn ask(world: &mut ConformanceWorld, aspects: Vec<Aspect>) -> Result<()> {
    let kratos = world.kratos().await?;
    let existing = existing(world)?.clone();
    for aspect in aspects {
        let (outcome, exchange) = schema_change::probe::ask(&kratos, &world.transcript, &existing, &aspect).await?;
        world.asked_after_change.push((aspect, outcome, exchange));
    }
    Ok(())
}

/// The change the instance was started after.
fn change_of(kratos: &crate::kratos::Kratos) -> Result<std::sync::Arc<schema_change::ChangeRecord>> {
    schema_change::record_of(kratos).with_context(|| format!("Kratos {} was not started after a change: no identities were created under a previous configuration", kratos.name))
}

fn existing(world: &ConformanceWorld) -> Result<&Existing> {
    world.existing.as_ref().context("no existing identities yet: start with \"Given the identities with <kind> created before the change\"")
}

#[when("it logs in with each identifier it had")]
async fn logs_in_with_each_identifier(world: &mut ConformanceWorld) -> Result<()> {
    let logins = existing(world)?.before.keys().filter(|a| matches!(a, Aspect::Login(_))).cloned().collect();
    ask(world, logins).await
}

/// The twin saves its profile first (as `it saves its profile unchanged`), then
/// logs in with each identifier it had.
#[when("it saves its profile unchanged and logs in with each identifier it had")]
async fn saves_then_logs_in(world: &mut ConformanceWorld) -> Result<()> {
    let logins: Vec<Aspect> = existing(world)?.before.keys().filter(|a| matches!(a, Aspect::LoginAfterSave(_))).cloned().collect();
    // The save is the set-up here, judged by its own scenario: not recorded.
    let kratos = world.kratos().await?;
    let existing = existing(world)?.clone();
    schema_change::probe::ask(&kratos, &world.transcript, &existing, &Aspect::SettingsProfile).await?;
    ask(world, logins).await
}

#[when(regex = r"^it logs in with its password and (its authenticator app|a recovery code)$")]
async fn logs_in_to_aal2(world: &mut ConformanceWorld, factor: String) -> Result<()> {
    let factor = if factor == "a recovery code" { Factor::RecoveryCode } else { Factor::App };
    ask(world, vec![Aspect::Aal2(factor)]).await
}

#[when("it asks whoami after its strongest login")]
async fn asks_whoami(world: &mut ConformanceWorld) -> Result<()> {
    ask(world, vec![Aspect::Whoami]).await
}

#[when("it saves its profile unchanged")]
async fn saves_profile(world: &mut ConformanceWorld) -> Result<()> {
    ask(world, vec![Aspect::SettingsProfile]).await
}

#[when("it starts pairing an authenticator app")]
async fn starts_pairing(world: &mut ConformanceWorld) -> Result<()> {
    ask(world, vec![Aspect::AccountName]).await
}

/// Every answer the scenario got must be what it was before the change, where
/// that worked; the failure lists each that is not, with the first exchange.
#[then(regex = r"^(?:every identifier that logged in before the change still logs in|every identifier still logs in as it did before the change|it reaches AAL2 as it did before the change|whoami shows the AAL and methods it showed before the change|Kratos accepts it as it did before the change|the app would show the account name it showed before the change)$")]
async fn as_before(world: &mut ConformanceWorld) -> Result<()> {
    let kratos = world.kratos().await?;
    let change = change_of(&kratos)?;
    let existing = existing(world)?;
    anyhow::ensure!(!world.asked_after_change.is_empty(), "nothing was asked after the change");
    let changed: Vec<_> = world
        .asked_after_change
        .iter()
        .filter_map(|(aspect, outcome, exchange)| existing.changed(&change, aspect, outcome).map(|m| (m, exchange)))
        .collect();
    match changed.first() {
        None => Ok(()),
        Some((_, exchange)) => {
            let messages: Vec<&str> = changed.iter().map(|(m, _)| m.as_str()).collect();
            Err(check::failure(exchange, messages.join("\n")))
        }
    }
}
