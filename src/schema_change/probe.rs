//! What an existing identity can do, asked of Kratos as its users ask it: a
//! native app logs in, reaches AAL2, asks whoami, saves its profile, and pairs
//! an authenticator app. Kratos refusing is an answer to record ([`Outcome`]);
//! so is an internal error (an identity that no longer validates cannot be
//! updated, and Kratos answers 500 where it would). An answer no Kratos gives
//! (a redirect to a native app) is an error with the exchange.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::{Account, Existing};
use crate::check;
use crate::client::{Client, ClientKind, Exchange, FlowKind, Transcript};
use crate::identity::Identifier;
use crate::kratos::Kratos;

/// What one thing an identity tried came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It worked; what Kratos showed (`aal1`, `aal2 with password, totp`, an
    /// account name, `accepted`).
    Works(String),
    /// Kratos refused; what it said (message ids and texts, or the error).
    Refused(String),
}

impl Outcome {
    pub fn works(&self) -> bool {
        matches!(self, Outcome::Works(_))
    }

    /// For reports: `works: aal1`, `refused: 4000006 The provided ...`.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Works(what) => format!("works ({what})"),
            Outcome::Refused(why) => format!("refused: {why}"),
        }
    }
}

/// One thing an existing identity is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Aspect {
    /// The password step with an identifier it had (its trait).
    Login(String),
    /// The same, by the twin once its profile is saved: Kratos keeps the
    /// identifiers it stored until an identity is updated, and then derives
    /// them from the current schema.
    LoginAfterSave(String),
    /// AAL2 with its authenticator app, or with a recovery code.
    Aal2(Factor),
    /// What whoami says after its strongest login.
    Whoami,
    /// Its settings flow, submitted with its profile unchanged.
    SettingsProfile,
    /// The account name a new pairing of an authenticator app shows.
    AccountName,
}

impl Aspect {
    /// As the report and failure messages say it.
    pub fn describe(&self) -> String {
        match self {
            Aspect::Login(trait_path) => format!("the password login with its `{trait_path}`"),
            Aspect::LoginAfterSave(trait_path) => format!("the password login with its `{trait_path}` once its profile is saved"),
            Aspect::Aal2(Factor::App) => "AAL2 with its authenticator app".into(),
            Aspect::Aal2(Factor::RecoveryCode) => "AAL2 with a recovery code".into(),
            Aspect::Whoami => "whoami after its strongest login".into(),
            Aspect::SettingsProfile => "saving its profile unchanged".into(),
            Aspect::AccountName => "the account name a new pairing shows".into(),
        }
    }
}

/// Everything an identity was found able to do, at one time.
pub type Observed = BTreeMap<Aspect, Outcome>;

/// The second factors an existing identity may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Factor {
    App,
    RecoveryCode,
}

/// Asks Kratos what `aspect` comes to for the existing identities of a kind
/// (the profile is saved by the twin, everything else by the identity).
pub async fn ask(kratos: &Arc<Kratos>, transcript: &Transcript, existing: &Existing, aspect: &Aspect) -> Result<(Outcome, Exchange)> {
    let account = &existing.account;
    match aspect {
        Aspect::Login(trait_path) => {
            let identifier = account.identifiers.iter().find(|i| &i.trait_path == trait_path).ok_or_else(|| {
                anyhow::anyhow!("the identity with {} had no identifier {trait_path}", existing.kind.name())
            })?;
            login(kratos, transcript, account, identifier).await
        }
        Aspect::LoginAfterSave(trait_path) => {
            let twin = &existing.twin;
            let identifier = twin.identifiers.iter().find(|i| &i.trait_path == trait_path).ok_or_else(|| {
                anyhow::anyhow!("the twin identity with {} had no identifier {trait_path}", existing.kind.name())
            })?;
            login(kratos, transcript, twin, identifier).await
        }
        Aspect::Aal2(factor) => second_factor(kratos, transcript, account, *factor).await,
        Aspect::Whoami => whoami(kratos, transcript, account).await,
        Aspect::SettingsProfile => settings_profile(kratos, transcript, &existing.twin).await,
        Aspect::AccountName => account_name(kratos, transcript, account).await,
    }
}

/// The password step with one identifier the identity had.
pub async fn login(kratos: &Arc<Kratos>, transcript: &Transcript, account: &Account, identifier: &Identifier) -> Result<(Outcome, Exchange)> {
    let client = Client::new(ClientKind::Native, Arc::clone(kratos), transcript.clone());
    let answer = client.submit_password(&identifier.value, &account.person.password).await?;
    let outcome = match answer.status.as_u16() {
        200 => Outcome::Works(aal_of(&answer, "/session/authenticator_assurance_level")),
        400 | 500.. => Outcome::Refused(said(&answer)),
        _ => bail!(check::failure(&answer, format!("the password step answered {}, neither a session nor a refusal", answer.status))),
    };
    Ok((outcome, answer))
}

/// The password step, then the AAL2 login with `factor`. A recovery code is
/// used up whatever the answer.
pub async fn second_factor(kratos: &Arc<Kratos>, transcript: &Transcript, account: &Account, factor: Factor) -> Result<(Outcome, Exchange)> {
    let mut client = Client::new(ClientKind::Native, Arc::clone(kratos), transcript.clone());
    if let Some(refused) = first_factor(&mut client, account).await? {
        return Ok(refused);
    }
    second_factor_with(&mut client, account, factor).await
}

/// What whoami says after the identity's strongest login (with its app where
/// it has one).
pub async fn whoami(kratos: &Arc<Kratos>, transcript: &Transcript, account: &Account) -> Result<(Outcome, Exchange)> {
    let mut client = Client::new(ClientKind::Native, Arc::clone(kratos), transcript.clone());
    if let Some(refused) = strongest_login(&mut client, account).await? {
        return Ok(refused);
    }
    let answer = client.whoami().await?;
    let outcome = match answer.status.as_u16() {
        200 => {
            let body = answer.json()?;
            let methods: Vec<&str> = body["authentication_methods"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["method"].as_str())
                .collect();
            Outcome::Works(format!("{} with {}", aal_of(&answer, "/authenticator_assurance_level"), methods.join(", ")))
        }
        401 | 403 | 500.. => Outcome::Refused(said(&answer)),
        _ => bail!(check::failure(&answer, format!("whoami answered {}", answer.status))),
    };
    Ok((outcome, answer))
}

/// The settings flow of the identity, submitted with its traits as they are
/// stored (what a profile page sends when the user saves without a change).
pub async fn settings_profile(kratos: &Arc<Kratos>, transcript: &Transcript, account: &Account) -> Result<(Outcome, Exchange)> {
    let mut client = Client::new(ClientKind::Native, Arc::clone(kratos), transcript.clone());
    if let Some(refused) = strongest_login(&mut client, account).await? {
        return Ok(refused);
    }
    let started = client.start_flow(FlowKind::Settings, &[]).await?;
    if started.status.as_u16() != 200 {
        return Ok((Outcome::Refused(format!("the settings flow did not load: {}", said(&started))), started));
    }
    let flow = client.flow_from(FlowKind::Settings, &started).await?;
    let traits = flow.raw.pointer("/identity/traits").cloned().unwrap_or(Value::Null);
    let answer = client.submit_flow(&flow, json!({"method": "profile", "traits": traits})).await?;
    let outcome = match answer.status.as_u16() {
        200 if answer.json().is_ok_and(|b| b["state"] == "success") => Outcome::Works("accepted".into()),
        400 | 403 | 500.. => Outcome::Refused(said(&answer)),
        _ => bail!(check::failure(&answer, format!("the profile submit answered {}", answer.status))),
    };
    Ok((outcome, answer))
}

/// The account name the settings flow's QR code shows for a new pairing.
pub async fn account_name(kratos: &Arc<Kratos>, transcript: &Transcript, account: &Account) -> Result<(Outcome, Exchange)> {
    let mut client = Client::new(ClientKind::Native, Arc::clone(kratos), transcript.clone());
    if let Some(refused) = strongest_login(&mut client, account).await? {
        return Ok(refused);
    }
    account_name_offered(&client).await
}

/// The account name in the QR code of a new settings flow of `client`'s session.
pub async fn account_name_offered(client: &Client) -> Result<(Outcome, Exchange)> {
    let started = client.start_flow(FlowKind::Settings, &[]).await?;
    if started.status.as_u16() != 200 {
        return Ok((Outcome::Refused(format!("the settings flow did not load: {}", said(&started))), started));
    }
    let flow = client.flow_from(FlowKind::Settings, &started).await?;
    let Some(src) = flow.node_by_id("totp_qr").and_then(|n| n.attr_str("src")) else {
        return Ok((Outcome::Refused("the settings flow offers no authenticator app to pair (no totp_qr node)".into()), started));
    };
    let url = crate::totp::decode_qr_data_uri(src).map_err(|e| check::failure(&started, format!("the totp_qr image: {e}")))?;
    let parsed = crate::totp::OtpAuthUrl::parse(&url).map_err(|e| check::failure(&started, format!("the totp_qr image: {e}")))?;
    Ok((Outcome::Works(parsed.account), started))
}

/// Logs in with the first identifier it had, and with its app where it has one.
/// `Some` where Kratos refused one of the two.
async fn strongest_login(client: &mut Client, account: &Account) -> Result<Option<(Outcome, Exchange)>> {
    if let Some(refused) = first_factor(client, account).await? {
        return Ok(Some(refused));
    }
    if account.authenticator.is_some() {
        let (outcome, answer) = second_factor_with(client, account, Factor::App).await?;
        if let Outcome::Refused(why) = outcome {
            return Ok(Some((Outcome::Refused(format!("the login with its authenticator app was refused: {why}")), answer)));
        }
    }
    Ok(None)
}

async fn first_factor(client: &mut Client, account: &Account) -> Result<Option<(Outcome, Exchange)>> {
    let identifier = account.identifiers.first().map(|i| i.value.as_str()).unwrap_or_default();
    let answer = client.submit_password(identifier, &account.person.password).await?;
    match answer.status.as_u16() {
        200 => {
            client.keep_session_token(&answer);
            Ok(None)
        }
        400 | 500.. => {
            let trait_path = account.identifiers.first().map(|i| i.trait_path.as_str()).unwrap_or("?");
            Ok(Some((Outcome::Refused(format!("the password step with its {trait_path} was refused: {}", said(&answer))), answer)))
        }
        _ => bail!(check::failure(&answer, format!("the password step answered {}", answer.status))),
    }
}

async fn second_factor_with(client: &mut Client, account: &Account, factor: Factor) -> Result<(Outcome, Exchange)> {
    let started = client.start_flow(FlowKind::Login, &[("aal", "aal2")]).await?;
    if started.status.as_u16() != 200 {
        return Ok((Outcome::Refused(format!("the AAL2 login did not start: {}", said(&started))), started));
    }
    let flow = client.flow_from(FlowKind::Login, &started).await?;
    let answer = match factor {
        Factor::App => {
            let app = account.authenticator.as_ref().expect("only identities with an app are asked for it");
            client.submit_flow_with(&flow, json!({"method": "totp"}), vec![("totp_code".into(), app.late_code(0, None))]).await?
        }
        Factor::RecoveryCode => {
            let code = account.take_recovery_code().ok_or_else(|| anyhow::anyhow!("its recovery codes are used up"))?;
            client.submit_flow(&flow, json!({"method": "lookup_secret", "lookup_secret": code})).await?
        }
    };
    let outcome = match answer.status.as_u16() {
        200 => {
            client.keep_session_token(&answer);
            Outcome::Works(aal_of(&answer, "/session/authenticator_assurance_level"))
        }
        400 | 500.. => Outcome::Refused(said(&answer)),
        _ => bail!(check::failure(&answer, format!("the AAL2 login answered {}", answer.status))),
    };
    Ok((outcome, answer))
}

fn aal_of(answer: &Exchange, pointer: &str) -> String {
    answer.json().ok().and_then(|b| b.pointer(pointer).and_then(Value::as_str).map(str::to_string)).unwrap_or_else(|| "no AAL".into())
}

/// What Kratos said in a refusal: a flow's messages with their ids (and the
/// field each is about), or an error's id and reason.
pub fn said(answer: &Exchange) -> String {
    let Ok(body) = answer.json() else { return format!("{} without a JSON body", answer.status) };
    if let Some(error) = crate::client::KratosError::from_json(&body) {
        let detail = error.reason().or(error.message()).unwrap_or_default();
        return match error.id() {
            Some(id) => format!("{} {id}: {detail}", answer.status.as_u16()),
            None => format!("{}: {detail}", answer.status),
        };
    }
    let mut said = Vec::new();
    let text = |m: &Value| format!("{} {}", m["id"], m["text"].as_str().unwrap_or_default());
    for message in body.pointer("/ui/messages").and_then(Value::as_array).into_iter().flatten() {
        said.push(text(message));
    }
    for node in body.pointer("/ui/nodes").and_then(Value::as_array).into_iter().flatten() {
        let name = node.pointer("/attributes/name").and_then(Value::as_str).unwrap_or("a node");
        for message in node["messages"].as_array().into_iter().flatten() {
            said.push(format!("{name}: {}", text(message)));
        }
    }
    if said.is_empty() { format!("{} without a message", answer.status) } else { said.join("; ") }
}
