//! Times as detectors write them.

use time::OffsetDateTime;

/// An RFC 3339 time as detectors write it: fractional seconds of any
/// length (`…18.758000+00:00` from the AWS CLI), `Z` or `±HH:MM`. A time
/// without a zone is not a time here (never assumed UTC).
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    crate::model::parse_rfc3339(s.trim()).ok()
}

/// A time given as RFC 3339 text or as a Unix epoch number: seconds when
/// below 10^11 (Prowler's OCSF `time`), else milliseconds (the OCSF
/// `timestamp_t` the schema defines). `None` for anything else.
pub fn parse_time_or_epoch(value: &serde_json::Value) -> Option<OffsetDateTime> {
    match value {
        serde_json::Value::String(s) => parse_time(s),
        serde_json::Value::Number(n) => {
            let n = n.as_i64()?;
            let seconds = if n.unsigned_abs() < 100_000_000_000 {
                n
            } else {
                n / 1000
            };
            OffsetDateTime::from_unix_timestamp(seconds).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_times_read_and_naive_ones_do_not() {
        assert!(parse_time("2023-09-29T17:29:18.758000+00:00").is_some());
        assert!(parse_time("2023-09-29T17:29:18Z").is_some());
        assert!(parse_time("2023-09-29T17:29:18").is_none());
        assert!(parse_time("N/A").is_none());
        let s = parse_time_or_epoch(&serde_json::json!(1_700_000_000)).expect("seconds");
        let ms = parse_time_or_epoch(&serde_json::json!(1_700_000_000_000_i64)).expect("ms");
        assert_eq!(s, ms);
        assert!(parse_time_or_epoch(&serde_json::json!(i64::MIN)).is_none());
    }
}
