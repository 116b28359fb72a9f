//! Field paths: data paths into a document's JSON, and the metadata every document has.

use std::fmt;

use shared_kernel::Error;

/// The longest path, in characters.
pub const MAX_PATH_LEN: usize = 512;

/// Metadata a filter or sort can name; data keys cannot start with `$`, so they never clash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaField {
    /// `$id`: the document id (a string).
    Id,
    /// `$version`: the current version (a number).
    Version,
    /// `$created_at`: the start of the current life (a time).
    CreatedAt,
    /// `$updated_at`: the last change (a time).
    UpdatedAt,
}

impl MetaField {
    /// Every metadata field.
    pub const ALL: [MetaField; 4] = [
        MetaField::Id,
        MetaField::Version,
        MetaField::CreatedAt,
        MetaField::UpdatedAt,
    ];

    /// The name as written in filters and sorts (`$created_at`).
    pub const fn as_str(self) -> &'static str {
        match self {
            MetaField::Id => "$id",
            MetaField::Version => "$version",
            MetaField::CreatedAt => "$created_at",
            MetaField::UpdatedAt => "$updated_at",
        }
    }

    /// Whether its values are times (compared as milliseconds, written as RFC 3339).
    pub const fn is_time(self) -> bool {
        matches!(self, MetaField::CreatedAt | MetaField::UpdatedAt)
    }

    /// The field named `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

/// A dotted path into a document's data: one or more object keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataPath(Vec<String>);

impl DataPath {
    /// The object keys, outermost first (never empty).
    pub fn segments(&self) -> &[String] {
        &self.0
    }
}

/// What a filter clause or a sort field is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldPath {
    /// A metadata field.
    Meta(MetaField),
    /// A path into the data.
    Data(DataPath),
}

impl FieldPath {
    /// Parses `$id`-style metadata or a dotted data path (`address.city`).
    ///
    /// # Errors
    /// `INVALID_INPUT` for an empty or over-long path, an empty segment (`a..b`), a segment
    /// starting with `$` that is not a whole metadata name, or an unknown metadata name.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.is_empty() || text.chars().count() > MAX_PATH_LEN {
            return Err(Error::invalid_input(format!(
                "a field path must be 1-{MAX_PATH_LEN} characters long"
            )));
        }
        if text.starts_with('$') {
            return MetaField::parse(text).map(FieldPath::Meta).ok_or_else(|| {
                Error::invalid_input(format!(
                    "`{text}` is neither a data path nor one of $id, $version, $created_at, $updated_at"
                ))
            });
        }
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(Error::invalid_input(format!(
                "field path `{text}` has an empty segment"
            )));
        }
        if segments.iter().any(|s| s.starts_with('$')) {
            return Err(Error::invalid_input(format!(
                "field path `{text}` has a segment starting with `$`; data keys never do"
            )));
        }
        Ok(FieldPath::Data(DataPath(segments)))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldPath::Meta(meta) => f.write_str(meta.as_str()),
            FieldPath::Data(path) => f.write_str(&path.0.join(".")),
        }
    }
}
