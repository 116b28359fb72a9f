//! `offchain-db verify`: offline checks of what a server handed out, with no server and no
//! network — only the log's verifier key, pinned by the user.
//!
//! - `verify receipt FILE --vkey VKEY [--document FILE]`: a receipt of
//!   `GET .../documents/{id}/proof`, as the JSON bundle or the `tlog-proof` text (told apart by
//!   the text's first line), optionally with the document it should prove (the JSON a
//!   `GET .../documents/{id}[?version=N]` answers, or at least its `id`, `collection`,
//!   `version` and `data`).
//! - `verify consistency OLD_NOTE NEW_NOTE --proof FILE --vkey VKEY`: that the newer signed
//!   checkpoint extends the older one. A note file holds the note as `GET /v1/log/checkpoint`
//!   serves it, or that route's JSON answer (its `note` is used). The proof file holds the
//!   JSON answer of `GET /v1/log/proofs/consistency` or one hex hash per line.
//!
//! VKEY is the verifier key text (`<origin>+<key id>+<base64>`) or a file holding it.
//! Exit codes (API.md): 0 valid, 1 a finding (printed, naming the link that failed), 2 usage
//! or I/O error. A receipt or proof that does not parse is a finding: it is what was handed
//! out; a key or document the user supplies that does not parse is a usage error.
//! The checks themselves are `audit_domain::receipt` and `audit_domain::consistency`.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use audit_domain::consistency::{ConsistencyProof, verify_checkpoint_consistency};
use audit_domain::entry::AuditSubject;
use audit_domain::note::NoteVerifier;
use audit_domain::receipt::{DocumentClaim, Receipt, VerifiedReceipt, verify_receipt};
use clap::{Args, Subcommand};

use crate::cli_input::{
    FINDING_EXIT_CODE, NoteInputError, USAGE_EXIT_CODE, about, read_file, read_note, read_vkey,
};

/// `offchain-db verify ...`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(subcommand)]
    what: VerifyCommand,
}

#[derive(Debug, Subcommand)]
enum VerifyCommand {
    /// Verify a receipt (JSON bundle or tlog-proof text) against the log's key.
    Receipt {
        /// The receipt file.
        file: PathBuf,
        /// The log's verifier key, or a file holding it.
        #[arg(long, value_name = "VKEY")]
        vkey: String,
        /// The document the receipt should prove (the JSON of a document GET).
        #[arg(long, value_name = "FILE")]
        document: Option<PathBuf>,
    },
    /// Verify that NEW_NOTE's tree extends OLD_NOTE's.
    Consistency {
        /// The older checkpoint (note text, or the JSON of `/v1/log/checkpoint`).
        old_note: PathBuf,
        /// The newer checkpoint.
        new_note: PathBuf,
        /// The consistency proof (the API's JSON answer, or hex hashes one per line).
        #[arg(long, value_name = "FILE")]
        proof: PathBuf,
        /// The log's verifier key, or a file holding it.
        #[arg(long, value_name = "VKEY")]
        vkey: String,
    },
}

/// Why a run stopped short of a verdict, or the finding it made.
enum Failure {
    Usage(String),
    Finding(String),
}

/// Runs `verify` and returns its exit code.
pub fn run(args: VerifyArgs) -> ExitCode {
    let outcome = match args.what {
        VerifyCommand::Receipt {
            file,
            vkey,
            document,
        } => receipt(&file, &vkey, document.as_deref()),
        VerifyCommand::Consistency {
            old_note,
            new_note,
            proof,
            vkey,
        } => consistency(&old_note, &new_note, &proof, &vkey),
    };
    match outcome {
        Ok(summary) => {
            print!("{summary}");
            ExitCode::SUCCESS
        }
        Err(Failure::Finding(finding)) => {
            eprintln!("offchain-db verify: INVALID: {finding}");
            ExitCode::from(FINDING_EXIT_CODE)
        }
        Err(Failure::Usage(error)) => {
            eprintln!("offchain-db verify: {error}");
            ExitCode::from(USAGE_EXIT_CODE)
        }
    }
}

fn receipt(file: &Path, vkey: &str, document: Option<&Path>) -> Result<String, Failure> {
    let verifier = verifier(vkey)?;
    let claim = document
        .map(|path| {
            let value = shared_kernel::json::parse_strict(&read(path)?)
                .map_err(|e| usage(path, e.detail()))?;
            DocumentClaim::from_json(&value).map_err(|e| usage(path, e))
        })
        .transpose()?;
    let bytes = read(file)?;
    let verified = Receipt::parse(&bytes)
        .and_then(|receipt| verify_receipt(&receipt, &verifier, claim.as_ref()))
        .map_err(|e| Failure::Finding(e.to_string()))?;
    Ok(receipt_summary(&verified))
}

fn receipt_summary(verified: &VerifiedReceipt) -> String {
    let entry = &verified.entry;
    let subject = match &entry.subject {
        AuditSubject::Document {
            document_id,
            version,
            ..
        } => format!("{}/{document_id} version {version}", entry.collection),
        AuditSubject::Collection => entry.collection.clone(),
    };
    let mut summary = format!(
        "receipt OK\n  origin:     {}\n  tree size:  {}\n  root:       {}\n  leaf index: {}\n  leaf hash:  {}\n  entry:      {} {subject} at {} by {} (audit id {})\n",
        verified.checkpoint.origin(),
        verified.checkpoint.tree_size(),
        verified.checkpoint.root_hash(),
        verified.leaf_index,
        verified.leaf_hash,
        entry.operation.as_str(),
        entry.at.to_rfc3339(),
        entry.actor,
        entry.id,
    );
    if verified.documents.is_empty() {
        summary
            .push_str("  document:   not checked (a tlog-proof carries none: pass --document)\n");
    }
    for document in &verified.documents {
        let content = match document.computed_content_hash() {
            Some(hash) => format!("content hash {hash}"),
            None => "deleted (no data)".to_owned(),
        };
        summary.push_str(&format!(
            "  document:   {}/{} version {}, {content}: matches the entry\n",
            document.collection(),
            document.id(),
            document.version(),
        ));
    }
    summary
}

fn consistency(old: &Path, new: &Path, proof: &Path, vkey: &str) -> Result<String, Failure> {
    let verifier = verifier(vkey)?;
    let (old_note, new_note) = (note(old)?, note(new)?);
    let proof =
        ConsistencyProof::parse(&read(proof)?).map_err(|e| Failure::Finding(e.to_string()))?;
    let (old, new) = verify_checkpoint_consistency(&old_note, &new_note, &proof, &verifier)
        .map_err(|e| Failure::Finding(e.to_string()))?;
    Ok(format!(
        "consistency OK\n  origin:   {}\n  old tree: size {} root {}\n  new tree: size {} root {}\n",
        new.origin(),
        old.tree_size(),
        old.root_hash(),
        new.tree_size(),
        new.root_hash(),
    ))
}

/// A checkpoint note from a file; a file that holds no note is what the server handed out,
/// so it is a finding.
fn note(path: &Path) -> Result<String, Failure> {
    read_note(path).map_err(|e| match e {
        NoteInputError::Unreadable(message) => Failure::Usage(message),
        NoteInputError::Malformed(message) => Failure::Finding(message),
    })
}

fn verifier(vkey: &str) -> Result<NoteVerifier, Failure> {
    read_vkey(vkey).map_err(Failure::Usage)
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    read_file(path).map_err(Failure::Usage)
}

fn usage(path: &Path, error: impl Display) -> Failure {
    Failure::Usage(about(path, error))
}
