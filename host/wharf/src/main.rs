//! `wharf`: the command that runs Wharf and measures it.

mod bench;
mod join;
mod kubeconfig_cmd;
mod node_cmd;
mod plugin;
mod token_cmd;
mod up;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "wharf",
    version,
    about = "A Kubernetes-compatible orchestrator whose control plane is WebAssembly plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run Wharf: the store and the API server; writes a kubeconfig.
    Up(Box<up::Up>),
    /// Run a node agent (and service proxy) for an API server elsewhere.
    Node(Box<node_cmd::Node>),
    /// Write a kubeconfig for a user, with a client certificate of the
    /// cluster CA (kubeadm's `kubeconfig user`).
    Kubeconfig(kubeconfig_cmd::Kubeconfig),
    /// Bootstrap tokens for joining nodes (kubeadm's `token`).
    Token {
        #[command(subcommand)]
        command: token_cmd::Token,
    },
    /// Manage plugin modules.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
    /// Measure a part of Wharf; the last line printed is a one-line summary.
    Bench {
        #[command(subcommand)]
        target: bench::Target,
    },
}

/// Raises the soft limit on open files to the hard one: every connection,
/// watch and pod network holds a descriptor, and the common soft limit of
/// 1,024 let a thousand idle clients starve the server.
fn raise_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(error) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(%error, "cannot raise the open-file limit");
        }
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WHARF_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    raise_file_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("wharf: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Commands::Up(options) => up::run(*options).await,
            Commands::Node(options) => node_cmd::run(*options).await,
            Commands::Kubeconfig(options) => kubeconfig_cmd::run(options),
            Commands::Token { command } => token_cmd::run(command).await,
            Commands::Plugin { command } => plugin::run(command).await,
            Commands::Bench { target } => bench::run(target).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wharf: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
