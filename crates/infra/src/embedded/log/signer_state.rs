//! The log signer's memory on disk: the last checkpoint note it signed, in a file of its own
//! outside the database (by default beside the key file), so that a database restored from
//! an older copy cannot make the log sign a fork (see `audit_app::signer`).
//!
//! Each write replaces the file atomically and durably: the note goes to a temporary file in
//! the same folder, which is fsynced, renamed over the old one, and the folder fsynced, so a
//! crash or power loss at any point leaves either the old note or the new one, whole.

use std::io::Write;
use std::path::{Path, PathBuf};

use audit_app::SignerMemory;
use shared_kernel::Error;

/// What the signer state file is called beside a key file: `<key file name>.signer-state`.
pub const SIGNER_STATE_SUFFIX: &str = ".signer-state";

/// The default signer state path for a key file: beside it, named after it.
pub fn default_signer_state_path(key_file: &Path) -> PathBuf {
    let mut name = key_file
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push(SIGNER_STATE_SUFFIX);
    key_file.with_file_name(name)
}

/// The signer's memory in a file.
#[derive(Debug, Clone)]
pub struct FileSignerMemory {
    path: PathBuf,
}

impl FileSignerMemory {
    /// The memory kept at `path` (created at the first signature).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn failed(&self, what: &str, e: std::io::Error) -> Error {
        Error::unavailable(
            format!(
                "could not {what} the log signer state `{}`",
                self.path.display()
            ),
            e,
        )
    }
}

impl SignerMemory for FileSignerMemory {
    fn load(&self) -> Result<Option<String>, Error> {
        match std::fs::read_to_string(&self.path) {
            Ok(note) => Ok(Some(note)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.failed("read", e)),
        }
    }

    fn store(&self, note: &str) -> Result<(), Error> {
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&temporary)
            .map_err(|e| self.failed("write", e))?;
        file.write_all(note.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| self.failed("write", e))?;
        drop(file);
        std::fs::rename(&temporary, &self.path).map_err(|e| self.failed("replace", e))?;
        sync_parent(&self.path).map_err(|e| self.failed("sync the folder of", e))
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// Fsyncs the folder holding `path`, so a file created or renamed there survives a power loss.
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        Some(_) | None => Path::new("."),
    };
    #[cfg(unix)]
    {
        std::fs::File::open(parent)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = parent;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_path_is_beside_the_key_and_named_after_it() {
        let path = default_signer_state_path(Path::new("/etc/offchain/log-signing.key"));
        assert_eq!(
            path,
            Path::new("/etc/offchain/log-signing.key.signer-state")
        );
    }

    #[test]
    fn a_note_is_replaced_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let memory = FileSignerMemory::new(dir.path().join("state"));
        assert_eq!(
            memory.load().ok(),
            Some(None),
            "nothing before the first write"
        );
        for note in ["first note\n", "second\n"] {
            assert!(memory.store(note).is_ok());
            assert_eq!(memory.load().ok().flatten().as_deref(), Some(note));
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            leftovers.len(),
            1,
            "no temporary file is left: {leftovers:?}"
        );
    }
}
