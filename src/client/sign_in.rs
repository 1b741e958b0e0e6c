//! Signing in as a set-up step: the whole login a scenario needs before it can
//! do what it is about, for each kind of client. Each request is still recorded
//! and every unexpected answer fails with the exchange.

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::{Client, ClientKind, Exchange, Flow, FlowKind};
use crate::identity::Person;
use crate::totp::Authenticator;

impl Client {
    /// Logs in with the password and, when an authenticator is given, completes
    /// the second factor with its current code. Afterwards the client holds the
    /// session (cookie jar or session token).
    pub async fn sign_in(&mut self, person: &Person, authenticator: Option<&Authenticator>) -> Result<()> {
        let flow = self.start_and_load(FlowKind::Login, &[]).await?;
        let password = json!({"method": "password", "identifier": person.email, "password": person.password});
        let answer = self.submit_flow(&flow, password).await?;
        self.expect_signed_in(&answer, authenticator.is_some())?;
        if let Some(authenticator) = authenticator {
            let flow = self.start_and_load(FlowKind::Login, &[("aal", "aal2")]).await?;
            let totp = json!({"method": "totp", "totp_code": authenticator.current_code()});
            let answer = self.submit_flow(&flow, totp).await?;
            self.expect_signed_in(&answer, false)?;
        }
        Ok(())
    }

    /// Starts a flow and loads it as the UI would.
    pub async fn start_and_load(&self, kind: FlowKind, query: &[(&str, &str)]) -> Result<Flow> {
        let started = self.start_flow(kind, query).await?;
        if !matches!(started.status.as_u16(), 200 | 303) {
            bail!("starting a {} flow answered {}\n{started}", kind.path(), started.status);
        }
        self.flow_from(kind, &started).await
    }

    /// Submits `fields` (an object) to the flow with its CSRF token.
    pub async fn submit_flow(&self, flow: &Flow, fields: Value) -> Result<Exchange> {
        let mut fields: Vec<(String, Value)> = fields.as_object().cloned().unwrap_or_default().into_iter().collect();
        if self.kind != ClientKind::Native {
            fields.push(("csrf_token".into(), json!(flow.csrf_token().unwrap_or_default())));
        }
        self.submit(&flow.ui.action, fields).await
    }

    /// A password or TOTP step went through. `aal2_pending`: the identity has a
    /// second factor, so the password step ends at AAL1 with a request for more.
    fn expect_signed_in(&mut self, answer: &Exchange, aal2_pending: bool) -> Result<()> {
        let ok = match (self.kind, aal2_pending) {
            (ClientKind::Browser, _) => answer.status.as_u16() == 303,
            (ClientKind::Spa, true) => answer.status.as_u16() == 422,
            (ClientKind::Spa, false) | (ClientKind::Native, _) => answer.status.as_u16() == 200,
        };
        if !ok {
            bail!("signing in as a {} client failed with {}\n{answer}", self.kind, answer.status);
        }
        if self.kind == ClientKind::Native {
            self.keep_session_token(answer);
        }
        Ok(())
    }
}
