//! The state of one scenario. Each scenario gets a fresh world: its own clients,
//! cookie jars and identities, so scenarios share nothing but the Kratos
//! instance the run's plan gave them, and can run concurrently.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};

use crate::client::{Client, ClientKind, Exchange, Flow, FlowKind, Transcript};
use crate::deployment::{CookieSecrets, Deployment};
use crate::identity::{AdminApi, Identity, Person};
use crate::kratos::{self, Kratos};
use crate::totp::Authenticator;

#[derive(Debug, Default, cucumber::World)]
pub struct ConformanceWorld {
    /// The instance this scenario runs on (the run's plan chose it from the
    /// scenario's needs), and, for a scenario that runs once per password
    /// identifier, the identifier trait of this run.
    pub instance: String,
    pub identifier_trait: Option<String>,
    /// The run's instances (the runner gives them to every scenario's World:
    /// two runs in one process each have their own).
    pub instances: Option<Arc<kratos::Instances>>,
    /// The run's browsers (given by the runner too), started on first use.
    pub browsers: Option<Arc<crate::browser::Browsers>>,
    kratos: Option<Arc<Kratos>>,
    /// The instances the scenario used before it turned to its current one,
    /// the first first (a cookie secret rotation's stages).
    pub instances_turned_from: Vec<Arc<Kratos>>,
    /// Every exchange of the scenario, for failure reports.
    pub transcript: Transcript,
    /// The client the scenario's steps speak through.
    pub client: Option<Client>,
    /// The scenario's real browser (a context of its own in the run's
    /// Chromium), for `@real-browser` scenarios.
    pub browser: Option<crate::browser::Session>,
    /// The response to the last request that a `Then` step is about.
    pub last: Option<Exchange>,
    /// The flow the scenario is working on, and which kind it is.
    pub flow: Option<Flow>,
    pub flow_kind: Option<FlowKind>,
    /// The scenario's identity, and the people of its other identities.
    pub identity: Option<Identity>,
    /// Another identity a step signed in as.
    pub other_identity: Option<Identity>,
    /// A person who is not an identity yet (self-service registration).
    pub person: Option<Person>,
    /// The authenticator app paired for the scenario's identity (the newest one),
    /// and the one it replaced.
    pub authenticator: Option<Authenticator>,
    pub previous_authenticator: Option<Authenticator>,
    /// The TOTP code the scenario submitted last (made when its request was sent).
    pub last_totp_code: crate::totp::SentCode,
    /// The `return_to` the scenario asked for.
    pub return_to: Option<String>,
    /// The settings flow the client started last (a login flow may have taken
    /// its place since), and the URL it started it with.
    pub started_settings: Option<Flow>,
    pub settings_start_url: Option<String>,
    /// Where the last answer with a `continue_with` redirect sent the browser.
    pub continue_with: Option<String>,
    /// The authenticator app paired on the other device.
    pub other_authenticator: Option<Authenticator>,
    /// The `method` of the last submit (what a login ended with).
    pub last_method: Option<String>,
    /// The identity's addresses that Kratos has not sent a verification for yet
    /// (where the deployment verifies addresses): the next successful settings
    /// submit sends it, and says so in `continue_with`.
    pub pending_addresses: Vec<String>,
    /// The identity's recovery codes (the newest shown), the ones they
    /// replace, and the one used last.
    pub recovery_codes: Vec<String>,
    pub previous_recovery_codes: Vec<String>,
    pub used_recovery_code: Option<String>,
    /// The client a scenario had before it started "another" one.
    pub first_client: Option<Client>,
    /// A client of the identity (or of another identity) signed in on another
    /// device: the session the scenario's client must not reach, or may.
    pub other_device: Option<Client>,
    /// The native app that enrolled the identity's second factors (still
    /// signed in, at AAL2 once it paired an app or confirmed recovery codes).
    pub enrollment_device: Option<Client>,
    /// The credentials the client held when the scenario kept them, to replay
    /// after Kratos ended the session (what an attacker who copied them does).
    pub kept_credentials: Option<crate::client::Credentials>,
    /// When the client's session ends at the latest: its password step's answer
    /// plus the deployment's session lifespan (what the suite knows, not what
    /// Kratos reports).
    pub session_deadline: Option<std::time::SystemTime>,
    /// The session's `expires_at` as whoami gave it right before the admin API
    /// was asked to extend it.
    pub expiry_before_extension: Option<std::time::SystemTime>,
    /// Clients of the same identity, for scenarios that send requests at the
    /// same moment; and identities with their apps, for those of many identities.
    pub crowd: Vec<Client>,
    pub crowd_flows: Vec<Flow>,
    pub crowd_identities: Vec<(Identity, Authenticator)>,
    /// The answers of requests sent at the same moment, by attempt; and of many
    /// logins, by identity and step.
    pub race_answers: Vec<Vec<Exchange>>,
    pub crowd_answers: Vec<Vec<(&'static str, Exchange)>>,
    /// Every identity the scenario created, deleted when it ends, and the people
    /// behind all of them (for the recorded documentation's placeholders).
    pub created_identities: Vec<String>,
    pub people: Vec<Person>,
    /// The identities of one kind created under the previous configuration
    /// (`@schema-change`), and what the scenario asked of them after the change.
    pub existing: Option<crate::schema_change::Existing>,
    /// The replica (1-based) every client of the scenario sends its requests
    /// to, made now or later; `None`: the deployment as a whole.
    pub replica: Option<usize>,
    /// Its hold on the instance's replicas, while it addresses one or kills one.
    pub replica_hold: Option<kratos::replica::Hold>,
    /// The replicas it killed, started again after it whatever its end.
    pub killed_replicas: Vec<usize>,
    pub asked_after_change: Vec<(crate::schema_change::Aspect, crate::schema_change::Outcome, Exchange)>,
    /// One login per entry of the allow-list: the `return_to` and Kratos' answer.
    pub logins_by_return_url: Vec<(String, Exchange)>,
    /// The last new password a settings flow was sent (for the message that
    /// names its length).
    pub password_sent: Option<String>,
    /// CORS preflights sent, by the origin each came from.
    pub preflights: Vec<(String, Exchange)>,
}

impl ConformanceWorld {
    /// The scenario's browser, opened on its instance on first use.
    pub async fn browser(&mut self) -> Result<&crate::browser::Session> {
        self.browser_whose_user(crate::browser::ThirdPartyCookies::Blocked).await
    }

    /// The scenario's browser, opened in the browser whose user made this
    /// choice about third-party cookies if it is not open yet.
    pub async fn browser_whose_user(&mut self, third_party: crate::browser::ThirdPartyCookies) -> Result<&crate::browser::Session> {
        if self.browser.is_none() {
            let kratos = self.kratos().await?;
            let browsers = self.browsers.clone().ok_or_else(|| anyhow!("this World was not given the run's browsers: run it with kratos_conformance::runner"))?;
            let chromium = browsers.chromium(third_party).await.map_err(|e| anyhow!("{e}"))?;
            self.browser = Some(chromium.session(kratos).await?);
        }
        Ok(self.browser.as_ref().expect("opened above"))
    }

    /// The run's instances, as the runner gave them to this scenario.
    pub fn run_instances(&self) -> Result<Arc<kratos::Instances>> {
        self.instances.clone().ok_or_else(|| anyhow!("this World was not given the run's instances: run it with kratos_conformance::runner"))
    }

    /// The Kratos instance of this scenario.
    pub async fn kratos(&mut self) -> Result<Arc<Kratos>> {
        if let Some(kratos) = &self.kratos {
            return Ok(Arc::clone(kratos));
        }
        let kratos = self
            .run_instances()?
            .get(&self.instance)
            .ok_or_else(|| anyhow!("the Kratos instance \"{}\" of this scenario is not running", self.instance))?;
        self.kratos = Some(Arc::clone(&kratos));
        Ok(kratos)
    }

    /// Turns the scenario and its clients to the instance at another stage of
    /// the cookie secret rotation its instance is part of: the same database
    /// and sessions, other secrets, as when a load balancer sends the next
    /// request to another instance of a rolling deployment. Cookie jars keep
    /// their cookies: the instances share the host, and cookies ignore ports.
    pub async fn turn_to_cookie_secret_stage(&mut self, stage: CookieSecrets) -> Result<()> {
        let current = self.kratos().await?;
        let next = self.run_instances()?.at_cookie_secret_stage(&current, stage).ok_or_else(|| {
            anyhow!("the instance {} is not part of a cookie secret rotation: tag the scenario @needs:cookie-secret-rotation", current.name)
        })?;
        for client in [&mut self.client, &mut self.first_client, &mut self.other_device, &mut self.enrollment_device].into_iter().flatten() {
            client.kratos = Arc::clone(&next);
        }
        self.instances_turned_from.push(current);
        self.kratos = Some(next);
        Ok(())
    }

    /// What the deployment under test is configured to do.
    pub async fn deployment(&mut self) -> Result<Arc<Deployment>> {
        Ok(Arc::clone(&self.kratos().await?.deployment))
    }

    /// The Kratos this scenario started on, if it used one (for the
    /// documentation: its instance and the addresses standing for all).
    pub fn first_kratos(&self) -> Option<Arc<Kratos>> {
        self.instances_turned_from.first().cloned().or_else(|| self.kratos.clone())
    }

    /// The Kratos this scenario already uses, if any (for the after-hook).
    pub fn kratos_in_use(&self) -> Option<Arc<Kratos>> {
        self.kratos.clone()
    }

    pub async fn admin(&mut self) -> Result<AdminApi> {
        Ok(AdminApi::new(self.kratos().await?, self.transcript.clone()))
    }

    pub async fn new_client(&mut self, kind: ClientKind) -> Result<Client> {
        let kratos = self.kratos().await?;
        let mut client = Client::new(kind, kratos, self.transcript.clone());
        client.send_to_replica(self.replica)?;
        Ok(client)
    }

    /// Sends the requests of every client of the scenario, and of those it
    /// makes later, to replica `number` alone (`None`: to the deployment as a
    /// whole again). While it does, no other scenario kills a replica.
    pub async fn send_to_replica(&mut self, number: Option<usize>) -> Result<()> {
        let kratos = self.kratos().await?;
        if let Some(n) = number {
            kratos.replica(n).map_err(|e| anyhow!(e))?;
            if self.replica_hold.is_none() {
                self.replica_hold = Some(kratos.hold_replicas(false).await.map_err(|e| anyhow!(e))?);
            }
        }
        self.replica = number;
        for client in [&mut self.client, &mut self.first_client, &mut self.other_device, &mut self.enrollment_device].into_iter().flatten() {
            client.send_to_replica(number)?;
        }
        Ok(())
    }

    /// Kills replica `number` (a replica the suite started), once no other
    /// scenario addresses one.
    pub async fn kill_replica(&mut self, number: usize) -> Result<()> {
        let kratos = self.hold_replicas_alone().await?;
        kratos.kill_replica(number).await.map_err(|e| anyhow!(e))?;
        self.killed_replicas.push(number);
        Ok(())
    }

    /// Holds the instance's replicas alone (no other scenario addresses one),
    /// for a step that kills or restarts one.
    async fn hold_replicas_alone(&mut self) -> Result<Arc<Kratos>> {
        let kratos = self.kratos().await?;
        if !matches!(self.replica_hold, Some(kratos::replica::Hold::Exclusive(_))) {
            // Its own shared hold would keep the exclusive one waiting forever.
            self.replica_hold = None;
            self.replica_hold = Some(kratos.hold_replicas(true).await.map_err(|e| anyhow!(e))?);
        }
        Ok(kratos)
    }

    /// Starts replica `number` again, as it was started, and waits for it.
    pub async fn restart_replica(&mut self, number: usize) -> Result<std::time::Duration> {
        let kratos = self.hold_replicas_alone().await?;
        // A running replica is killed between two requests first, as
        // `kill_replica` does: a request another scenario has in flight to it
        // through the proxy would otherwise be cut off (nginx answers 502 and,
        // for a POST, tries no other replica).
        if kratos.replica(number).map_err(|e| anyhow!(e))?.is_running().await {
            kratos.kill_replica(number).await.map_err(|e| anyhow!(e))?;
        }
        let timeout = kratos.limits.startup_timeout;
        let took = kratos.replica(number).map_err(|e| anyhow!(e))?.restart(timeout).await.map_err(|e| anyhow!(e))?;
        self.killed_replicas.retain(|n| *n != number);
        Ok(took)
    }

    /// After the scenario: starts again what it killed, and lets go of the
    /// replicas. A replica that does not come back fails the scenario's
    /// instance for every scenario after it, so it is said loudly.
    pub async fn restore_replicas(&mut self) {
        for number in std::mem::take(&mut self.killed_replicas) {
            if let Some(kratos) = self.kratos.clone()
                && let Ok(replica) = kratos.replica(number)
                && !replica.is_running().await
                && let Err(e) = replica.restart(kratos.limits.startup_timeout).await
            {
                eprintln!("{}", crate::redact::text(&format!("replica {number} of {} did not start again after a scenario killed it: {e}", kratos.name)));
            }
        }
        self.replica_hold = None;
    }

    pub fn client(&self) -> Result<&Client> {
        self.client.as_ref().context("no client yet: start the scenario with \"Given a <browser|SPA|native> client\"")
    }

    pub fn client_mut(&mut self) -> Result<&mut Client> {
        self.client.as_mut().context("no client yet: start the scenario with \"Given a <browser|SPA|native> client\"")
    }

    pub fn last(&self) -> Result<&Exchange> {
        self.last.as_ref().context("no request was made yet")
    }

    /// The current flow; without one, the error shows the last exchange, which
    /// is what did not yield a flow.
    pub fn flow(&self) -> Result<&Flow> {
        self.flow.as_ref().ok_or_else(|| match self.transcript.last() {
            Some(exchange) => crate::check::failure(&exchange, "expected a flow, the last answer carried none"),
            None => anyhow!("no flow yet: start one with \"When it starts a login flow\""),
        })
    }

    pub fn identity(&self) -> Result<&Identity> {
        self.identity.as_ref().context("no identity yet: add \"Given an identity with a password\"")
    }

    pub fn authenticator(&self) -> Result<&Authenticator> {
        self.authenticator.as_ref().context("no authenticator app was paired or read from a flow yet")
    }

    /// Deletes every identity the scenario created, also after a failure.
    pub async fn delete_created_identities(&mut self) {
        let Some(kratos) = self.kratos.clone() else { return };
        let admin = AdminApi::new(kratos, Transcript::default());
        for id in std::mem::take(&mut self.created_identities) {
            let _ = admin.delete(&id).await;
        }
    }
}

/// What a submit does with the flow's CSRF token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Csrf {
    /// The token from the flow's `csrf_token` node (browser and SPA flows).
    FromFlow,
    Omitted,
    Wrong,
}

impl ConformanceWorld {
    /// Submits `fields` to the current flow's `ui.action` (or to `action`), as the
    /// scenario's client, and keeps the answer for the `Then` steps.
    pub async fn submit_to_flow(&mut self, action: Option<String>, fields: serde_json::Value, csrf: Csrf, headers: &[(String, String)]) -> Result<()> {
        self.submit_to_flow_with(action, fields, csrf, headers, Vec::new()).await
    }

    /// The same, with fields made when the request's turn at Kratos comes.
    pub async fn submit_to_flow_with(
        &mut self,
        action: Option<String>,
        fields: serde_json::Value,
        csrf: Csrf,
        headers: &[(String, String)],
        late: Vec<(String, crate::client::Late)>,
    ) -> Result<()> {
        // The method a submit is about: its `method` field, or what its fields
        // belong to (`totp_unlink` is TOTP's, `lookup_secret_confirm` recovery codes').
        self.last_method = fields.get("method").and_then(|m| m.as_str()).map(str::to_string).or_else(|| {
            let names: Vec<&str> = fields.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
            ["totp", "lookup_secret", "password", "profile"]
                .into_iter()
                .find(|method| names.iter().any(|n| n.starts_with(method)))
                .map(str::to_string)
        });
        let flow = self.flow()?.clone();
        let client = self.client()?.clone();
        let mut fields: Vec<(String, serde_json::Value)> = fields.as_object().cloned().unwrap_or_default().into_iter().collect();
        let token = match csrf {
            Csrf::FromFlow if client.kind != ClientKind::Native => Some(flow.csrf_token().unwrap_or_default().to_string()),
            Csrf::Wrong => Some("d3JvbmctY3NyZi10b2tlbi1vZi10aGlydHktdHdvIGJ5dGVzIQ==".to_string()),
            _ => None,
        };
        if let Some(token) = token {
            fields.push(("csrf_token".into(), serde_json::Value::String(token)));
        }
        let action = action.unwrap_or_else(|| flow.ui.action.clone());
        let exchange = client.submit_with(&action, fields, headers, late).await?;
        self.last = Some(exchange);
        Ok(())
    }

    /// A settings flow of an identity without TOTP offers a new secret: that is the
    /// authenticator app a user would pair now (the one it replaces is kept).
    pub fn read_offered_totp_secret(&mut self) -> Result<()> {
        let offered = self.flow.as_ref().and_then(|flow| {
            flow.node_by_id("totp_secret_key")?.attributes.pointer("/text/context/secret")?.as_str().map(str::to_string)
        });
        if let Some(secret) = offered
            && self.authenticator.as_ref().is_none_or(|a| a.secret() != secret) {
                let app = Authenticator::from_secret(&secret)?;
                self.previous_authenticator = self.authenticator.replace(app);
            }
        Ok(())
    }

    /// A new fake person for a schema of the deployment (`None`: the default).
    pub async fn new_person(&mut self, schema_id: Option<&str>) -> Result<Person> {
        let deployment = self.deployment().await?;
        let schema = match schema_id {
            Some(id) => deployment.schema(id).with_context(|| format!("the deployment has no identity schema \"{id}\""))?,
            None => deployment.default_schema(),
        };
        let person = Person::generate(&deployment, schema).map_err(|e| anyhow!("{e}"))?;
        self.people.push(person.clone());
        Ok(person)
    }

    /// Creates an identity through the admin API and remembers it for deletion.
    /// A refusal of the generated traits names the trait and how to pin it.
    pub async fn create_identity(&mut self, schema_id: Option<&str>) -> Result<Identity> {
        let deployment = self.deployment().await?;
        let schema_id = schema_id.unwrap_or(&deployment.default_schema_id).to_string();
        let person = self.new_person(Some(&schema_id)).await?;
        let exchange = self.admin().await?.create(&person, &schema_id).await?;
        if exchange.status.as_u16() == 400 {
            return Err(crate::check::failure(&exchange, crate::identity::explain_refused_traits(&exchange)));
        }
        crate::check::status(&exchange, 201)?;
        let id = exchange.json()?["id"].as_str().context("the created identity has no id")?.to_string();
        self.created_identities.push(id.clone());
        // Created through the admin API, its addresses wait for a verification.
        self.pending_addresses = pending_addresses(&deployment, &schema_id, &person);
        Ok(Identity { id, person, schema_id })
    }

    /// The identifier a login is filled with: the one this run of the scenario
    /// is about, or the schema's first.
    pub fn identifier_of(&self, person: &Person) -> Result<String> {
        person.identifier_of(self.identifier_trait.as_deref()).map(str::to_string).with_context(|| {
            format!("the person has no password identifier{}", self.identifier_trait.as_ref().map(|t| format!(" traits.{t}")).unwrap_or_default())
        })
    }
}

/// The addresses of `person` that Kratos will verify (lower-cased, as it stores
/// them), where the deployment verifies addresses.
fn pending_addresses(deployment: &Deployment, schema_id: &str, person: &Person) -> Vec<String> {
    if !deployment.verification.enabled {
        return Vec::new();
    }
    let Some(schema) = deployment.schema(schema_id) else { return Vec::new() };
    schema.verifiable_traits().iter().filter_map(|t| person.trait_str(&t.path)).map(str::to_lowercase).collect()
}
