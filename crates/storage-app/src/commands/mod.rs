//! Command handlers: each file adds one `impl StorageApp` method and its command type.

pub mod change_schema;
pub mod create_collection;
pub mod create_document;
pub mod delete_collection;
pub mod delete_document;
pub mod patch_document;
pub mod replace_document;

#[cfg(test)]
pub(crate) mod test_support;

pub use change_schema::ChangeSchema;
pub use create_collection::CreateCollection;
pub use create_document::CreateDocument;
pub use delete_collection::DeleteCollection;
pub use delete_document::DeleteDocument;
pub use patch_document::PatchDocument;
pub use replace_document::ReplaceDocument;
