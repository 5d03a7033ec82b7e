//! `hearth identity export FILE` and `hearth identity import FILE`: the node's identity (its
//! ed25519 key, hence its peer id) moved between data dirs, sealed under a passphrase with
//! Argon2id and XChaCha20-Poly1305 (`hearth::infra::vault::seal_secret`). The passphrase comes
//! from `HEARTH_PASSPHRASE` or is asked for on the terminal. The node must be stopped.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use hearth::infra::vault::{open_secret, seal_secret, VaultError, WrappedKey};
use serde::{Deserialize, Serialize};

#[derive(Subcommand)]
pub enum Command {
    /// Write this node's identity to FILE, sealed under a passphrase (the node must be stopped).
    Export { file: PathBuf },
    /// Make the identity sealed in FILE this data dir's identity (the node must be stopped).
    Import {
        file: PathBuf,
        /// Replace an identity the data dir already has (its peer id is lost).
        #[arg(long)]
        force: bool,
    },
}

/// What an export file holds. The peer id is public; the key is sealed.
#[derive(Serialize, Deserialize)]
struct ExportFile {
    /// Always [`FORMAT`].
    format: String,
    peer_id: String,
    sealed: WrappedKey,
}

const FORMAT: &str = "hearth-identity-1";
/// Larger files are not an export.
const MAX_FILE_BYTES: u64 = 64 * 1024;

pub async fn run(data_dir: &Path, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Export { file } => {
            let (peer_id, key) = hearth::node::read_identity(data_dir).await?;
            let passphrase = passphrase("Passphrase to seal the identity with: ")?;
            let sealed = seal_secret(&key, &passphrase)?;
            let text = serde_json::to_vec_pretty(&ExportFile {
                format: FORMAT.into(),
                peer_id: peer_id.to_string(),
                sealed,
            })?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options
                .open(&file)
                .with_context(|| format!("cannot create {}", file.display()))?;
            f.write_all(&text)?;
            f.sync_all()?;
            println!("identity {peer_id} exported to {}", file.display());
            Ok(())
        }
        Command::Import { file, force } => {
            let len = std::fs::metadata(&file)
                .with_context(|| format!("cannot read {}", file.display()))?
                .len();
            anyhow::ensure!(
                len <= MAX_FILE_BYTES,
                "{} is not a Hearth identity export",
                file.display()
            );
            let export: ExportFile =
                serde_json::from_slice(&std::fs::read(&file)?).map_err(|_| {
                    anyhow::anyhow!("{} is not a Hearth identity export", file.display())
                })?;
            anyhow::ensure!(
                export.format == FORMAT,
                "{} is an identity export of an unknown format {:?}",
                file.display(),
                export.format
            );
            let passphrase = passphrase("Passphrase of the export: ")?;
            let key = open_secret(&export.sealed, &passphrase).map_err(|e| match e {
                VaultError::WrongPassphrase => anyhow::anyhow!(
                    "wrong passphrase for {} (nothing was changed)",
                    file.display()
                ),
                e => anyhow::anyhow!("cannot open {}: {e}", file.display()),
            })?;
            let peer_id = hearth::node::write_identity(data_dir, &key, force).await?;
            anyhow::ensure!(
                peer_id.to_string() == export.peer_id,
                "the sealed key is not that of the peer id the file names"
            );
            println!("identity {peer_id} imported into {}", data_dir.display());
            Ok(())
        }
    }
}

/// `HEARTH_PASSPHRASE`, or asked for on the terminal without echo.
fn passphrase(prompt: &str) -> anyhow::Result<zeroize::Zeroizing<String>> {
    if let Ok(p) = std::env::var("HEARTH_PASSPHRASE") {
        return Ok(zeroize::Zeroizing::new(p));
    }
    use std::io::IsTerminal;
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "no passphrase: set HEARTH_PASSPHRASE or run this in a terminal"
    );
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let line = read_line_without_echo()?;
    eprintln!();
    Ok(zeroize::Zeroizing::new(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

#[cfg(unix)]
fn read_line_without_echo() -> anyhow::Result<String> {
    use std::os::fd::AsRawFd;
    let fd = std::io::stdin().as_raw_fd();
    // SAFETY: tcgetattr/tcsetattr on stdin with a termios value they fill in themselves.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if got {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    if got {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    read?;
    Ok(line)
}

#[cfg(not(unix))]
fn read_line_without_echo() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line)
}
