//! The data folder and the database file are private to the user running the server: every
//! document is in them, so other local users must not read them.
//!
//! A new folder is created 0700 and a new database file 0600; SQLite creates its `-wal` and
//! `-shm` files with the database file's permissions, so they are 0600 too (and the lock
//! and key files are created 0600). An existing folder or database whose mode lets others in
//! is left as it is (the operator may have reasons) but a warning names it at start.
//!
//! The names of the files the store keeps in the folder are here too.

use std::path::Path;

use shared_kernel::Error;

/// The database file's name inside the data folder.
pub const DATABASE_FILE_NAME: &str = "offchain.db";

/// The lock file's name inside the data folder.
pub const LOCK_FILE_NAME: &str = "LOCK";

/// The mode of a new data folder: the owner only.
pub(super) const FOLDER_MODE: u32 = 0o700;
/// The mode of new files in it: the owner only.
pub(super) const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) with mode 0700 when missing.
///
/// # Errors
/// `UNAVAILABLE` when it cannot be created.
pub(super) fn create_private_folder(dir: &Path) -> Result<(), Error> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(FOLDER_MODE);
    }
    builder.create(dir).map_err(|e| {
        Error::unavailable(
            format!("could not create the data folder `{}`", dir.display()),
            e,
        )
    })
}

/// Creates the empty file `path` with mode 0600 when missing (SQLite then opens it as a new
/// database); an existing file is left untouched.
///
/// # Errors
/// `UNAVAILABLE` when it cannot be created.
pub(super) fn create_private_file(path: &Path) -> Result<(), Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::unavailable(
            format!("could not create the database `{}`", path.display()),
            e,
        )),
    }
}

/// Logs a warning for each of `paths` whose mode gives the group or others any access.
pub(super) fn warn_if_others_can_read(folder: &Path, database: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for (path, private) in [(folder, FOLDER_MODE), (database, FILE_MODE)] {
            let Ok(metadata) = std::fs::metadata(path) else {
                continue;
            };
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{mode:o}"),
                    "other local users may read the store's data: consider `chmod {private:o}` \
                     (the server does not change it)"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (folder, database);
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn a_new_folder_and_database_are_private() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let folder = root.path().join("a").join("data");
        create_private_folder(&folder).unwrap_or_else(|e| panic!("{}", e.chain()));
        assert_eq!(mode(&folder), FOLDER_MODE);
        assert_eq!(mode(&root.path().join("a")), FOLDER_MODE, "parents too");

        let file = folder.join("offchain.db");
        create_private_file(&file).unwrap_or_else(|e| panic!("{}", e.chain()));
        assert_eq!(mode(&file), FILE_MODE);
    }

    #[test]
    fn an_existing_folder_and_file_keep_their_modes() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let folder = root.path();
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod: {e}"));
        let file = folder.join("offchain.db");
        std::fs::write(&file, b"").unwrap_or_else(|e| panic!("write: {e}"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("chmod: {e}"));

        create_private_folder(folder).unwrap_or_else(|e| panic!("{}", e.chain()));
        create_private_file(&file).unwrap_or_else(|e| panic!("{}", e.chain()));
        warn_if_others_can_read(folder, &file);

        assert_eq!(mode(folder), 0o755);
        assert_eq!(mode(&file), 0o644);
    }
}
