//! What was acknowledged, and what the chain holds: the checks run after
//! every kill (see the `store_crash` module docs).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::Target;

/// A record as acknowledged (or as found in the chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ack {
    pub(super) seq: u64,
    pub(super) id: String,
    pub(super) hash: String,
}

impl Ack {
    /// From a record's JSON (`decide --json`, a 201 body, an exported line)
    /// that must be about `case`.
    pub(super) fn of(case: &str, record: &Value) -> Ack {
        assert_eq!(record["case_id"], case, "record for another case: {record}");
        let field = |k: &str| {
            record[k]
                .as_str()
                .unwrap_or_else(|| panic!("no {k} in {record}"))
                .to_string()
        };
        Ack {
            seq: record["seq"].as_u64().expect("seq"),
            id: field("id"),
            hash: field("hash"),
        }
    }
}

/// Every acknowledged decision, and the chain as last checked.
#[derive(Default)]
pub(super) struct Ledger {
    pub(super) acked: HashMap<String, Ack>,
    pub(super) lines: Vec<String>,
    /// case id → its record, in the chain as last checked.
    pub(super) chain: HashMap<String, Ack>,
    /// Acknowledged records compared with the chain, over all checks.
    pub(super) compared: usize,
}

impl Ledger {
    pub(super) fn acknowledge(&mut self, case: &str, ack: Ack) {
        if let Some(first) = self.acked.insert(case.to_string(), ack.clone()) {
            panic!("{case} acknowledged twice: {first:?} then {ack:?}");
        }
    }

    /// Opens the store (`evidence verify`), reads the chain
    /// ([`Target::chain`]) and checks it against what was acknowledged and
    /// what the last check saw (see the module docs).
    pub(super) fn check(&mut self, target: &Target<'_>) {
        let out = target.run(target.cmd().args(["evidence", "verify", "--json"]));
        assert_eq!(out.code, 0, "evidence verify after a kill: {out}");
        let report = out.json();
        assert!(report["first_bad"].is_null(), "{report}");
        assert!(report["torn_tail"].is_null(), "{report}");
        let lines = target.chain();
        assert_eq!(report["records"].as_u64(), Some(lines.len() as u64));
        if let Some(i) = (0..self.lines.len()).find(|&i| lines.get(i) != Some(&self.lines[i])) {
            panic!(
                "record {} changed or vanished: was {}, now {:?}",
                i + 1,
                self.lines[i],
                lines.get(i)
            );
        }
        let mut chain = HashMap::new();
        let mut ids = HashSet::new();
        for (i, line) in lines.iter().enumerate() {
            let record: Value = serde_json::from_str(line).expect("exported line is JSON");
            let case = record["case_id"].as_str().expect("case_id").to_string();
            let ack = Ack::of(&case, &record);
            assert_eq!(ack.seq, i as u64 + 1, "seq out of order: {line}");
            assert!(ids.insert(ack.id.clone()), "record id twice: {line}");
            if let Some(first) = chain.insert(case.clone(), ack) {
                panic!("{case} decided twice: first {first:?}, again {line}");
            }
        }
        for (case, ack) in &self.acked {
            assert_eq!(
                chain.get(case),
                Some(ack),
                "acknowledged decision on {case} is not in the chain as acknowledged"
            );
        }
        self.compared += self.acked.len();
        self.lines = lines;
        self.chain = chain;
    }
}
