//! The commit sequence has no gap: every `seq` from 1 to the last one handed out is stored.

use shared_kernel::Error;

use super::super::finding::{Finding, FindingKind, Location};

/// How many commit sequences the check asks for at a time (as many rows as the other passes).
const PAGE: usize = 1000;

/// The check of a backend that hands out commit sequences without gaps: every `seq` from 1 to
/// the last one handed out is stored. `stored_seqs(after, limit)` pages through the stored
/// sequences in increasing order (at most `limit` strictly after `after`); `allocated` is the
/// last one the backend handed out, when it keeps that counter (a deleted newest entry leaves
/// no gap among the stored ones, only under the counter). Each run of missing numbers is one
/// [`FindingKind::RemovedEntry`] at [`Location::CommitSequence`].
///
/// # Errors
/// Only those of `stored_seqs` and `allocated`.
pub fn check_gap_free_sequence(
    mut stored_seqs: impl FnMut(u64, usize) -> Result<Vec<u64>, Error>,
    allocated: impl FnOnce() -> Result<Option<u64>, Error>,
    report: &mut dyn FnMut(Finding),
) -> Result<(), Error> {
    let mut expected = 1_u64;
    let mut after = 0_u64;
    loop {
        let page = stored_seqs(after, PAGE)?;
        let full = page.len() >= PAGE;
        for seq in page {
            if seq > expected {
                report(gap(expected, seq));
            }
            expected = expected.max(seq.saturating_add(1));
            after = seq;
        }
        if !full {
            break;
        }
    }
    if let Some(allocated) = allocated()?
        && allocated >= expected
    {
        report(gap(expected, allocated.saturating_add(1)));
    }
    Ok(())
}

/// Commit sequences `start..end`, reported as deleted entries.
fn gap(start: u64, end: u64) -> Finding {
    let count = end - start;
    let (noun, verb) = if count == 1 {
        ("entry", "is")
    } else {
        ("entries", "are")
    };
    Finding::new(
        FindingKind::RemovedEntry,
        Location::CommitSequence { start, end },
        format!(
            "{count} committed audit {noun} of this commit sequence {verb} not stored: deleted"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the check over `stored` (paged as a store would) with counter `allocated`.
    fn gaps(stored: &[u64], allocated: Option<u64>) -> Vec<Location> {
        let mut found = Vec::new();
        check_gap_free_sequence(
            |after, limit| {
                Ok(stored
                    .iter()
                    .copied()
                    .filter(|seq| *seq > after)
                    .take(limit)
                    .collect())
            },
            || Ok(allocated),
            &mut |finding: Finding| {
                assert_eq!(finding.kind, FindingKind::RemovedEntry);
                found.push(finding.location);
            },
        )
        .unwrap_or_else(|e| panic!("check: {}", e.chain()));
        found
    }

    #[test]
    fn an_unbroken_sequence_up_to_the_counter_has_no_finding() {
        assert_eq!(gaps(&[1, 2, 3], Some(3)), Vec::new());
        assert_eq!(gaps(&[], None), Vec::new());
        assert_eq!(gaps(&[], Some(0)), Vec::new());
    }

    #[test]
    fn each_run_of_missing_numbers_is_one_finding_even_across_pages_and_under_the_counter() {
        let stored: Vec<u64> = (1..=2500)
            .filter(|seq| !(1000..=1001).contains(seq))
            .collect();
        assert_eq!(
            gaps(&stored, Some(2502)),
            vec![
                Location::CommitSequence {
                    start: 1000,
                    end: 1002
                },
                Location::CommitSequence {
                    start: 2501,
                    end: 2503
                },
            ]
        );
        assert_eq!(
            gaps(&[2, 3], None),
            vec![Location::CommitSequence { start: 1, end: 2 }]
        );
    }
}
