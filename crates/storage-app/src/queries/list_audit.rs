//! List audit entries across the store, in log order, with optional filters.

use audit_domain::LoggedAuditEntry;
use shared_kernel::pagination::PageLimit;
use shared_kernel::{Actor, Deadline, Error, Timestamp};
use storage_domain::{CollectionName, DocumentId};

use super::Page;
use crate::app::StorageApp;
use crate::cursor;
use crate::ports::{AuditQuery, ListedOperation};

/// The cursor tag of this list.
const CURSOR_KIND: &str = "audit";

/// `GET /v1/audit` as the client sent it: every filter as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListAudit {
    /// Collection name.
    pub collection: Option<String>,
    /// Document id.
    pub document_id: Option<String>,
    /// Actor (`anonymous`, `system:relay`, ...).
    pub actor: Option<String>,
    /// Operation (`document.patch`, ...).
    pub operation: Option<String>,
    /// RFC 3339 time, inclusive.
    pub since: Option<String>,
    /// RFC 3339 time, exclusive.
    pub until: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// When the request's answer is no longer wanted: the reader stops the listing there
    /// (`UNAVAILABLE`). `None`: no limit.
    pub deadline: Option<Deadline>,
}

impl ListAudit {
    /// Parses the filters, naming the failing parameter.
    ///
    /// # Errors
    /// `INVALID_INPUT` at `/<parameter>`.
    pub fn filter(&self) -> Result<AuditQuery, Error> {
        fn parse<T>(
            text: Option<&String>,
            name: &str,
            parse: impl Fn(&str) -> Result<T, Error>,
        ) -> Result<Option<T>, Error> {
            text.map(|t| parse(t).map_err(|e| e.at(&format!("/{name}"))))
                .transpose()
        }
        Ok(AuditQuery {
            collection: parse(
                self.collection.as_ref(),
                "collection",
                CollectionName::parse,
            )?,
            document_id: parse(self.document_id.as_ref(), "document_id", DocumentId::parse)?,
            actor: parse(self.actor.as_ref(), "actor", Actor::parse)?,
            operation: parse(self.operation.as_ref(), "operation", ListedOperation::parse)?,
            since: parse(self.since.as_ref(), "since", Timestamp::parse_rfc3339)?,
            until: parse(self.until.as_ref(), "until", Timestamp::parse_rfc3339)?,
        })
    }
}

impl StorageApp {
    /// Audit entries across the store in log order (sequenced entries by leaf index, then the
    /// pending ones), a page at a time; the cursor carries the store's opaque position.
    ///
    /// # Errors
    /// `INVALID_INPUT` for a bad filter, limit or cursor.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_audit(&self, request: ListAudit) -> Result<Page<LoggedAuditEntry>, Error> {
        let filter = request.filter()?;
        let limit = PageLimit::parse(request.limit)?;
        let after = request
            .cursor
            .as_deref()
            .map(|c| cursor::decode_position(CURSOR_KIND, c))
            .transpose()?;
        let mut items = self
            .reader
            .audit_entries(filter, after, limit.get() + 1, request.deadline)
            .await?;
        let has_more = items.len() > limit.get() as usize;
        items.truncate(limit.get() as usize);
        let next_cursor = has_more
            .then(|| {
                items
                    .last()
                    .map(|e| cursor::encode(CURSOR_KIND, e.position.as_str()))
            })
            .flatten();
        Ok(Page { items, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use audit_domain::AuditOperation;
    use shared_kernel::ErrorCode;

    use super::*;
    use crate::commands::test_support::app_with_reader;
    use crate::ports::MockStorageReader;

    #[tokio::test]
    async fn bad_audit_filters_are_refused_naming_the_parameter() {
        let mut reader = MockStorageReader::new();
        reader.expect_audit_entries().never();
        let app = app_with_reader(reader);
        let cases = [
            (
                ListAudit {
                    collection: Some("Bad Name".into()),
                    ..ListAudit::default()
                },
                "/collection",
            ),
            (
                ListAudit {
                    document_id: Some("/x".into()),
                    ..ListAudit::default()
                },
                "/document_id",
            ),
            (
                ListAudit {
                    actor: Some("root".into()),
                    ..ListAudit::default()
                },
                "/actor",
            ),
            (
                ListAudit {
                    operation: Some("document.eat".into()),
                    ..ListAudit::default()
                },
                "/operation",
            ),
            (
                ListAudit {
                    since: Some("yesterday".into()),
                    ..ListAudit::default()
                },
                "/since",
            ),
            (
                ListAudit {
                    until: Some("2026-13-01T00:00:00Z".into()),
                    ..ListAudit::default()
                },
                "/until",
            ),
            (
                ListAudit {
                    cursor: Some("zz".into()),
                    ..ListAudit::default()
                },
                "/cursor",
            ),
        ];
        for (request, path) in cases {
            let error = app
                .list_audit(request)
                .await
                .err()
                .unwrap_or_else(|| panic!("{path} accepted"));
            assert_eq!(error.code(), ErrorCode::InvalidInput, "{path}");
            assert_eq!(error.field_errors()[0].path, path);
        }
    }

    #[test]
    fn the_succession_entry_is_an_operation_a_listing_can_ask_for() {
        let request = ListAudit {
            operation: Some("log.succession".into()),
            ..ListAudit::default()
        };
        let operation = request.filter().ok().and_then(|f| f.operation);
        assert_eq!(operation, Some(ListedOperation::Succession));
        assert_eq!(
            operation.map(ListedOperation::as_str),
            Some("log.succession")
        );
    }

    #[tokio::test]
    async fn the_filter_and_the_deadline_reach_the_reader_parsed() {
        let expected = Deadline::after(std::time::Duration::from_secs(5));
        let mut reader = MockStorageReader::new();
        reader
            .expect_audit_entries()
            .withf(move |filter, after, limit, deadline| {
                filter.operation == Some(ListedOperation::Data(AuditOperation::DocumentPatch))
                    && filter.since == Some(Timestamp::from_millis(0))
                    && after.is_none()
                    && *limit == 51
                    && *deadline == Some(expected)
            })
            .returning(|_, _, _, _| Ok(Vec::new()));
        let app = app_with_reader(reader);
        let page = app
            .list_audit(ListAudit {
                operation: Some("document.patch".into()),
                since: Some("1970-01-01T00:00:00Z".into()),
                deadline: Some(expected),
                ..ListAudit::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(page.items.is_empty());
        assert_eq!(page.next_cursor, None);
    }
}
