//! The conformance suite as production runs Kratos: `KRATOS_TOPOLOGY=production`
//! on this repository's configuration and the `process` backend. Each instance
//! is two replicas without `--dev` on the run's PostgreSQL, behind Debian's
//! nginx terminating TLS with a certificate of the run's own CA, so that every
//! `Set-Cookie` is asserted as production sends it, and the scenarios of
//! `features/production.feature` (what moves between replicas) run every
//! time. Part of `cargo test`; the reports go to
//! `target/conformance-reports/production/`.


fn main() -> std::process::ExitCode {
    let root = env!("CARGO_MANIFEST_DIR");
    for (name, value) in [
        ("KRATOS_TOPOLOGY", "production".to_string()),
        ("KRATOS_BACKEND", "process".to_string()),
        ("KRATOS_CONFIG_DIR", format!("{root}/kratos-config")),
        ("KRATOS_REPORT_DIR", format!("{root}/target/conformance-reports/production")),
    ] {
        // SAFETY: no other thread runs yet.
        unsafe { std::env::set_var(name, value) };
    }
    kratos_conformance::runner::main()
}
