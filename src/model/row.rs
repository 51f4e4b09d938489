//! A case as the queue lists it ([`CaseRow`]): what a row, the filter and
//! the sort orders need, and nothing of its maps, notes or evidence. A
//! console on a million cases holds a million of these (about 170 bytes
//! each) and loads a case's details only when it is selected (issue 9).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Case, Level, Privilege};

/// The queue's view of one case. Text is kept as given (untrusted:
/// sanitise before display) in one allocation: `id name owner provider
/// kind tags…`, space-separated, which is also the filter's haystack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    text: Box<str>,
    /// Byte offsets where id, name, owner, provider and kind end in `text`.
    ends: [u32; 5],
    /// When the case was opened (`opened_at`).
    pub opened_at: OffsetDateTime,
    /// The finding's severity (`None`: unknown).
    pub severity: Option<Level>,
    /// The identity's privilege (`None`: unknown).
    pub privilege: Option<Privilege>,
    /// Whether an owner team is named.
    has_owner: bool,
    /// How many problems the loader recorded for the case (saturating).
    pub problems: u16,
    /// The first 8 bytes of the case's content digest
    /// ([`Case::content_sha256`]): tells a changed case apart.
    pub sha_prefix: [u8; 8],
}

impl CaseRow {
    /// The row of `case`, without its content digest (a console holding
    /// the cases compares the cases themselves).
    pub fn of(case: &Case) -> Self {
        Self::with_sha(case, String::new())
    }

    /// The row of `case` whose content digest ([`Case::content_sha256`])
    /// is `sha256`.
    pub fn with_sha(case: &Case, sha256: String) -> Self {
        Self::from_parts(&RowParts {
            id: case.id.clone(),
            name: case.identity.name.clone(),
            owner: case.owner_team().map(str::to_string),
            provider: case.identity.provider.clone(),
            kind: case.identity.kind.clone(),
            tags: case.tags.clone(),
            severity: case.severity(),
            privilege: case.identity.privilege,
            opened_at: case.opened_at,
            problems: u32::try_from(case.problems.len()).unwrap_or(u32::MAX),
            sha256,
        })
    }

    /// The row from its stored parts ([`CaseRow::parts`] gives them back).
    pub fn from_parts(p: &RowParts) -> Self {
        let owner = p.owner.as_deref().unwrap_or("");
        let mut text = String::with_capacity(
            p.id.len() + p.name.len() + owner.len() + p.provider.len() + p.kind.len() + 16,
        );
        let mut ends = [0u32; 5];
        for (end, part) in ends
            .iter_mut()
            .zip([&p.id, &p.name, owner, &p.provider, &p.kind])
        {
            text.push_str(part);
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
            text.push(' ');
        }
        for tag in &p.tags {
            text.push_str(tag);
            text.push(' ');
        }
        let mut sha_prefix = [0u8; 8];
        if let Ok(bytes) = hex::decode(p.sha256.get(..16).unwrap_or("")) {
            sha_prefix.copy_from_slice(bytes.get(..8).unwrap_or(&[0; 8]));
        }
        CaseRow {
            text: text.into_boxed_str(),
            ends,
            opened_at: p.opened_at,
            severity: p.severity,
            privilege: p.privilege,
            has_owner: p.owner.is_some(),
            problems: u16::try_from(p.problems).unwrap_or(u16::MAX),
            sha_prefix,
        }
    }

    fn part(&self, n: usize) -> &str {
        let start = match n {
            0 => 0,
            _ => self.ends[n - 1] as usize + 1,
        };
        self.text.get(start..self.ends[n] as usize).unwrap_or("")
    }

    /// The case id.
    pub fn id(&self) -> &str {
        self.part(0)
    }

    /// The identity's name.
    pub fn name(&self) -> &str {
        self.part(1)
    }

    /// The owner team as written, whatever its basis (`None`: none named).
    pub fn owner_team(&self) -> Option<&str> {
        self.has_owner.then(|| self.part(2))
    }

    /// The identity's provider.
    pub fn provider(&self) -> &str {
        self.part(3)
    }

    /// The identity's kind.
    pub fn kind(&self) -> &str {
        self.part(4)
    }

    /// The tags, in order (a tag holding a space reads as two: the row
    /// keeps tags for the filter only).
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        let start = (self.ends[4] as usize + 1).min(self.text.len());
        self.text
            .get(start..)
            .unwrap_or("")
            .split(' ')
            .filter(|t| !t.is_empty())
    }

    /// What the filter searches: id, name, owner, provider, kind and tags,
    /// space-separated.
    pub fn haystack(&self) -> &str {
        &self.text
    }

    /// Whether `sha256` (lowercase hex, as [`Case::content_sha256`]) can be
    /// this row's content: its first 8 bytes match (always, for a row made
    /// without its digest).
    pub fn may_have_sha(&self, sha256: &str) -> bool {
        self.sha_prefix == [0; 8]
            || hex::decode(sha256.get(..16).unwrap_or("")).is_ok_and(|b| b == self.sha_prefix)
    }

    /// The parts the row was made of, to store it ([`CaseRow::from_parts`]);
    /// `sha256` holds only the prefix the row keeps.
    pub fn parts(&self) -> RowParts {
        RowParts {
            id: self.id().into(),
            name: self.name().into(),
            owner: self.owner_team().map(str::to_string),
            provider: self.provider().into(),
            kind: self.kind().into(),
            tags: self.tags().map(str::to_string).collect(),
            severity: self.severity,
            privilege: self.privilege,
            opened_at: self.opened_at,
            problems: u32::from(self.problems),
            sha256: hex::encode(self.sha_prefix),
        }
    }
}

/// The index of the row of `id` (exact) among `rows` in id order, by
/// binary search.
pub fn position_in_id_order(rows: &[CaseRow], id: &str) -> Option<usize> {
    rows.binary_search_by(|r| r.id().cmp(id)).ok()
}

/// A row's parts, as a store keeps them (JSON, one object per case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowParts {
    /// The case id.
    pub id: String,
    /// `identity.name`.
    pub name: String,
    /// `owner.team`.
    pub owner: Option<String>,
    /// `identity.provider`.
    pub provider: String,
    /// `identity.kind`.
    pub kind: String,
    /// `tags`.
    pub tags: Vec<String>,
    /// `finding.severity`, as its lowercase name.
    #[serde(with = "level_name")]
    pub severity: Option<Level>,
    /// `identity.privilege`, as its lowercase name.
    #[serde(with = "privilege_name")]
    pub privilege: Option<Privilege>,
    /// `opened_at` (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    /// How many problems the loader recorded.
    pub problems: u32,
    /// The content digest (lowercase hex; a prefix is enough).
    pub sha256: String,
}

macro_rules! name_codec {
    ($module:ident, $ty:ty, [$($variant:ident = $name:literal),+]) => {
        mod $module {
            use super::*;

            pub fn serialize<S: serde::Serializer>(v: &Option<$ty>, s: S) -> Result<S::Ok, S::Error> {
                match v {
                    $(Some(<$ty>::$variant) => s.serialize_some($name),)+
                    None => s.serialize_none(),
                }
            }

            /// A name this version does not know reads as unknown.
            pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<$ty>, D::Error> {
                Ok(match Option::<String>::deserialize(d)?.as_deref() {
                    $(Some($name) => Some(<$ty>::$variant),)+
                    _ => None,
                })
            }
        }
    };
}

name_codec!(
    level_name,
    Level,
    [
        Critical = "critical",
        High = "high",
        Medium = "medium",
        Low = "low"
    ]
);
name_codec!(
    privilege_name,
    Privilege,
    [Admin = "admin", Write = "write", Read = "read"]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_keeps_every_part_and_round_trips_through_its_parts() {
        let parts = RowParts {
            id: "CASE-1".into(),
            name: "svc billing".into(),
            owner: Some("payments".into()),
            provider: "aws".into(),
            kind: "service_account".into(),
            tags: vec!["prod".into(), "pci".into()],
            severity: Some(Level::High),
            privilege: None,
            opened_at: time::macros::datetime!(2026-11-01 00:00 UTC),
            problems: 2,
            sha256: "0123456789abcdef".repeat(4),
        };
        let row = CaseRow::from_parts(&parts);
        assert_eq!(row.id(), "CASE-1");
        assert_eq!(row.name(), "svc billing");
        assert_eq!(row.owner_team(), Some("payments"));
        assert_eq!(row.provider(), "aws");
        assert_eq!(row.kind(), "service_account");
        assert_eq!(row.tags().collect::<Vec<_>>(), ["prod", "pci"]);
        assert!(row.may_have_sha(&parts.sha256));
        assert!(!row.may_have_sha(&"f".repeat(64)));
        let json = serde_json::to_string(&row.parts()).unwrap();
        let back: RowParts = serde_json::from_str(&json).unwrap();
        assert_eq!(CaseRow::from_parts(&back), row);
        let none = CaseRow::from_parts(&RowParts {
            owner: None,
            ..parts
        });
        assert_eq!(none.owner_team(), None);
    }
}
