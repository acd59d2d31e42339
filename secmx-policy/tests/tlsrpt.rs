//! TLS-RPT aggregation and the JSON report (RFC 8460).

use std::net::IpAddr;

use proptest::prelude::*;
use secmx_policy::mta_sts::MtaStsPolicy;
use secmx_policy::tlsrpt::{
    DateRange, Failure, MAX_FAILURE_DETAILS, PolicyRef, PolicyType, ResultType, SessionResult,
    TlsRptAggregator, rfc3339_utc,
};
use serde_json::json;

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().expect("test address is valid"))
}

/// RFC 8460 §4.4 and Appendix B: the example report, built through the
/// aggregator, equals the RFC's JSON.
#[test]
fn rfc8460_4_4_example_report() {
    let sts = MtaStsPolicy::parse(
        "version: STSv1\nmode: testing\nmx: *.mail.company-y.example\nmax_age: 86400\n",
    )
    .expect("valid policy");
    let policy = PolicyRef::sts("company-y.example", &sts);

    let expired = SessionResult::Failure(Failure {
        sending_mta_ip: ip("2001:db8:abcd:0012::1"),
        receiving_mx_hostname: Some("mx1.mail.company-y.example".into()),
        ..Failure::new(ResultType::CertificateExpired)
    });
    let no_starttls = SessionResult::Failure(Failure {
        sending_mta_ip: ip("2001:db8:abcd:0013::1"),
        receiving_mx_hostname: Some("mx2.mail.company-y.example".into()),
        receiving_ip: ip("203.0.113.56"),
        additional_information: Some(
            "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported"
                .into(),
        ),
        ..Failure::new(ResultType::StarttlsNotSupported)
    });
    let invalid = SessionResult::Failure(Failure {
        sending_mta_ip: ip("198.51.100.62"),
        receiving_ip: ip("203.0.113.58"),
        receiving_mx_hostname: Some("mx-backup.mail.company-y.example".into()),
        failure_reason_code: Some("X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED".into()),
        ..Failure::new(ResultType::ValidationFailure)
    });

    // Interleaved, as sessions come: the first of each kind sets the order.
    let mut aggregator = TlsRptAggregator::new();
    aggregator.record(&policy, &SessionResult::Success);
    aggregator.record(&policy, &expired);
    aggregator.record(&policy, &no_starttls);
    aggregator.record(&policy, &invalid);
    for i in 1..5326 {
        aggregator.record(&policy, &SessionResult::Success);
        if i < 100 {
            aggregator.record(&policy, &expired);
        }
        if i < 200 {
            aggregator.record(&policy, &no_starttls);
        }
        if i < 3 {
            aggregator.record(&policy, &invalid);
        }
    }
    // Another domain's sessions stay out of this report.
    aggregator.record(&PolicyRef::no_policy_found("other.example"), &expired);

    let report = aggregator
        .report(
            "company-y.example",
            "Company-X",
            "sts-reporting@company-x.example",
            "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
            DateRange::from_unix(1_459_468_800, 1_459_468_800 + 86_399),
        )
        .expect("sessions were recorded");

    // The example of RFC 8460 Appendix B, with two differences: "mx-host" is
    // an array, as §4.4 defines it (the example writes a bare string), and
    // the IPv6 addresses are in RFC 5952 canonical form (the example writes
    // "2001:db8:abcd:0012::1"). The "additional-information" URI is given
    // without the line breaks the RFC's formatting put into it.
    let expected = json!({
        "organization-name": "Company-X",
        "date-range": {
            "start-datetime": "2016-04-01T00:00:00Z",
            "end-datetime": "2016-04-01T23:59:59Z"
        },
        "contact-info": "sts-reporting@company-x.example",
        "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
        "policies": [{
            "policy": {
                "policy-type": "sts",
                "policy-string": ["version: STSv1", "mode: testing",
                                  "mx: *.mail.company-y.example", "max_age: 86400"],
                "policy-domain": "company-y.example",
                "mx-host": ["*.mail.company-y.example"]
            },
            "summary": {
                "total-successful-session-count": 5326,
                "total-failure-session-count": 303
            },
            "failure-details": [{
                "result-type": "certificate-expired",
                "sending-mta-ip": "2001:db8:abcd:12::1",
                "receiving-mx-hostname": "mx1.mail.company-y.example",
                "failed-session-count": 100
            }, {
                "result-type": "starttls-not-supported",
                "sending-mta-ip": "2001:db8:abcd:13::1",
                "receiving-mx-hostname": "mx2.mail.company-y.example",
                "receiving-ip": "203.0.113.56",
                "failed-session-count": 200,
                "additional-information": "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported"
            }, {
                "result-type": "validation-failure",
                "sending-mta-ip": "198.51.100.62",
                "receiving-ip": "203.0.113.58",
                "receiving-mx-hostname": "mx-backup.mail.company-y.example",
                "failed-session-count": 3,
                "failure-reason-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"
            }]
        }]
    });
    let written: serde_json::Value =
        serde_json::from_str(&report.to_json()).expect("to_json writes JSON");
    assert_eq!(written, expected);

    // And the JSON reads back into the same report.
    let back: secmx_policy::tlsrpt::Report =
        serde_json::from_str(&report.to_json()).expect("reads back");
    assert_eq!(back, report);
}

/// RFC 8460 §4.3: every result type has its registered name, and unknown
/// names survive a round trip.
#[test]
fn rfc8460_4_3_result_types() {
    let names = [
        (ResultType::StarttlsNotSupported, "starttls-not-supported"),
        (
            ResultType::CertificateHostMismatch,
            "certificate-host-mismatch",
        ),
        (ResultType::CertificateExpired, "certificate-expired"),
        (ResultType::CertificateNotTrusted, "certificate-not-trusted"),
        (ResultType::ValidationFailure, "validation-failure"),
        (ResultType::TlsaInvalid, "tlsa-invalid"),
        (ResultType::DnssecInvalid, "dnssec-invalid"),
        (ResultType::DaneRequired, "dane-required"),
        (ResultType::StsPolicyFetchError, "sts-policy-fetch-error"),
        (ResultType::StsPolicyInvalid, "sts-policy-invalid"),
        (ResultType::StsWebpkiInvalid, "sts-webpki-invalid"),
        (ResultType::Other("x-new-thing".into()), "x-new-thing"),
    ];
    for (ty, name) in names {
        assert_eq!(ty.as_str(), name);
        assert_eq!(ty.to_string(), name);
        assert_eq!(serde_json::to_value(&ty).expect("serializes"), json!(name));
        assert_eq!(ResultType::from_name(name), ty);
        assert_eq!(
            serde_json::from_value::<ResultType>(json!(name)).expect("reads"),
            ty
        );
    }
    for (ty, name) in [
        (PolicyType::Sts, "sts"),
        (PolicyType::Tlsa, "tlsa"),
        (PolicyType::NoPolicyFound, "no-policy-found"),
        (PolicyType::Other("x".into()), "x"),
    ] {
        assert_eq!(serde_json::to_value(&ty).expect("serializes"), json!(name));
        assert_eq!(PolicyType::from_name(name), ty);
    }
}

/// RFC 8460 §4.4: a `no-policy-found` policy has no policy-string or
/// mx-host; a policy without failures has an empty failure-details list.
#[test]
fn rfc8460_4_4_no_policy_found_shape() {
    let mut aggregator = TlsRptAggregator::new();
    let none = PolicyRef::no_policy_found("example.org");
    aggregator.record_many(&none, &SessionResult::Success, 7);
    let tlsa = PolicyRef {
        policy_type: PolicyType::Tlsa,
        policy_string: vec!["3 1 1 0123456789abcdef".into()],
        policy_domain: "example.org".into(),
        mx_host: vec!["mx.example.org".into()],
    };
    aggregator.record(
        &tlsa,
        &SessionResult::Failure(Failure::new(ResultType::TlsaInvalid)),
    );
    let report = aggregator
        .report(
            "EXAMPLE.org",
            "Org",
            "mailto:tlsrpt@example.net",
            "r1",
            DateRange::from_unix(0, 86_399),
        )
        .expect("recorded");
    let value = serde_json::to_value(&report).expect("serializes");
    assert_eq!(
        value["policies"],
        json!([{
            "policy": { "policy-type": "no-policy-found", "policy-domain": "example.org" },
            "summary": { "total-successful-session-count": 7, "total-failure-session-count": 0 },
            "failure-details": []
        }, {
            "policy": {
                "policy-type": "tlsa",
                "policy-string": ["3 1 1 0123456789abcdef"],
                "policy-domain": "example.org",
                "mx-host": ["mx.example.org"]
            },
            "summary": { "total-successful-session-count": 0, "total-failure-session-count": 1 },
            "failure-details": [{ "result-type": "tlsa-invalid", "failed-session-count": 1 }]
        }])
    );
    assert_eq!(
        value["date-range"]["end-datetime"],
        json!("1970-01-01T23:59:59Z")
    );
}

/// One report per policy domain; domains listed once each; removing one
/// keeps the others.
#[test]
fn reports_per_policy_domain() {
    let mut aggregator = TlsRptAggregator::new();
    assert!(aggregator.is_empty());
    let a = PolicyRef::no_policy_found("a.example");
    let a_upper = PolicyRef::no_policy_found("A.EXAMPLE");
    let b = PolicyRef::no_policy_found("b.example");
    aggregator.record(&a, &SessionResult::Success);
    aggregator.record(&b, &SessionResult::Success);
    aggregator.record(&a_upper, &SessionResult::Success);
    aggregator.record_many(&b, &SessionResult::Success, 0);
    assert_eq!(aggregator.policy_domains(), ["a.example", "b.example"]);
    let range = DateRange::from_unix(0, 1);
    let report = aggregator
        .report("a.example", "o", "c", "id", range.clone())
        .expect("some");
    // Policies that differ only in the case of the domain are kept apart
    // but reported together.
    assert_eq!(report.policies.len(), 2);
    assert!(
        aggregator
            .report("c.example", "o", "c", "id", range.clone())
            .is_none()
    );
    aggregator.remove_domain("A.example");
    assert_eq!(aggregator.policy_domains(), ["b.example"]);
    aggregator.clear();
    assert!(aggregator.is_empty());
}

/// Distinct details past the cap still count in the total.
#[test]
fn failure_details_are_capped() {
    let mut aggregator = TlsRptAggregator::new();
    let policy = PolicyRef::no_policy_found("example.com");
    let extra = 5;
    for n in 0..MAX_FAILURE_DETAILS + extra {
        let failure = Failure {
            receiving_mx_hostname: Some(format!("mx{n}.example.com")),
            ..Failure::new(ResultType::StarttlsNotSupported)
        };
        aggregator.record(&policy, &SessionResult::Failure(failure));
    }
    let report = aggregator
        .report("example.com", "o", "c", "id", DateRange::from_unix(0, 1))
        .expect("some");
    let entry = &report.policies[0];
    assert_eq!(entry.failure_details.len(), MAX_FAILURE_DETAILS);
    assert_eq!(
        entry.summary.total_failure_session_count,
        (MAX_FAILURE_DETAILS + extra) as u64
    );
    // A known detail still counts after the cap.
    let first = Failure {
        receiving_mx_hostname: Some("mx0.example.com".into()),
        ..Failure::new(ResultType::StarttlsNotSupported)
    };
    aggregator.record(&policy, &SessionResult::Failure(first));
    let report = aggregator
        .report("example.com", "o", "c", "id", DateRange::from_unix(0, 1))
        .expect("some");
    assert_eq!(
        report.policies[0].failure_details[0].failed_session_count,
        2
    );
}

/// Counts saturate instead of wrapping.
#[test]
fn counts_saturate() {
    let mut aggregator = TlsRptAggregator::new();
    let policy = PolicyRef::no_policy_found("example.com");
    aggregator.record_many(&policy, &SessionResult::Success, u64::MAX);
    aggregator.record(&policy, &SessionResult::Success);
    let report = aggregator
        .report("example.com", "o", "c", "id", DateRange::from_unix(0, 1))
        .expect("some");
    assert_eq!(
        report.policies[0].summary.total_successful_session_count,
        u64::MAX
    );
}

/// The aggregator is serde data: it survives a round trip mid-period.
#[test]
fn aggregator_serde_round_trip() {
    let mut aggregator = TlsRptAggregator::new();
    let policy = PolicyRef::no_policy_found("example.com");
    aggregator.record(&policy, &SessionResult::Success);
    aggregator.record(
        &policy,
        &SessionResult::Failure(Failure {
            receiving_ip: ip("2001:db8::25"),
            ..Failure::new(ResultType::Other("x-custom".into()))
        }),
    );
    let json = serde_json::to_string(&aggregator).expect("serializes");
    let mut back: TlsRptAggregator = serde_json::from_str(&json).expect("reads back");
    assert_eq!(back, aggregator);
    back.record(&policy, &SessionResult::Success);
    aggregator.record(&policy, &SessionResult::Success);
    assert_eq!(back, aggregator);
}

/// RFC 3339 §5.6 date-times in UTC, across leap days and centuries.
#[test]
fn rfc3339_5_6_dates() {
    let cases = [
        (0, "1970-01-01T00:00:00Z"),
        (68_256_000, "1972-03-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (1_459_468_800, "2016-04-01T00:00:00Z"),
        (1_459_555_199, "2016-04-01T23:59:59Z"),
        (1_709_164_800, "2024-02-29T00:00:00Z"),
        (4_107_542_399, "2100-02-28T23:59:59Z"),
        (4_107_542_400, "2100-03-01T00:00:00Z"),
        (253_402_300_799, "9999-12-31T23:59:59Z"),
        (u64::MAX, "9999-12-31T23:59:59Z"),
    ];
    for (unix, text) in cases {
        assert_eq!(rfc3339_utc(unix), text, "{unix}");
    }
}

/// A slow, obviously right civil date: walk years, then months.
fn naive_date(unix: u64) -> String {
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let mut days = unix / 86_400;
    let mut year = 1970;
    loop {
        let len = if leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut month = 1;
    for len in lengths {
        if days < len {
            break;
        }
        days -= len;
        month += 1;
    }
    let secs = unix % 86_400;
    format!(
        "{year:04}-{month:02}-{:02}T{:02}:{:02}:{:02}Z",
        days + 1,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

proptest! {
    /// The era arithmetic agrees with walking the calendar.
    #[test]
    fn rfc3339_matches_naive_calendar(unix in 0u64..=253_402_300_799) {
        prop_assert_eq!(rfc3339_utc(unix), naive_date(unix));
    }

    /// Totals are the sums of what was recorded, and each failure detail
    /// counts its own sessions.
    #[test]
    fn totals_add_up(events in prop::collection::vec((0u8..4, 1u64..50), 0..40)) {
        let policy = PolicyRef::no_policy_found("example.com");
        let mut aggregator = TlsRptAggregator::new();
        let (mut ok, mut failed) = (0u64, 0u64);
        for (kind, count) in &events {
            let result = match kind {
                0 => SessionResult::Success,
                1 => SessionResult::Failure(Failure::new(ResultType::CertificateExpired)),
                2 => SessionResult::Failure(Failure::new(ResultType::DaneRequired)),
                _ => SessionResult::Failure(Failure {
                    receiving_ip: ip("192.0.2.1"),
                    ..Failure::new(ResultType::DaneRequired)
                }),
            };
            if *kind == 0 { ok += count } else { failed += count }
            aggregator.record_many(&policy, &result, *count);
        }
        match aggregator.report("example.com", "o", "c", "id", DateRange::from_unix(0, 1)) {
            None => prop_assert!(events.is_empty()),
            Some(report) => {
                let entry = &report.policies[0];
                prop_assert_eq!(entry.summary.total_successful_session_count, ok);
                prop_assert_eq!(entry.summary.total_failure_session_count, failed);
                let sum: u64 = entry.failure_details.iter().map(|d| d.failed_session_count).sum();
                prop_assert_eq!(sum, failed);
                prop_assert!(entry.failure_details.len() <= 3);
            }
        }
    }
}
