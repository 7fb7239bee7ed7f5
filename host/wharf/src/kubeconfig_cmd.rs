//! `wharf kubeconfig --user NAME [--group GROUP]`: a kubeconfig for
//! another user of the cluster, with a new client certificate signed by
//! the cluster CA in the data directory (who may read `DATA_DIR/pki` may
//! make any user, as with kubeadm's `kubeconfig user`). What the user may
//! do is then up to RBAC.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Kubeconfig {
    /// The cluster's data directory (its CA is in `pki/`).
    #[arg(long, default_value_os_t = crate::up::default_data_dir())]
    data_dir: PathBuf,
    /// The user (the certificate's common name).
    #[arg(long)]
    user: String,
    /// A group the user is in (the certificate's organization).
    #[arg(long)]
    group: Option<String>,
    /// The API server; by default the admin kubeconfig's.
    #[arg(long)]
    server: Option<String>,
    /// Where to write it (0600); by default standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

pub fn run(options: Kubeconfig) -> Result<(), String> {
    if options.user.is_empty() {
        return Err("--user must not be empty".into());
    }
    let pki = options.data_dir.join("pki");
    if !pki.join("ca.key").exists() {
        return Err(format!(
            "{}: no cluster CA (start `wharf up --data-dir {}` once first)",
            pki.display(),
            options.data_dir.display()
        ));
    }
    let ca = wharf_pki::Ca::load_or_generate(&pki, "wharf-ca").map_err(|e| e.to_string())?;
    let server = match options.server {
        Some(server) => server,
        None => {
            wharf_client::ClusterAccess::from_kubeconfig(
                &options.data_dir.join("kubeconfig"),
                None,
            )?
            .server
        }
    };
    let issued = ca
        .issue(&wharf_pki::Usage::Client {
            user: &options.user,
            group: options.group.as_deref(),
        })
        .map_err(|e| e.to_string())?;
    let text = crate::up::kubeconfig_text(&server, ca.cert_pem(), &issued, &options.user);
    match options.output {
        Some(path) => {
            wharf_pki::write_file(&path, text.as_bytes(), 0o600).map_err(|e| e.to_string())
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
