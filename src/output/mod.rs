//! What the program writes for machines and people, in one place: the
//! documented JSON formats as types ([`formats`]) and the JSON writer that
//! every output uses ([`json`]). The sanitising policy for text is in
//! [`crate::text`].

pub mod formats;
pub mod json;

pub use formats::{
    CaseOutcome, FileProblem, FindingsImportOutput, ImportOutput, InfoLocal, InfoRemote,
    ListCounts, ListEntry, ListIdentity, ListOutput, OutboxFile, OutboxOutput, Paths, ReviewerInfo,
    Schema, ShowOutput, SkippedRecord, Streamed, UnreadableLine, VerifyOutput,
};
