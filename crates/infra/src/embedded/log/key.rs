//! The log's Ed25519 signing key on disk.
//!
//! The file holds the 32-byte Ed25519 seed (RFC 8032 private key) in standard base64 on one
//! line. In the embedded default it is `<data_dir>/log-signing.key`, generated from the
//! operating system's random source on the first start of an empty log (never for a log that
//! has checkpoints: their key is that log's, see `server::log_worker`) and written with mode
//! 0600, fsynced with its folder before first use; a key path given in the configuration must
//! already exist.

use std::io::Write;
use std::path::Path;

use audit_domain::note::ED25519_KEY_LEN;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use shared_kernel::{Error, ErrorCode};

/// The signing key's file name inside the data folder.
pub const SIGNING_KEY_FILE_NAME: &str = "log-signing.key";

/// The suffix of the successor's key while `offchain-db log succeed` is under way.
pub const SUCCESSOR_KEY_SUFFIX: &str = ".successor";

/// Where `offchain-db log succeed` writes the successor's key before the database switches
/// to the successor log (`<key file>.successor`); it becomes the key file only after that. A
/// server refuses to start while it exists: a succession was interrupted, and running the
/// command again finishes it.
pub fn successor_key_path(key_file: &Path) -> std::path::PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(SUCCESSOR_KEY_SUFFIX);
    std::path::PathBuf::from(name)
}

/// Reads the seed at `path`; when the file is missing and `create` is set, generates a new
/// one and writes it there first (mode 0600, never overwriting an existing file).
///
/// # Errors
/// `UNAVAILABLE` when the file cannot be read or written, or is missing and `create` is
/// unset; `INTERNAL_ERROR` when it does not hold a base64 seed of 32 bytes, or no random
/// bytes could be drawn.
pub fn load_or_create_signing_seed(
    path: &Path,
    create: bool,
) -> Result<[u8; ED25519_KEY_LEN], Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_seed(&text, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let mut seed = [0_u8; ED25519_KEY_LEN];
            getrandom::fill(&mut seed).map_err(|e| {
                Error::internal(
                    "could not draw random bytes for the log signing key",
                    std::io::Error::other(e.to_string()),
                )
            })?;
            write_new(path, &seed)?;
            tracing::info!(path = %path.display(), "generated a new log signing key");
            Ok(seed)
        }
        Err(e) => Err(Error::unavailable(
            format!("could not read the log signing key `{}`", path.display()),
            e,
        )),
    }
}

/// Generates a new seed and writes it at `path`, which must not exist (mode 0600, fsynced with
/// its folder); for `offchain-db log succeed`, which writes the successor's key at
/// [`successor_key_path`].
///
/// # Errors
/// `UNAVAILABLE` when the file exists or cannot be written; `INTERNAL_ERROR` when no random
/// bytes could be drawn.
pub fn create_signing_seed(path: &Path) -> Result<[u8; ED25519_KEY_LEN], Error> {
    let mut seed = [0_u8; ED25519_KEY_LEN];
    getrandom::fill(&mut seed).map_err(|e| {
        Error::internal(
            "could not draw random bytes for the log signing key",
            std::io::Error::other(e.to_string()),
        )
    })?;
    write_new(path, &seed)?;
    tracing::info!(path = %path.display(), "generated a new log signing key");
    Ok(seed)
}

fn parse_seed(text: &str, path: &Path) -> Result<[u8; ED25519_KEY_LEN], Error> {
    let malformed = || {
        Error::new(
            ErrorCode::Internal,
            format!(
                "the log signing key `{}` is not a base64 Ed25519 seed of 32 bytes",
                path.display()
            ),
        )
    };
    let bytes = STANDARD.decode(text.trim()).map_err(|_| malformed())?;
    <[u8; ED25519_KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| malformed())
}

fn write_new(path: &Path, seed: &[u8; ED25519_KEY_LEN]) -> Result<(), Error> {
    let failed = |e: std::io::Error| {
        Error::unavailable(
            format!("could not write the log signing key `{}`", path.display()),
            e,
        )
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(failed)?;
    writeln!(file, "{}", STANDARD.encode(seed)).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    // The file's name is in its folder: without this a power loss could keep the signatures
    // made with the key and lose the key.
    super::signer_state::sync_parent(path).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_generated_once_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(SIGNING_KEY_FILE_NAME);
        let first = load_or_create_signing_seed(&path, true).unwrap_or_else(|e| panic!("{e}"));
        let second = load_or_create_signing_seed(&path, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600));
        }
    }

    #[test]
    fn a_configured_key_must_exist_and_be_well_formed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("missing.key");
        let missing = load_or_create_signing_seed(&path, false);
        assert_eq!(
            missing.err().map(|e| e.code()),
            Some(ErrorCode::Unavailable)
        );
        std::fs::write(&path, "AAAA\n").unwrap_or_else(|e| panic!("{e}"));
        let short = load_or_create_signing_seed(&path, false);
        assert_eq!(short.err().map(|e| e.code()), Some(ErrorCode::Internal));
    }
}
