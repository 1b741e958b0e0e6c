//! kratos-conformance: an end-to-end conformance suite for Ory Kratos.
//!
//! The library is the harness and its step definitions ([`steps`]); the
//! scenarios live in `features/`. A team's own test target runs them, and its own
//! `.feature` files beside them, on the same [`world::ConformanceWorld`].
//! Steps stay thin: they parse the words, call a
//! [`client::Client`] action and hand the result to a [`check`].
//!
//! - [`deployment`]: the deployment under test, described once from its
//!   configuration: schemas, identifiers, URLs, issuer, cookies, AAL rules,
//!   lifespans; what a scenario needs of it, and what the team expects.
//! - [`kratos`]: the Kratos launcher (container, local process or an existing
//!   deployment) and its instances.
//! - [`net`]: the network under every client: host names resolved to loopback,
//!   the CAs HTTPS trusts, and a failed connection said as what it is.
//! - [`browser`]: a real browser (headless Chromium over the DevTools
//!   protocol) and the suite's own origin for the pages it loads.
//! - [`client`]: browser, SPA and native clients and the flow, node, session and
//!   error types they read; the one HTTP helper.
//! - [`identity`]: identities generated from the team's schema, and the admin API.
//! - [`totp`]: secrets, otpauth URLs, QR codes and codes for any time step.
//! - [`check`]: the assertions, each printing the HTTP exchange that broke it.
//! - [`report`]: redaction of every event, failures as they happen, JUnit, the
//!   summary, and the recorded flow documentation.
//! - [`runner`]: the plan (which scenario runs where, which is not applicable
//!   and why) and the cucumber run.
//! - [`schema_change`]: what existing identities experience after a change of
//!   the schema or the configuration, and the migration report.
//! - [`steps`]: the step definitions, one module per domain, on top of all the rest.
//! - [`deviations`]: the ledger of known deviations and its check.
//! - [`random`]: the random strings of the run's making.
//! - [`redact`]: keeps passwords, TOTP secrets, tokens and cookies out of output.

//!
//! The folders import one way (`tests/layers.rs` checks it): the bottom
//! (`error`, `redact`, `random`, `net`, `programs`, `deviations`), the
//! deployment description, the launcher, TOTP, the clients, identities and
//! checks, then reports, preflight and schema changes, the browser, the World,
//! the steps, and the runner on top. A run's state (its instances, outcomes,
//! flow recording, page origins, containers' run id, browsers) is a value the
//! runner makes and the World carries, so that two runs can share one process.

pub mod browser;
pub mod check;
pub mod client;
pub mod deployment;
pub mod deviations;
pub mod error;
pub mod identity;
pub mod kratos;
pub mod net;
pub mod preflight;
pub mod programs;
pub mod random;
pub mod redact;
pub mod report;
pub mod runner;
pub mod schema_change;
pub mod steps;
pub mod totp;
pub mod world;

pub use world::ConformanceWorld;
