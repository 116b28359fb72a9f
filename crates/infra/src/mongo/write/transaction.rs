//! The [`UnitOfWork`] port: transactions that read committed state and keep their writes
//! until the commit (see `mod.rs`).

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use audit_domain::AuditLogger;
use shared_kernel::{AuditId, Error};
use storage_app::idempotency::IdempotencyStore;
use storage_app::{Attempt, CommitError, EventOutbox, Guard, Transaction, UnitOfWork};
use storage_domain::repository::{CollectionRepository, DocumentRepository};

use super::super::Shared;
use super::super::read::MongoReader;
use super::commit::{self, Expect};
use super::ops::{Op, PlannedChange};
use super::phases;

/// Opens MongoDB transactions.
pub(crate) struct MongoUnitOfWork {
    shared: Arc<Shared>,
    reader: Arc<MongoReader>,
}

impl MongoUnitOfWork {
    /// A unit of work whose transactions read through `reader`.
    pub(crate) fn new(shared: Arc<Shared>, reader: Arc<MongoReader>) -> Self {
        Self { shared, reader }
    }
}

#[async_trait]
impl UnitOfWork for MongoUnitOfWork {
    async fn begin(&self, _attempt: Attempt) -> Result<Box<dyn Transaction>, Error> {
        // Nothing to take at `begin`: the MongoDB transaction opens at the commit, so a
        // repeat has nothing to gain from the attempt number either.
        Ok(Box::new(MongoTransaction {
            shared: Arc::clone(&self.shared),
            reader: Arc::clone(&self.reader),
            guards: Vec::new(),
            ops: Vec::new(),
            audit_ids: HashSet::new(),
            collection_change: None,
        }))
    }
}

/// One open transaction: what it relies on and what it will write.
pub(crate) struct MongoTransaction {
    pub(super) shared: Arc<Shared>,
    pub(super) reader: Arc<MongoReader>,
    pub(super) guards: Vec<Guard>,
    pub(super) ops: Vec<Op>,
    /// The audit ids appended so far: a second append of one is refused at once.
    pub(super) audit_ids: HashSet<AuditId>,
    /// The collection delete or schema change, if this transaction makes one.
    pub(super) collection_change: Option<PlannedChange>,
}

#[async_trait]
impl Transaction for MongoTransaction {
    fn collections(&mut self) -> &mut dyn CollectionRepository {
        self
    }

    fn documents(&mut self) -> &mut dyn DocumentRepository {
        self
    }

    fn audit(&mut self) -> &mut dyn AuditLogger {
        self
    }

    fn outbox(&mut self) -> &mut dyn EventOutbox {
        self
    }

    fn idempotency(&mut self) -> &mut dyn IdempotencyStore {
        self
    }

    fn require(&mut self, guard: Guard) {
        self.guards.push(guard);
    }

    #[tracing::instrument(level = "debug", name = "mongo.commit", skip_all)]
    async fn commit(self: Box<Self>) -> Result<(), CommitError> {
        let Self {
            shared,
            guards,
            ops,
            collection_change,
            ..
        } = *self;
        if ops.is_empty() {
            return Ok(());
        }
        match collection_change {
            Some(planned) => phases::change_collection(&shared, planned, &guards, ops).await,
            None => commit::run(&shared, &guards, Expect::Live, ops).await,
        }
    }
}
