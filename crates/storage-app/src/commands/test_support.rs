//! Mocks of every port a command handler uses, assembled into a transaction. Shared by every
//! command's tests and by `events` and `idempotency`, so it is a module of its own rather than
//! one module's `tests`.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use audit_domain::AuditLogger;
use audit_domain::logger::MockAuditLogger;
use serde_json::json;
use shared_kernel::time::ManualClock;
use shared_kernel::{
    Actor, AuditId, CollectionId, Error, ErrorCode, FieldError, RequestContext, RequestId,
    Timestamp,
};
use storage_domain::document::ChangeStamp;
use storage_domain::repository::{
    CollectionRepository, DocumentRepository, MockCollectionRepository, MockDocumentRepository,
};
use storage_domain::{
    Collection, CollectionName, Document, DocumentData, DocumentId, DocumentLimits,
};

use crate::app::StorageApp;
use crate::guards::{Attempt, CommitError, Guard};
use crate::idempotency::{IdempotencyStore, MockIdempotencyStore};
use crate::ports::{
    EventOutbox, MockEventOutbox, MockSchemaValidator, MockStorageReader, MockUnitOfWork,
    Transaction,
};
use crate::transactions::MockPause;

/// Whether the transaction handed to the handler was committed.
#[derive(Clone, Default)]
pub(crate) struct CommitFlag(Arc<AtomicBool>);

impl CommitFlag {
    pub(crate) fn was_committed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The guards a transaction was asked for, in order.
#[derive(Clone, Default)]
pub(crate) struct GuardLog(Arc<Mutex<Vec<Guard>>>);

impl GuardLog {
    pub(crate) fn asked(&self) -> Vec<Guard> {
        self.0
            .lock()
            .map(|guards| guards.clone())
            .unwrap_or_default()
    }
}

/// A transaction made of one mock per port.
#[derive(Default)]
pub(crate) struct MockTx {
    pub(crate) collections: MockCollectionRepository,
    pub(crate) documents: MockDocumentRepository,
    pub(crate) audit: MockAuditLogger,
    pub(crate) outbox: MockEventOutbox,
    pub(crate) idempotency: MockIdempotencyStore,
    /// How the commit fails, if it does (nothing is then committed).
    pub(crate) refuse_commit: Option<CommitError>,
    pub(crate) committed: CommitFlag,
    pub(crate) guards: GuardLog,
}

impl MockTx {
    /// A transaction in which the collection `orders` exists.
    pub(crate) fn with_collection() -> Self {
        let mut tx = Self::default();
        tx.collections
            .expect_find_by_name()
            .returning(|name| Ok(Some(existing_collection(name))));
        tx
    }

    /// A transaction in which the collection `orders` exists and holds, live, every document
    /// asked for.
    pub(crate) fn with_live_document() -> Self {
        let mut tx = Self::with_collection();
        tx.documents
            .expect_find()
            .returning(|c, id| Ok(Some(live_document(c, id))));
        tx
    }

    /// Exactly one audit entry with `operation`, and one outbox append, are expected.
    pub(crate) fn expect_one_audit_entry(&mut self, operation: &'static str) {
        self.audit
            .expect_append()
            .withf(move |record| record.entry.operation.as_str() == operation)
            .times(1)
            .returning(|_| Ok(()));
        self.outbox.expect_append().times(1).returning(|_| Ok(()));
    }

    /// Whether this transaction will have been committed.
    pub(crate) fn commit_flag(&self) -> CommitFlag {
        self.committed.clone()
    }

    /// The guards this transaction will have been asked for.
    pub(crate) fn guards(&self) -> GuardLog {
        self.guards.clone()
    }

    /// No audit entry or event may be written (a save may be attempted).
    pub(crate) fn expect_nothing_written_after_save(&mut self) {
        self.audit.expect_append().never();
        self.outbox.expect_append().never();
    }

    /// No document, audit entry or event may be written.
    pub(crate) fn expect_nothing_written(&mut self) {
        self.documents.expect_save().never();
        self.audit.expect_append().never();
        self.outbox.expect_append().never();
    }
}

#[async_trait]
impl Transaction for MockTx {
    fn collections(&mut self) -> &mut dyn CollectionRepository {
        &mut self.collections
    }
    fn documents(&mut self) -> &mut dyn DocumentRepository {
        &mut self.documents
    }
    fn audit(&mut self) -> &mut dyn AuditLogger {
        &mut self.audit
    }
    fn outbox(&mut self) -> &mut dyn EventOutbox {
        &mut self.outbox
    }
    fn idempotency(&mut self) -> &mut dyn IdempotencyStore {
        &mut self.idempotency
    }
    fn require(&mut self, guard: Guard) {
        if let Ok(mut guards) = self.guards.0.lock() {
            guards.push(guard);
        }
    }
    async fn commit(self: Box<Self>) -> Result<(), CommitError> {
        if let Some(refusal) = self.refuse_commit {
            return Err(refusal);
        }
        self.committed.0.store(true, Ordering::SeqCst);
        Ok(())
    }
}

pub(crate) fn context() -> RequestContext {
    RequestContext {
        actor: Actor::Anonymous,
        request_id: RequestId::parse("req-1").unwrap_or_else(|_| RequestId::generate()),
        trace_id: None,
        deadline: None,
    }
}

pub(crate) fn existing_collection(name: &CollectionName) -> Collection {
    let mut collection = Collection::create(name.clone(), None, Timestamp::from_millis(1));
    collection.take_events();
    collection
}

pub(crate) fn live_document(collection: CollectionId, id: &DocumentId) -> Document {
    let data = DocumentData::parse(json!({"a": 1}), &DocumentLimits::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let stamp = ChangeStamp {
        at: Timestamp::from_millis(1),
        actor: Actor::Anonymous,
        audit_id: AuditId::generate(),
    };
    let mut document = Document::create(collection, id.clone(), data, stamp);
    document.take_events();
    document
}

/// A validator that accepts every schema and every document.
pub(crate) fn valid_schemas() -> MockSchemaValidator {
    let mut schemas = MockSchemaValidator::new();
    schemas.expect_check_schema().returning(|_| Ok(()));
    schemas.expect_validate().returning(|_, _| Ok(()));
    schemas.expect_forget().returning(|_| ());
    schemas
}

/// A validator that rejects every schema and every document.
pub(crate) fn rejecting_schemas() -> MockSchemaValidator {
    let mut schemas = MockSchemaValidator::new();
    schemas
        .expect_check_schema()
        .returning(|_| Err(Error::invalid_field("/schema/type", "not a type")));
    schemas.expect_validate().returning(|_, _| {
        Err(Error::new(ErrorCode::SchemaViolation, "schema violated")
            .with_field_error(FieldError::new("/a", "must be a string")))
    });
    schemas.expect_forget().returning(|_| ());
    schemas
}

/// A pause that returns at once (the manager's own tests check what it is asked to wait).
pub(crate) fn no_pause() -> MockPause {
    let mut pause = MockPause::new();
    pause.expect_pause().returning(|_| ());
    pause
}

fn app(unit_of_work: MockUnitOfWork, schemas: MockSchemaValidator) -> StorageApp {
    StorageApp::new(
        Arc::new(unit_of_work),
        Arc::new(MockStorageReader::new()),
        Arc::new(schemas),
        Arc::new(ManualClock::new(Timestamp::from_millis(1_000))),
        DocumentLimits::default(),
        Arc::new(no_pause()),
    )
}

/// An app for queries: reads go to `reader`, and no transaction may be opened.
pub(crate) fn app_with_reader(reader: MockStorageReader) -> StorageApp {
    let mut unit_of_work = MockUnitOfWork::new();
    unit_of_work.expect_begin().never();
    StorageApp::new(
        Arc::new(unit_of_work),
        Arc::new(reader),
        Arc::new(valid_schemas()),
        Arc::new(ManualClock::new(Timestamp::from_millis(1_000))),
        DocumentLimits::default(),
        Arc::new(no_pause()),
    )
}

/// An app whose unit of work hands out `tx` once.
pub(crate) fn app_with(tx: MockTx, schemas: MockSchemaValidator) -> (StorageApp, CommitFlag) {
    let committed = tx.committed.clone();
    let mut unit_of_work = MockUnitOfWork::new();
    unit_of_work
        .expect_begin()
        .times(1)
        .return_once(move |_| Ok(Box::new(tx)));
    (app(unit_of_work, schemas), committed)
}

/// An app whose unit of work hands out `first` for the first attempt, then `again` for a
/// second one, in that order.
pub(crate) fn app_with_two_attempts(
    first: MockTx,
    again: MockTx,
) -> (StorageApp, CommitFlag, CommitFlag) {
    let flags = (first.committed.clone(), again.committed.clone());
    let mut unit_of_work = MockUnitOfWork::new();
    let mut order = mockall::Sequence::new();
    unit_of_work
        .expect_begin()
        .withf(|attempt| *attempt == Attempt::First)
        .times(1)
        .in_sequence(&mut order)
        .return_once(move |_| Ok(Box::new(first)));
    unit_of_work
        .expect_begin()
        .withf(|attempt| *attempt == Attempt::Again)
        .times(1)
        .in_sequence(&mut order)
        .return_once(move |_| Ok(Box::new(again)));
    (app(unit_of_work, valid_schemas()), flags.0, flags.1)
}

/// An app whose unit of work must never be asked for a transaction.
pub(crate) fn app_without_transactions(schemas: MockSchemaValidator) -> (StorageApp, CommitFlag) {
    let mut unit_of_work = MockUnitOfWork::new();
    unit_of_work.expect_begin().never();
    (app(unit_of_work, schemas), CommitFlag::default())
}
