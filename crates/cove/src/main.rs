//! The `cove` command: wiring only; everything else lives in the library crates.

use anyhow::Context;
use clap::{Parser, Subcommand};
use cove_core::access::{self, NewUser, Role};
use cove_core::audit::Actor;
use cove_core::config::Config;
use cove_core::db::Db;
use cove_server::Server;
use std::path::PathBuf;

/// Cove: a brand's own mobile store, membership center and service center,
/// wired into WeChat and its offline stores.
///
/// With no configuration, Cove keeps everything in one SQLite file under
/// ./cove-data and serves on 127.0.0.1:8080. Set COVE_DATABASE_URL=postgres://...
/// for PostgreSQL. Settings come from ./cove.toml (or --config) and COVE_*
/// environment variables, e.g. COVE_LISTEN, COVE_DATA_DIR, COVE_JOBS__WORKERS.
#[derive(Parser)]
#[command(name = "cove", version)]
struct Cli {
    /// Configuration file (default: ./cove.toml when present).
    #[arg(long, global = true, env = "COVE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bring the database schema up to date, then serve the console, storefront and API.
    Serve,
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Fill the database with a fictional computer brand, write <data dir>/demo.json, then serve.
    Demo {
        /// How many members to generate.
        #[arg(long, default_value_t = 20_000)]
        members: usize,
        /// Seed for the random generator, so two runs make the same brand.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Seed only; do not start the server afterwards.
        #[arg(long)]
        no_serve: bool,
    },
    /// Manage the brand team's console users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a console user. The password is read from COVE_PASSWORD or standard input.
    Add {
        /// One of: admin, store_manager, membership_manager, marketing, product_manager,
        /// data_analyst, service_agent, field_engineer, store_staff, reseller.
        #[arg(long)]
        role: String,
        email: String,
        /// Display name (default: the part of the email before @).
        #[arg(long)]
        name: Option<String>,
        /// Store id, for store_staff.
        #[arg(long)]
        store: Option<String>,
        /// Reseller id, for reseller users.
        #[arg(long)]
        reseller: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    cove_server::telemetry::init(&config.log);
    tracing::debug!(?config, "configuration");
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let db = Db::connect(&config).await?;
            db.migrate().await?;
            println!("database schema is up to date");
            Ok(())
        }
        Command::Demo {
            members,
            seed,
            no_serve,
        } => {
            let db = Db::connect(&config).await?;
            db.migrate().await?;
            let options = cove_core::demo::Options {
                members,
                seed,
                public_url: config.public_url(),
                vault: cove_core::vault::Vault::open(config.secret_key.as_ref(), &config.data_dir)?,
            };
            let report = cove_core::demo::seed(&db, &options).await?;
            db.close().await;
            let path = config.data_dir.join("demo.json");
            std::fs::create_dir_all(&config.data_dir)?;
            std::fs::write(&path, serde_json::to_string_pretty(&report.manifest)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("{}", report.summary);
            println!("Sign-ins and keys are in {}", path.display());
            if no_serve {
                return Ok(());
            }
            serve(config).await
        }
        Command::User {
            command:
                UserCommand::Add {
                    role,
                    email,
                    name,
                    store,
                    reseller,
                },
        } => {
            let role: Role = role.parse()?;
            let password = match std::env::var("COVE_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprint!("Password for {email}: ");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let db = Db::connect(&config).await?;
            db.migrate().await?;
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_owned());
            let user = access::create_user(
                &db,
                &Actor::system(),
                NewUser {
                    email,
                    name,
                    password,
                    role,
                    store_id: store,
                    reseller_id: reseller,
                    locale: None,
                },
            )
            .await?;
            println!("added {} ({}) with id {}", user.email, user.role, user.id);
            db.close().await;
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let server = Server::start(
        config,
        listener,
        Default::default(),
        cove_server::shutdown_signal(),
    )
    .await?;
    println!(
        "Cove is serving on http://{}  (console: /admin, API docs: /api/docs)",
        server.addr
    );
    server.wait().await
}
