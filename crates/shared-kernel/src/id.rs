//! Typed UUIDv7 identifiers: a `CollectionId` can never be passed where an `AuditId` is wanted.
//!
//! Each bounded context declares its own ids with [`typed_uuid!`](crate::typed_uuid); UUIDv7
//! sorts by creation time, which keeps storage indexes append-friendly.

/// Declares a UUIDv7 identifier newtype with `generate`, `parse`, `as_uuid` and `Display`.
#[macro_export]
macro_rules! typed_uuid {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A fresh UUIDv7.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// Parses the hyphenated text form.
            ///
            /// # Errors
            /// `INVALID_INPUT` when the text is not a UUID.
            pub fn parse(text: &str) -> Result<Self, $crate::Error> {
                uuid::Uuid::try_parse(text).map(Self).map_err(|_| {
                    $crate::Error::invalid_input(format!(
                        "`{text}` is not a valid {}",
                        stringify!($name)
                    ))
                })
            }

            /// Wraps an existing UUID (used by repositories rebuilding stored rows).
            pub fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    typed_uuid!(
        /// An id for the test.
        SampleId
    );

    #[test]
    fn ids_round_trip_through_text_and_sort_by_creation() {
        let first = SampleId::generate();
        let second = SampleId::generate();
        assert!(first < second);
        assert_eq!(SampleId::parse(&first.to_string()).ok(), Some(first));
        assert!(SampleId::parse("not-a-uuid").is_err());
        assert_eq!(SampleId::from_uuid(first.as_uuid()), first);
    }
}

crate::typed_uuid!(
    /// The immutable id of a collection. Documents, revisions and audit entries reference it,
    /// so deleting and re-creating a name never merges two histories.
    CollectionId
);

crate::typed_uuid!(
    /// The id of an audit entry. Documents and revisions name the entry of the change that
    /// produced them, which is why both contexts share this type.
    AuditId
);
