//! The inputs of the offline commands (`verify`, `audit`), read the same way by both: a
//! verifier key given as text or as a file, bounded file reads, and checkpoint notes as served.
//!
//! Both commands share API.md's exit codes: 0 valid, 1 a finding, 2 usage or I/O error.

use std::fmt::Display;
use std::io::Read;
use std::path::Path;

use audit_domain::note::NoteVerifier;
use serde_json::Value;

/// Exit code of a finding: the input does not verify, or the store holds a discrepancy.
pub const FINDING_EXIT_CODE: u8 = 1;
/// Exit code of a usage or I/O error: nothing was checked.
pub const USAGE_EXIT_CODE: u8 = 2;
/// The largest file read (a receipt holds a document of at most a few MiB).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// Why a checkpoint note could not be taken from its file.
#[derive(Debug)]
pub enum NoteInputError {
    /// The file cannot be read.
    Unreadable(String),
    /// The file was read but holds no note (bad JSON, no `note`, not UTF-8).
    Malformed(String),
}

/// Reads a whole file of at most 64 MiB.
///
/// # Errors
/// A message naming the file when it cannot be read or is larger.
pub fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| about(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| about(path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(about(path, "larger than 64 MiB"));
    }
    Ok(bytes)
}

/// The verifier key given as text (`<origin>+<key id>+<base64 key>`), or else the content of
/// the file it names.
///
/// # Errors
/// A message saying why neither reading works.
pub fn read_vkey(given: &str) -> Result<NoteVerifier, String> {
    if let Ok(verifier) = NoteVerifier::parse_vkey(given.trim()) {
        return Ok(verifier);
    }
    let path = Path::new(given);
    if !path.is_file() {
        return Err(format!(
            "--vkey `{given}` is neither a verifier key (<origin>+<key id>+<base64 key>) nor a file"
        ));
    }
    let text = String::from_utf8(read_file(path)?).map_err(|_| about(path, "not UTF-8"))?;
    NoteVerifier::parse_vkey(text.trim()).map_err(|e| about(path, e))
}

/// A checkpoint note from a file: the note itself, or the JSON of `/v1/log/checkpoint`.
///
/// # Errors
/// [`NoteInputError`], naming the file.
pub fn read_note(path: &Path) -> Result<String, NoteInputError> {
    let bytes = read_file(path).map_err(NoteInputError::Unreadable)?;
    if bytes.first() == Some(&b'{') {
        let value = shared_kernel::json::parse_strict(&bytes)
            .map_err(|e| NoteInputError::Malformed(about(path, e.detail())))?;
        return value
            .get("note")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| NoteInputError::Malformed(about(path, "the JSON has no `note` text")));
    }
    String::from_utf8(bytes).map_err(|_| NoteInputError::Malformed(about(path, "not UTF-8")))
}

/// `<path>: <what>`.
pub fn about(path: &Path, what: impl Display) -> String {
    format!("{}: {what}", path.display())
}

impl std::fmt::Display for NoteInputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreadable(message) | Self::Malformed(message) => f.write_str(message),
        }
    }
}
