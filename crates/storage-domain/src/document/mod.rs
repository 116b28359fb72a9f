//! The `Document` entity and its value objects.
//!
//! A document lives inside a collection, has data, a version that grows by one with every
//! change (delete included), and is never really removed: a delete leaves a tombstone so that
//! history stays readable and a re-created document continues the same version sequence.

mod data;
mod events;
mod id;
mod revision;
mod version;

pub use data::{DocumentData, DocumentLimits};
pub use events::DocumentEvent;
pub use id::{DocumentId, MAX_DOCUMENT_ID_LEN};
pub use revision::Revision;
pub use version::{Precondition, Version};

use serde_json::Value;
use shared_kernel::{Actor, AuditId, CollectionId, Error, Timestamp};

/// The four changes a document can undergo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentOperation {
    /// Created (or re-created after a delete).
    Create,
    /// Replaced wholesale.
    Replace,
    /// Changed by an RFC 7396 merge patch.
    Patch,
    /// Deleted (a tombstone).
    Delete,
}

impl DocumentOperation {
    /// The operation's name as audit entries and revisions show it (`document.create`).
    pub const fn as_str(self) -> &'static str {
        match self {
            DocumentOperation::Create => "document.create",
            DocumentOperation::Replace => "document.replace",
            DocumentOperation::Patch => "document.patch",
            DocumentOperation::Delete => "document.delete",
        }
    }

    /// Parses [`as_str`](Self::as_str) output.
    ///
    /// # Errors
    /// `INVALID_INPUT` for any other text.
    pub fn parse(text: &str) -> Result<Self, Error> {
        [Self::Create, Self::Replace, Self::Patch, Self::Delete]
            .into_iter()
            .find(|op| op.as_str() == text)
            .ok_or_else(|| Error::invalid_input(format!("`{text}` is not a document operation")))
    }
}

/// Who made a change, when, and which audit entry records it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeStamp {
    /// When (taken inside the change's transaction).
    pub at: Timestamp,
    /// Who.
    pub actor: Actor,
    /// The audit entry that will record the change.
    pub audit_id: AuditId,
}

/// The state a repository stores and restores; fields are public only here.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentSnapshot {
    /// The collection's immutable id.
    pub collection_id: CollectionId,
    /// The document id.
    pub id: DocumentId,
    /// The current version.
    pub version: Version,
    /// The data, or `None` for a tombstone.
    pub data: Option<DocumentData>,
    /// When the current life of the document began (its last create).
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// The audit entry of the change that produced the current version.
    pub audit_id: AuditId,
}

/// A document. Fields are private: change it only through the intent-named methods, each of
/// which moves the version on by one and records one [`DocumentEvent`].
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    state: DocumentSnapshot,
    last_actor: Actor,
    last_operation: DocumentOperation,
    events: Vec<DocumentEvent>,
}

impl Document {
    /// Creates a new document at version 1.
    pub fn create(
        collection_id: CollectionId,
        id: DocumentId,
        data: DocumentData,
        stamp: ChangeStamp,
    ) -> Self {
        let hash_after = Some(data.content_hash());
        let mut document = Self {
            state: DocumentSnapshot {
                collection_id,
                id,
                version: Version::FIRST,
                data: Some(data),
                created_at: stamp.at,
                updated_at: stamp.at,
                audit_id: stamp.audit_id,
            },
            last_actor: stamp.actor.clone(),
            last_operation: DocumentOperation::Create,
            events: Vec::new(),
        };
        document.record(DocumentOperation::Create, None, hash_after, None, &stamp);
        document
    }

    /// Rebuilds a stored document. Only repositories call this; no event is recorded.
    pub fn restore(snapshot: DocumentSnapshot) -> Self {
        Self {
            state: snapshot,
            last_actor: Actor::System,
            last_operation: DocumentOperation::Create,
            events: Vec::new(),
        }
    }

    /// Brings a deleted document back with new data; the version sequence continues.
    ///
    /// # Errors
    /// `CONFLICT` when the document is live.
    pub fn recreate(&mut self, data: DocumentData, stamp: ChangeStamp) -> Result<(), Error> {
        if self.is_live() {
            return Err(Error::conflict(format!(
                "document `{}` already exists",
                self.state.id
            )));
        }
        let hash_after = Some(data.content_hash());
        self.advance(Some(data), DocumentOperation::Create, &stamp)?;
        self.state.created_at = stamp.at;
        self.record(DocumentOperation::Create, None, hash_after, None, &stamp);
        Ok(())
    }

    /// Replaces the data.
    ///
    /// # Errors
    /// `NOT_FOUND` for a tombstone; `PRECONDITION_FAILED` when `precondition` fails.
    pub fn replace(
        &mut self,
        data: DocumentData,
        precondition: &Precondition,
        stamp: ChangeStamp,
    ) -> Result<(), Error> {
        let before = self.live_data_meeting(precondition)?.clone();
        self.change_to(before, data, DocumentOperation::Replace, &stamp)
    }

    /// Applies an RFC 7396 merge patch; the result is validated like any new data.
    ///
    /// # Errors
    /// `NOT_FOUND` for a tombstone; `PRECONDITION_FAILED` when `precondition` fails;
    /// `INVALID_INPUT` or `PAYLOAD_TOO_LARGE` when the result breaks a data rule.
    pub fn merge_patch(
        &mut self,
        merge_patch: &Value,
        limits: &DocumentLimits,
        precondition: &Precondition,
        stamp: ChangeStamp,
    ) -> Result<(), Error> {
        let before = self.live_data_meeting(precondition)?.clone();
        let mut merged = before.value().clone();
        json_patch::merge(&mut merged, merge_patch);
        let after = DocumentData::parse(merged, limits)?;
        self.change_to(before, after, DocumentOperation::Patch, &stamp)
    }

    /// Deletes the document, leaving a tombstone.
    ///
    /// # Errors
    /// `NOT_FOUND` for a tombstone; `PRECONDITION_FAILED` when `precondition` fails.
    pub fn delete(&mut self, precondition: &Precondition, stamp: ChangeStamp) -> Result<(), Error> {
        let hash_before = Some(self.live_data_meeting(precondition)?.content_hash());
        self.advance(None, DocumentOperation::Delete, &stamp)?;
        self.record(DocumentOperation::Delete, hash_before, None, None, &stamp);
        Ok(())
    }

    fn live_data_meeting(&self, precondition: &Precondition) -> Result<&DocumentData, Error> {
        let Some(data) = &self.state.data else {
            return Err(Error::not_found(format!(
                "document `{}` not found",
                self.state.id
            )));
        };
        if !precondition.is_met_by(self.state.version) {
            return Err(Error::precondition_failed(format!(
                "document `{}` is at version {}, which If-Match does not name",
                self.state.id, self.state.version
            ))
            .with_detail("current_version", self.state.version.get()));
        }
        Ok(data)
    }

    fn change_to(
        &mut self,
        before: DocumentData,
        after: DocumentData,
        operation: DocumentOperation,
        stamp: &ChangeStamp,
    ) -> Result<(), Error> {
        let patch = serde_json::to_value(json_patch::diff(before.value(), after.value()))
            .map_err(|e| Error::internal("could not encode the JSON Patch", e))?;
        let hashes = (Some(before.content_hash()), Some(after.content_hash()));
        self.advance(Some(after), operation, stamp)?;
        self.record(operation, hashes.0, hashes.1, Some(patch), stamp);
        Ok(())
    }

    fn advance(
        &mut self,
        data: Option<DocumentData>,
        operation: DocumentOperation,
        stamp: &ChangeStamp,
    ) -> Result<(), Error> {
        self.state.version = self.state.version.next()?;
        self.state.data = data;
        self.state.updated_at = stamp.at;
        self.state.audit_id = stamp.audit_id;
        self.last_actor = stamp.actor.clone();
        self.last_operation = operation;
        Ok(())
    }

    fn record(
        &mut self,
        operation: DocumentOperation,
        hash_before: Option<shared_kernel::Sha256Digest>,
        hash_after: Option<shared_kernel::Sha256Digest>,
        patch: Option<Value>,
        stamp: &ChangeStamp,
    ) {
        self.events.push(DocumentEvent {
            operation,
            collection_id: self.state.collection_id,
            document_id: self.state.id.clone(),
            version: self.state.version,
            hash_before,
            hash_after,
            patch,
            audit_id: stamp.audit_id,
            at: stamp.at,
        });
    }

    /// The revision of the current version, to be stored beside it.
    pub fn current_revision(&self) -> Revision {
        Revision {
            collection_id: self.state.collection_id,
            document_id: self.state.id.clone(),
            version: self.state.version,
            operation: self.last_operation,
            data: self.state.data.clone(),
            at: self.state.updated_at,
            actor: self.last_actor.clone(),
            audit_id: self.state.audit_id,
        }
    }

    /// Drains the recorded events.
    pub fn take_events(&mut self) -> Vec<DocumentEvent> {
        std::mem::take(&mut self.events)
    }

    /// Whether the document is live (not a tombstone).
    pub fn is_live(&self) -> bool {
        self.state.data.is_some()
    }

    /// The collection's immutable id.
    pub fn collection_id(&self) -> CollectionId {
        self.state.collection_id
    }

    /// The id.
    pub fn id(&self) -> &DocumentId {
        &self.state.id
    }

    /// The current version.
    pub fn version(&self) -> Version {
        self.state.version
    }

    /// The data (`None` for a tombstone).
    pub fn data(&self) -> Option<&DocumentData> {
        self.state.data.as_ref()
    }

    /// Start of the current life.
    pub fn created_at(&self) -> Timestamp {
        self.state.created_at
    }

    /// Last change.
    pub fn updated_at(&self) -> Timestamp {
        self.state.updated_at
    }

    /// The audit entry of the change that produced the current version.
    pub fn audit_id(&self) -> AuditId {
        self.state.audit_id
    }

    /// The state to store.
    pub fn snapshot(&self) -> &DocumentSnapshot {
        &self.state
    }
}

#[cfg(test)]
mod tests;
