//! `StorageApp`: the ports every handler needs, and the steps all writes share.
//!
//! Each command lives in its own file under `commands/` and each query under `queries/`, as
//! an `impl StorageApp` block; this file holds only what they have in common.

use std::sync::Arc;

use shared_kernel::{AuditId, Clock, Error, RequestContext};
use storage_domain::document::ChangeStamp;
use storage_domain::{Collection, CollectionName, Document, DocumentId, DocumentLimits};

use crate::audit;
use crate::events::OutboxEvent;
use crate::guards::Guard;
use crate::idempotency::{DocumentOutcome, IdempotencyKey, Outcome};
use crate::ports::{SchemaValidator, StorageReader, Transaction, UnitOfWork};
use crate::transactions::{Pause, Prepared, RetryPolicy, TransactionManager};

/// The Storage application: command and query handlers over injected ports.
#[derive(Clone)]
pub struct StorageApp {
    pub(crate) unit_of_work: Arc<dyn UnitOfWork>,
    pub(crate) reader: Arc<dyn StorageReader>,
    pub(crate) schemas: Arc<dyn SchemaValidator>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limits: DocumentLimits,
    pub(crate) transactions: TransactionManager,
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
    /// Wires the application to its ports; `pause` is how the transaction manager waits
    /// between attempts (the default [`RetryPolicy`]).
    pub fn new(
        unit_of_work: Arc<dyn UnitOfWork>,
        reader: Arc<dyn StorageReader>,
        schemas: Arc<dyn SchemaValidator>,
        clock: Arc<dyn Clock>,
        limits: DocumentLimits,
        pause: Arc<dyn Pause>,
    ) -> Self {
        let transactions = TransactionManager::new(
            Arc::clone(&unit_of_work),
            Arc::clone(&reader),
            pause,
            RetryPolicy::default(),
        );
        Self {
            unit_of_work,
            reader,
            schemas,
            clock,
            limits,
            transactions,
        }
    }

    /// The document limits in force.
    pub fn limits(&self) -> &DocumentLimits {
        &self.limits
    }

    /// Runs `work` through the [`TransactionManager`]: committed, and run again when the
    /// store refused it for a reason a repeat can cure. `change` is the audit id the command
    /// stores its change under, the same in every attempt, which is how a commit whose
    /// outcome was unknown is recognised.
    ///
    /// # Errors
    /// What `work` or [`TransactionManager::run`] return.
    pub(crate) async fn transaction<T, F, Fut>(
        &self,
        context: &RequestContext,
        change: AuditId,
        work: F,
    ) -> Result<T, Error>
    where
        F: FnMut(Box<dyn Transaction>) -> Fut,
        Fut: Future<Output = Result<Prepared<T>, Error>>,
    {
        self.transactions.run(change, context.deadline, work).await
    }

    /// The stamp of a change made now, stored under `audit_id` (the command's, see
    /// [`StorageApp::transaction`]).
    pub(crate) fn stamp(&self, context: &RequestContext, audit_id: AuditId) -> ChangeStamp {
        ChangeStamp {
            at: self.clock.now(),
            actor: context.actor.clone(),
            audit_id,
        }
    }

    /// Loads a live collection inside `tx`, and guards it: the write commits only while the
    /// collection is still live at the version read (so neither deleted nor given another
    /// schema meanwhile).
    ///
    /// # Errors
    /// `NOT_FOUND` when there is none with that name.
    pub(crate) async fn live_collection(
        tx: &mut dyn Transaction,
        name: &CollectionName,
    ) -> Result<Collection, Error> {
        let collection = tx
            .collections()
            .find_by_name(name)
            .await?
            .ok_or_else(|| collection_not_found(name))?;
        tx.require(Guard::CollectionLive {
            collection: collection.id(),
            version: collection.version(),
        });
        Ok(collection)
    }

    /// Finds a document (live or tombstone) of `collection` inside `tx`, and guards it: the
    /// write commits only while it is still at the version read (or still absent).
    pub(crate) async fn find_document(
        tx: &mut dyn Transaction,
        collection: &Collection,
        id: &DocumentId,
    ) -> Result<Option<Document>, Error> {
        let found = tx.documents().find(collection.id(), id).await?;
        tx.require(Guard::DocumentAt {
            collection: collection.id(),
            id: id.clone(),
            version: found.as_ref().map(Document::version),
        });
        Ok(found)
    }

    /// Loads a live collection and one of its documents (live or tombstone) inside `tx`,
    /// both guarded.
    ///
    /// # Errors
    /// `NOT_FOUND` when either does not exist.
    pub(crate) async fn load_document(
        tx: &mut dyn Transaction,
        name: &CollectionName,
        id: &DocumentId,
    ) -> Result<(Collection, Document), Error> {
        let collection = Self::live_collection(tx, name).await?;
        let document = Self::find_document(tx, &collection, id)
            .await?
            .ok_or_else(|| document_not_found(id))?;
        Ok((collection, document))
    }

    /// Stores a collection change's audit entry (under `audit_id`, the command's) and
    /// outbox event. A collection command records one event.
    pub(crate) async fn record_collection_change(
        tx: &mut dyn Transaction,
        collection: &mut Collection,
        context: &RequestContext,
        audit_id: AuditId,
    ) -> Result<(), Error> {
        let mut ids = std::iter::once(audit_id).chain(std::iter::repeat_with(AuditId::generate));
        for event in collection.take_events() {
            let audit_id = ids.next().unwrap_or_else(AuditId::generate);
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
    /// the idempotency key of the request if it has one, and hands the transaction back for
    /// the manager to commit: the last step of every document command.
    ///
    /// # Errors
    /// What the ports return.
    pub(crate) async fn prepare_document_change(
        &self,
        mut tx: Box<dyn Transaction>,
        collection: &Collection,
        mut document: Document,
        context: &RequestContext,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<Prepared<DocumentView>, Error> {
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
        Ok(Prepared::new(tx, view))
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
