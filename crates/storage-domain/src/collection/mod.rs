//! The `Collection` aggregate: a named set of documents with an optional JSON Schema.

mod name;
mod schema;

pub use name::{CollectionName, MAX_COLLECTION_NAME_LEN};
pub use schema::CollectionSchema;

use shared_kernel::{CollectionId, Error, Timestamp};

/// What happened to a collection. Recorded by the aggregate, drained with
/// [`Collection::take_events`].
#[derive(Debug, Clone, PartialEq)]
pub enum CollectionEvent {
    /// A collection was created.
    Created {
        /// Its immutable id.
        id: CollectionId,
        /// Its name.
        name: CollectionName,
        /// When.
        at: Timestamp,
    },
    /// Its schema was set, replaced or removed; the settings version moved on.
    SchemaChanged {
        /// Its id.
        id: CollectionId,
        /// Its name.
        name: CollectionName,
        /// The new settings version.
        version: u64,
        /// When.
        at: Timestamp,
    },
    /// It was deleted (it held no live documents).
    Deleted {
        /// Its id.
        id: CollectionId,
        /// Its name.
        name: CollectionName,
        /// When.
        at: Timestamp,
    },
}

/// The state a repository stores and restores; fields are public only here.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionSnapshot {
    /// Immutable id.
    pub id: CollectionId,
    /// Name.
    pub name: CollectionName,
    /// Optional schema.
    pub schema: Option<CollectionSchema>,
    /// Settings version: 1 at creation, +1 per schema change.
    pub version: u64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change time.
    pub updated_at: Timestamp,
    /// Deletion time, once deleted.
    pub deleted_at: Option<Timestamp>,
}

/// A collection. Fields are private: change it only through the intent-named methods.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    state: CollectionSnapshot,
    events: Vec<CollectionEvent>,
}

impl Collection {
    /// Creates a collection with a fresh id, recording [`CollectionEvent::Created`].
    pub fn create(name: CollectionName, schema: Option<CollectionSchema>, now: Timestamp) -> Self {
        let id = CollectionId::generate();
        let event = CollectionEvent::Created {
            id,
            name: name.clone(),
            at: now,
        };
        Self {
            state: CollectionSnapshot {
                id,
                name,
                schema,
                version: 1,
                created_at: now,
                updated_at: now,
                deleted_at: None,
            },
            events: vec![event],
        }
    }

    /// Rebuilds a stored collection. Only repositories call this; no event is recorded.
    pub fn restore(snapshot: CollectionSnapshot) -> Self {
        Self {
            state: snapshot,
            events: Vec::new(),
        }
    }

    /// Replaces (or removes, with `None`) the schema. Later writes are checked against it;
    /// existing documents are not re-checked.
    ///
    /// # Errors
    /// `NOT_FOUND` when the collection was deleted.
    pub fn change_schema(
        &mut self,
        schema: Option<CollectionSchema>,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.ensure_live()?;
        self.state.schema = schema;
        self.state.version += 1;
        self.state.updated_at = now;
        self.events.push(CollectionEvent::SchemaChanged {
            id: self.state.id,
            name: self.state.name.clone(),
            version: self.state.version,
            at: now,
        });
        Ok(())
    }

    /// Deletes the collection, which must hold no live documents.
    ///
    /// # Errors
    /// `CONFLICT` when `live_documents` is not zero; `NOT_FOUND` when already deleted.
    pub fn delete(&mut self, live_documents: u64, now: Timestamp) -> Result<(), Error> {
        self.ensure_live()?;
        if live_documents > 0 {
            return Err(Error::conflict(format!(
                "collection `{}` still holds {live_documents} live document(s)",
                self.state.name
            ))
            .with_detail("live_documents", live_documents));
        }
        self.state.deleted_at = Some(now);
        self.state.updated_at = now;
        self.events.push(CollectionEvent::Deleted {
            id: self.state.id,
            name: self.state.name.clone(),
            at: now,
        });
        Ok(())
    }

    fn ensure_live(&self) -> Result<(), Error> {
        match self.state.deleted_at {
            Some(_) => Err(Error::not_found(format!(
                "collection `{}` not found",
                self.state.name
            ))),
            None => Ok(()),
        }
    }

    /// Drains the recorded events.
    pub fn take_events(&mut self) -> Vec<CollectionEvent> {
        std::mem::take(&mut self.events)
    }

    /// The immutable id.
    pub fn id(&self) -> CollectionId {
        self.state.id
    }

    /// The name.
    pub fn name(&self) -> &CollectionName {
        &self.state.name
    }

    /// The schema, if any.
    pub fn schema(&self) -> Option<&CollectionSchema> {
        self.state.schema.as_ref()
    }

    /// The settings version (1 at creation, +1 per schema change).
    pub fn version(&self) -> u64 {
        self.state.version
    }

    /// Creation time.
    pub fn created_at(&self) -> Timestamp {
        self.state.created_at
    }

    /// Last change time.
    pub fn updated_at(&self) -> Timestamp {
        self.state.updated_at
    }

    /// Whether it was deleted.
    pub fn is_deleted(&self) -> bool {
        self.state.deleted_at.is_some()
    }

    /// The state to store.
    pub fn snapshot(&self) -> &CollectionSnapshot {
        &self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared_kernel::ErrorCode;

    fn name() -> CollectionName {
        CollectionName::parse("orders").unwrap_or_else(|e| panic!("{e}"))
    }

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn given_nothing_when_created_then_created_is_recorded_at_version_one() {
        let mut collection = Collection::create(name(), None, t(1));
        assert_eq!(collection.version(), 1);
        let events = collection.take_events();
        assert_eq!(
            events,
            vec![CollectionEvent::Created {
                id: collection.id(),
                name: name(),
                at: t(1)
            }]
        );
        assert!(
            collection.take_events().is_empty(),
            "events are drained once"
        );
    }

    #[test]
    fn given_a_collection_when_its_schema_changes_then_the_version_moves_and_an_event_is_recorded()
    {
        let mut collection = Collection::create(name(), None, t(1));
        collection.take_events();
        let schema = CollectionSchema::new(json!({"type": "object"})).ok();
        assert!(collection.change_schema(schema.clone(), t(2)).is_ok());
        assert_eq!(collection.schema(), schema.as_ref());
        assert_eq!(collection.version(), 2);
        assert_eq!(collection.updated_at(), t(2));
        assert_eq!(
            collection.take_events(),
            vec![CollectionEvent::SchemaChanged {
                id: collection.id(),
                name: name(),
                version: 2,
                at: t(2)
            }]
        );
    }

    #[test]
    fn given_live_documents_when_deleted_then_conflict_and_nothing_is_recorded() {
        let mut collection = Collection::create(name(), None, t(1));
        collection.take_events();
        let error = collection.delete(3, t(2)).err().map(|e| e.code());
        assert_eq!(error, Some(ErrorCode::Conflict));
        assert!(collection.take_events().is_empty());
        assert!(!collection.is_deleted());
    }

    #[test]
    fn given_an_empty_collection_when_deleted_then_deleted_is_recorded_and_later_changes_fail() {
        let mut collection = Collection::create(name(), None, t(1));
        collection.take_events();
        assert!(collection.delete(0, t(2)).is_ok());
        assert_eq!(
            collection.take_events(),
            vec![CollectionEvent::Deleted {
                id: collection.id(),
                name: name(),
                at: t(2)
            }]
        );
        assert_eq!(
            collection.change_schema(None, t(3)).err().map(|e| e.code()),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(
            collection.delete(0, t(3)).err().map(|e| e.code()),
            Some(ErrorCode::NotFound)
        );
    }

    #[test]
    fn a_schema_must_be_an_object() {
        assert!(CollectionSchema::new(json!(true)).is_err());
        assert!(CollectionSchema::new(json!({})).is_ok());
    }
}
