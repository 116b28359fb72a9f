//! The MongoDB store: Offchain DB's production backend behind the same ports (issue 22).

pub(crate) mod json_bson;
