//! `kratos-conformance`: the suite as a command, for teams that do not write
//! Rust. Every flag is one of the suite's environment variables (the flag wins,
//! the variable is its default), so a CI job can use either.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use kratos_conformance::runner::Suite;

/// Verify an Ory Kratos deployment: password and TOTP (AAL2) login, every step and
/// every error path, for browsers, SPAs and native apps, against a real Kratos.
///
/// Exit codes: 0 every applicable scenario passed; 1 a scenario failed (or only the
/// smoke scenarios apply); 2 the run could not start (a setting, the set-up, a
/// misconfiguration of the deployment, a mistyped option), said in one line.
#[derive(Debug, Parser)]
#[command(name = "kratos-conformance", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the suite against a deployment: one the suite starts from your
    /// configuration (--backend process or container), or one that runs already
    /// (--backend external --public-url … --admin-url …).
    ///
    /// Example: kratos-conformance verify --backend external --config-dir ./kratos
    ///   --public-url https://auth.example.com/ --admin-url http://kratos-admin:4434/ --ca-cert ca.pem
    Verify(Target),
    /// Print what `verify` would run, scenario by scenario, and why the others are
    /// not applicable to this deployment; starts no Kratos.
    Plan(Target),
    /// Run the suite and write the flow documentation (Markdown pages of every
    /// exchange) from it instead of comparing it with the recorded pages.
    RecordDocs(Target),
    /// Judge a change of the identity schema or the configuration: identities are
    /// created under --previous, then what they can still do under --config-dir is
    /// tried, and a migration report says what existing users will experience.
    SchemaChange {
        /// The configuration folder before the change [env: KRATOS_PREVIOUS_CONFIG_DIR]
        #[arg(long, value_name = "DIR")]
        previous: PathBuf,
        #[command(flatten)]
        target: Target,
    },
}

/// The deployment under test and how the run goes.
#[derive(Debug, Args)]
struct Target {
    /// container, process or external
    #[arg(long, env = "KRATOS_BACKEND", value_parser = ["container", "process", "external"])]
    backend: Option<String>,
    /// The configuration under test: kratos.yml, its schemas, variants and conformance.yml
    #[arg(long, env = "KRATOS_CONFIG_DIR", value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// The public API of an external deployment
    #[arg(long, env = "KRATOS_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// The admin API of an external deployment
    #[arg(long, env = "KRATOS_ADMIN_URL", value_name = "URL")]
    admin_url: Option<String>,
    /// An external deployment's replicas, each one's own public URL, comma-separated
    #[arg(long, env = "KRATOS_REPLICA_URLS", value_name = "URLS")]
    replica_urls: Option<String>,
    /// A PEM file of CA certificates HTTPS trusts besides the system's roots
    #[arg(long, env = "KRATOS_CA_CERT", value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// The variant (profiles/<name>.yml) an external deployment runs
    #[arg(long, env = "KRATOS_PROFILE", value_name = "NAME")]
    profile: Option<String>,
    /// The image the container backend runs
    #[arg(long, env = "KRATOS_IMAGE")]
    image: Option<String>,
    /// The Kratos binary the process backend runs
    #[arg(long = "kratos-bin", env = "KRATOS_BIN", value_name = "FILE")]
    kratos_bin: Option<PathBuf>,
    /// dev (serve --dev, plain HTTP) or production (replicas without --dev on PostgreSQL behind nginx with TLS)
    #[arg(long, env = "KRATOS_TOPOLOGY", value_parser = ["dev", "production"])]
    topology: Option<String>,
    /// Replicas per instance in the production topology (2 to 4)
    #[arg(long, env = "KRATOS_REPLICAS", value_name = "N")]
    replicas: Option<String>,
    /// sqlite or postgres: what the Kratos the suite runs stores its data in
    #[arg(long, env = "KRATOS_DATABASE", value_parser = ["sqlite", "postgres"])]
    database: Option<String>,
    /// Requests sent to one Kratos instance at a time
    #[arg(long, env = "KRATOS_MAX_CONCURRENT_REQUESTS", value_name = "N")]
    max_concurrent_requests: Option<String>,
    /// Instances of one variant that share its scenarios
    #[arg(long, env = "KRATOS_SHARDS", value_name = "N")]
    shards: Option<String>,
    /// turn: the scenarios of the side of a setting the configuration does not
    /// take run with that one setting turned (the default, process and
    /// container); skip: they are not applicable
    #[arg(long, env = "KRATOS_OTHER_SIDES", value_name = "turn|skip")]
    other_sides: Option<String>,
    /// Seconds Kratos may take to become ready
    #[arg(long, env = "KRATOS_STARTUP_TIMEOUT", value_name = "SECONDS")]
    startup_timeout: Option<String>,
    /// Seconds any one HTTP call of the suite may take
    #[arg(long, env = "KRATOS_HTTP_TIMEOUT", value_name = "SECONDS")]
    http_timeout: Option<String>,
    /// Where the JUnit XML, Cucumber JSON and the other reports go [default: ./conformance-reports]
    #[arg(long, env = "KRATOS_REPORT_DIR", value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// The features to run instead of the built-in ones
    #[arg(long, env = "KRATOS_FEATURES_DIR", value_name = "DIR")]
    features_dir: Option<PathBuf>,
    /// A folder of your own .feature files to run beside the built-in ones (repeatable)
    #[arg(long = "features", value_name = "DIR")]
    extra_features: Vec<PathBuf>,
    /// Where the flow documentation of a team's configuration is written
    #[arg(long, env = "KRATOS_DOCS_DIR", value_name = "DIR")]
    docs_dir: Option<PathBuf>,
    /// The recorded pages a run's flow documentation is compared with
    #[arg(long, env = "KRATOS_DOCS_BASELINE", value_name = "DIR")]
    docs_baseline: Option<PathBuf>,
    /// The reverse proxy of the production topology
    #[arg(long, env = "KRATOS_NGINX", value_name = "FILE")]
    nginx: Option<PathBuf>,
    /// The browser the @real-browser scenarios run
    #[arg(long, env = "KRATOS_CHROMIUM", value_name = "FILE")]
    chromium: Option<PathBuf>,
    /// The container engine's API (Docker's or Podman's socket)
    #[arg(long, env = "DOCKER_HOST", value_name = "URL")]
    docker_host: Option<String>,
    /// Leave the containers running after the run (marked kept), for debugging
    #[arg(long)]
    keep_containers: bool,
    /// Only the scenarios whose tags match this expression, e.g. '@login and not @deviation'
    #[arg(long, short, env = "CUCUMBER_FILTER_TAGS", value_name = "EXPRESSION")]
    tags: Option<String>,
    /// Only the scenarios whose name matches this regex
    #[arg(long, short, value_name = "REGEX")]
    name: Option<String>,
    /// Scenarios run at the same time
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// Further options for cucumber, after `--`
    #[arg(last = true, value_name = "CUCUMBER_OPTIONS")]
    cucumber: Vec<String>,
}

impl Target {
    /// The settings as the environment variables the library reads.
    fn export(&self) {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let variables = [
            ("KRATOS_BACKEND", self.backend.clone()),
            ("KRATOS_CONFIG_DIR", path(&self.config_dir)),
            ("KRATOS_PUBLIC_URL", self.public_url.clone()),
            ("KRATOS_ADMIN_URL", self.admin_url.clone()),
            ("KRATOS_REPLICA_URLS", self.replica_urls.clone()),
            ("KRATOS_CA_CERT", path(&self.ca_cert)),
            ("KRATOS_PROFILE", self.profile.clone()),
            ("KRATOS_IMAGE", self.image.clone()),
            ("KRATOS_BIN", path(&self.kratos_bin)),
            ("KRATOS_TOPOLOGY", self.topology.clone()),
            ("KRATOS_REPLICAS", self.replicas.clone()),
            ("KRATOS_DATABASE", self.database.clone()),
            ("KRATOS_MAX_CONCURRENT_REQUESTS", self.max_concurrent_requests.clone()),
            ("KRATOS_SHARDS", self.shards.clone()),
            ("KRATOS_OTHER_SIDES", self.other_sides.clone()),
            ("KRATOS_STARTUP_TIMEOUT", self.startup_timeout.clone()),
            ("KRATOS_HTTP_TIMEOUT", self.http_timeout.clone()),
            ("KRATOS_REPORT_DIR", path(&self.report_dir).or_else(|| Some("conformance-reports".into()))),
            ("KRATOS_FEATURES_DIR", path(&self.features_dir)),
            ("KRATOS_DOCS_DIR", path(&self.docs_dir)),
            ("KRATOS_DOCS_BASELINE", path(&self.docs_baseline)),
            ("KRATOS_NGINX", path(&self.nginx)),
            ("KRATOS_CHROMIUM", path(&self.chromium)),
            ("DOCKER_HOST", self.docker_host.clone()),
            ("TESTCONTAINERS_COMMAND", self.keep_containers.then(|| "keep".to_string())),
        ];
        for (name, value) in variables {
            if let Some(value) = value {
                // SAFETY: main has started no thread yet.
                unsafe { std::env::set_var(name, value) };
            }
        }
        // The filter goes to cucumber as an option; the variable would be a second one.
        // SAFETY: as above.
        unsafe { std::env::remove_var("CUCUMBER_FILTER_TAGS") };
    }

    fn cucumber_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(tags) = &self.tags {
            args.extend(["--tags".to_string(), tags.clone()]);
        }
        if let Some(name) = &self.name {
            args.extend(["--name".to_string(), name.clone()]);
        }
        if let Some(n) = self.concurrency {
            args.extend(["--concurrency".to_string(), n.to_string()]);
        }
        args.extend(self.cucumber.iter().cloned());
        args
    }

    fn suite(&self) -> Suite {
        self.export();
        let suite = self.extra_features.iter().fold(Suite::new(), |suite, dir| suite.features(dir));
        suite.cucumber_args(self.cucumber_args())
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Verify(target) => target.suite().run(),
        Command::Plan(target) => target.suite().plan(),
        Command::RecordDocs(target) => {
            // SAFETY: no thread yet.
            unsafe { std::env::set_var("KRATOS_RECORD_DOCS", "1") };
            target.suite().run()
        }
        Command::SchemaChange { previous, mut target } => {
            // SAFETY: no thread yet.
            unsafe { std::env::set_var("KRATOS_PREVIOUS_CONFIG_DIR", &previous) };
            target.tags.get_or_insert_with(|| "@schema-change".into());
            target.suite().run()
        }
    }
}
