//! A forward-only reader of the stored tree hashes (`log_hashes`), paged from the source, so
//! the auditor compares its recomputed tree with the stored one position by position without
//! holding the whole sequence.

use std::collections::VecDeque;

use audit_domain::merkle::Hash;
use shared_kernel::Error;

use super::source::{AuditSource, PAGE};

/// Reads stored hashes at increasing positions.
pub(crate) struct StoredHashes<'a> {
    source: &'a dyn AuditSource,
    buffer: VecDeque<(u64, Vec<u8>)>,
    /// The first position not fetched yet.
    next_from: u64,
    exhausted: bool,
}

/// What is stored at one position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// A 32-byte hash.
    Hash(Hash),
    /// A value of another length.
    Malformed,
    /// Nothing.
    Missing,
}

impl<'a> StoredHashes<'a> {
    pub(crate) fn new(source: &'a dyn AuditSource) -> Self {
        Self {
            source,
            buffer: VecDeque::new(),
            next_from: 0,
            exhausted: false,
        }
    }

    /// What is stored at `position`; positions must be asked in increasing order (anything
    /// stored before it is skipped).
    pub(crate) fn at(&mut self, position: u64) -> Result<Stored, Error> {
        loop {
            while self.buffer.front().is_some_and(|(p, _)| *p < position) {
                self.buffer.pop_front();
            }
            if let Some((p, bytes)) = self.buffer.front() {
                if *p > position {
                    return Ok(Stored::Missing);
                }
                return Ok(Hash::try_from(bytes.as_slice()).map_or(Stored::Malformed, Stored::Hash));
            }
            if !self.fill()? {
                return Ok(Stored::Missing);
            }
        }
    }

    /// The first stored position at or after `position`, if any.
    pub(crate) fn first_at_or_after(&mut self, position: u64) -> Result<Option<u64>, Error> {
        loop {
            while self.buffer.front().is_some_and(|(p, _)| *p < position) {
                self.buffer.pop_front();
            }
            if let Some((p, _)) = self.buffer.front() {
                return Ok(Some(*p));
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Fetches the next page; false at the end.
    fn fill(&mut self) -> Result<bool, Error> {
        if self.exhausted {
            return Ok(false);
        }
        let page = self.source.log_hashes(self.next_from, PAGE)?;
        self.exhausted = page.len() < PAGE;
        match page.last() {
            Some((last, _)) => self.next_from = last.saturating_add(1),
            None => return Ok(false),
        }
        self.buffer.extend(page);
        Ok(true)
    }
}
