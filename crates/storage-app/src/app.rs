//! `StorageApp`: the ports every handler needs, and the steps all writes share.
//!
//! Each command lives in its own file under `commands/` and each query under `queries/`, as
//! an `impl StorageApp` block; this file holds only what they have in common.

use std::sync::Arc;

use shared_kernel::{Clock, Error, RequestContext};
use storage_domain::document::ChangeStamp;
use storage_domain::{Collection, CollectionName, Document, DocumentId, DocumentLimits};

use crate::audit;
use crate::events::OutboxEvent;
use crate::idempotency::{DocumentOutcome, IdempotencyKey, Outcome};
use crate::ports::{ReadMode, SchemaValidator, StaleRead, StorageReader, Transaction, UnitOfWork};

/// The Storage application: command and query handlers over injected ports.
#[derive(Clone)]
pub struct StorageApp {
    pub(crate) unit_of_work: Arc<dyn UnitOfWork>,
    pub(crate) reader: Arc<dyn StorageReader>,
    pub(crate) schemas: Arc<dyn SchemaValidator>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limits: DocumentLimits,
}

/// A document together with its collection's name, as every document answer shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentView {
    /// The collection's name.
    pub collection: CollectionName,
    /// The document.
    pub document: Document,
}

impl StorageApp {
    /// Wires the application to its ports.
    pub fn new(
        unit_of_work: Arc<dyn UnitOfWork>,
        reader: Arc<dyn StorageReader>,
        schemas: Arc<dyn SchemaValidator>,
        clock: Arc<dyn Clock>,
        limits: DocumentLimits,
    ) -> Self {
        Self {
            unit_of_work,
            reader,
            schemas,
            clock,
            limits,
        }
    }

    /// The document limits in force.
    pub fn limits(&self) -> &DocumentLimits {
        &self.limits
    }

    /// Runs `attempt` in an optimistic transaction; if the store finds at commit that what
    /// it read went stale, runs it once more in an exclusive one, whose reads cannot go
    /// stale, so a command is tried at most twice.
    ///
    /// Most writes touch what nobody else is touching, and an optimistic write lets the store
    /// serve it in one step; a write that lost a race pays a second attempt instead.
    ///
    /// # Errors
    /// What `attempt` returns.
    pub(crate) async fn optimistically<T, F>(
        &self,
        mut attempt: impl FnMut(Box<dyn Transaction>) -> F,
    ) -> Result<T, Error>
    where
        F: Future<Output = Result<T, Error>>,
    {
        let tx = self.unit_of_work.begin(ReadMode::Optimistic).await?;
        match attempt(tx).await {
            Err(error) if StaleRead::caused(&error) => {
                tracing::debug!("optimistic reads went stale; running the command again");
                let tx = self.unit_of_work.begin(ReadMode::Exclusive).await?;
                attempt(tx).await
            }
            result => result,
        }
    }

    /// The stamp of a change made now.
    pub(crate) fn stamp(&self, context: &RequestContext) -> ChangeStamp {
        ChangeStamp {
            at: self.clock.now(),
            actor: context.actor.clone(),
            audit_id: shared_kernel::AuditId::generate(),
        }
    }

    /// Loads a live collection inside `tx`.
    ///
    /// # Errors
    /// `NOT_FOUND` when there is none with that name.
    pub(crate) async fn live_collection(
        tx: &mut dyn Transaction,
        name: &CollectionName,
    ) -> Result<Collection, Error> {
        tx.collections()
            .find_by_name(name)
            .await?
            .ok_or_else(|| collection_not_found(name))
    }

    /// Loads a live collection and one of its documents (live or tombstone) inside `tx`.
    ///
    /// # Errors
    /// `NOT_FOUND` when either does not exist.
    pub(crate) async fn load_document(
        tx: &mut dyn Transaction,
        name: &CollectionName,
        id: &DocumentId,
    ) -> Result<(Collection, Document), Error> {
        let collection = Self::live_collection(tx, name).await?;
        let document = tx
            .documents()
            .find(collection.id(), id)
            .await?
            .ok_or_else(|| document_not_found(id))?;
        Ok((collection, document))
    }

    /// Stores a collection change's audit entry and outbox event.
    pub(crate) async fn record_collection_change(
        tx: &mut dyn Transaction,
        collection: &mut Collection,
        context: &RequestContext,
    ) -> Result<(), Error> {
        for event in collection.take_events() {
            let audit_id = shared_kernel::AuditId::generate();
            tx.audit()
                .append(audit::collection_record(&event, audit_id, context))
                .await?;
            tx.outbox()
                .append(vec![OutboxEvent::from_collection(
                    &event, audit_id, context,
                )])
                .await?;
        }
        Ok(())
    }

    /// Stores a document change (state and revision), its audit entry and outbox event, and
    /// the idempotency key of the request if it has one, then commits: the last step of every
    /// document command.
    ///
    /// # Errors
    /// What the ports and [`Transaction::commit`] return (a stale optimistic read included).
    pub(crate) async fn commit_document_change(
        &self,
        mut tx: Box<dyn Transaction>,
        collection: &Collection,
        mut document: Document,
        context: &RequestContext,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<DocumentView, Error> {
        tx.documents()
            .save(&document, &document.current_revision())
            .await?;
        for event in document.take_events() {
            let record = audit::document_record(&event, collection.name().as_str(), context)?;
            tx.audit().append(record).await?;
            let outbox_event =
                OutboxEvent::from_document(&event, collection.name().as_str(), context);
            tx.outbox().append(vec![outbox_event]).await?;
        }
        let view = DocumentView {
            collection: collection.name().clone(),
            document,
        };
        self.record_outcome_in(tx.as_mut(), idempotency, || {
            Outcome::Document(DocumentOutcome::from(&view))
        })
        .await?;
        tx.commit().await?;
        Ok(view)
    }
}

/// The error for a missing document.
pub(crate) fn document_not_found(id: &DocumentId) -> Error {
    Error::not_found(format!("document `{id}` not found"))
}

/// The error for a missing collection.
pub(crate) fn collection_not_found(name: &CollectionName) -> Error {
    Error::not_found(format!("collection `{name}` not found"))
}
