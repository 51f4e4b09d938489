//! One credential, one case: findings of the same credential, across
//! records, files and detectors, folded into one case.

use sha2::{Digest, Sha256};

use super::Detected;
use super::reconcile::{coalesce_occurrences, first_seen_from_occurrences, merge};
use crate::model::{Case, Occurrence};

/// The case id of a credential key: `NHI-` and the first 12 hex digits
/// (uppercase) of SHA-256(credential). Stable across imports and
/// detectors; the key itself holds no secret (see `Fingerprinter`).
pub fn case_id_for(credential: &str) -> String {
    let digest = Sha256::digest(credential.as_bytes());
    format!("NHI-{}", hex::encode_upper(&digest[..6]))
}

/// A case folded from one or more findings.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouped {
    /// The credential key the findings share.
    pub credential: String,
    /// The folded case; `id` is [`case_id_for`] the credential.
    pub case: Case,
    /// Where each finding was read, in input order.
    pub records: Vec<String>,
}

/// Folds `findings` by credential, in the order each credential is first
/// met; each case gets its id from [`case_id_for`] and the findings are
/// merged in input order ([`merge`]).
pub fn group(findings: Vec<Detected>) -> Vec<Grouped> {
    // Occurrences are gathered per credential and merged once at the end:
    // merging them finding by finding would cost a sort per finding.
    let mut order: Vec<(Grouped, Vec<Occurrence>)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for Detected {
        record,
        credential,
        mut case,
    } in findings
    {
        case.id = case_id_for(&credential);
        let places = std::mem::take(&mut case.occurrences);
        match index.get(&credential) {
            Some(&i) => {
                let (held, occurrences) = &mut order[i];
                held.case = merge(&held.case, &case);
                held.records.push(record);
                occurrences.extend(places);
            }
            None => {
                index.insert(credential.clone(), order.len());
                order.push((
                    Grouped {
                        credential,
                        case,
                        records: vec![record],
                    },
                    places,
                ));
            }
        }
    }
    order
        .into_iter()
        .map(|(mut grouped, occurrences)| {
            grouped.case.occurrences = coalesce_occurrences(occurrences);
            first_seen_from_occurrences(&mut grouped.case);
            grouped
        })
        .collect()
}
