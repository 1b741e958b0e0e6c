//! Step definitions, one file per domain. Each step parses its words, calls one
//! client action or check from the library, and keeps what later steps need in
//! the world.

mod concurrency;
mod cors;
mod browser;
mod flow;
mod identity;
mod kratos;
mod login;
mod recovery;
mod response;
mod schema_change;
mod session;
mod registration;
mod settings;
mod totp;
mod production;
