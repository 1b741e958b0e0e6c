//! kratos-conformance: an end-to-end conformance suite for Ory Kratos.
//!
//! The library is the harness; the scenarios live in `features/` and their step
//! definitions in `tests/steps/`. Steps stay thin: they parse the words, call a
//! [`client::Client`] action and hand the result to a [`check`].
//!
//! - [`kratos`]: the Kratos under test (container, local process or an existing
//!   deployment), its configuration and profiles.
//! - [`client`]: browser, SPA and native clients and the flow, node, session and
//!   error types they read.
//! - [`check`]: the assertions, each printing the HTTP exchange that broke it.
//! - [`identity`]: fake people and the admin API.
//! - [`totp`]: secrets, otpauth URLs, QR codes and codes for any time step.
//! - [`deviations`]: the ledger of known deviations and its check.
//! - [`report`]: the end-of-run summary and the recorded flow documentation.
//! - [`redact`]: keeps passwords, TOTP secrets, tokens and cookies out of output.

pub mod check;
pub mod client;
pub mod deviations;
pub mod identity;
pub mod kratos;
pub mod redact;
pub mod report;
pub mod totp;
pub mod world;

pub use world::ConformanceWorld;
