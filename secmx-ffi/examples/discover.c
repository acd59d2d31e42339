/*
 * discover.c: runs a SecMX discovery of example.test against canned DNS
 * responses (discover_responses.h, written by hickory-proto from the zone
 * in secmx-ffi/tests/canned_dns.rs) and prints what it found: the secure
 * only receivers by the four conventions, the ordinary MX hosts and the
 * addresses; then the delivery plan of a secure only (SOS) and of a best
 * effort (BES) message to that domain: the attempts in order, each with
 * its TLS requirement and certificate check.
 *
 * The "resolver" is a function that finds the canned response whose
 * question is the query's and copies the query's id into it; a real MTA
 * sends the query to its validating resolver over UDP instead.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover_responses.h"
#include "secmx.h"

#define CHECK(call)                                                         \
    do {                                                                    \
        secmx_result check_result_ = (call);                                \
        if (check_result_ != SECMX_RESULT_OK) {                             \
            fail(#call, check_result_);                                     \
        }                                                                   \
    } while (0)

static void result_text(secmx_result result, char *text, size_t len) {
    size_t out = 0;
    if (secmx_result_text(result, text, len, &out) != SECMX_RESULT_OK) {
        snprintf(text, len, "?");
    }
}

static void fail(const char *what, secmx_result result) {
    char text[128];
    result_text(result, text, sizeof text);
    fprintf(stderr, "discover: %s: %s (%u)\n", what, text, (unsigned)result);
    exit(1);
}

/* The length of the question section of a query (RFC 1035 §4.1.2): the
 * name (uncompressed in a query) and four octets of type and class. */
static size_t question_len(const uint8_t *msg, size_t len) {
    size_t at = 12;
    while (at < len && msg[at] != 0) {
        at += 1 + msg[at];
    }
    if (at + 5 > len) {
        return 0;
    }
    return at + 5 - 12;
}

/* The stand-in resolver: the canned answer to `query`, id copied in. */
static size_t resolve(const uint8_t *query, size_t query_len, uint8_t *answer,
                      size_t answer_cap) {
    size_t qlen = question_len(query, query_len);
    if (qlen == 0) {
        return 0;
    }
    for (size_t i = 0; i < CANNED_COUNT; i++) {
        const struct canned_response *c = &CANNED[i];
        if (c->len >= 12 + qlen && c->len <= answer_cap &&
            memcmp(c->bytes + 12, query + 12, qlen) == 0) {
            memcpy(answer, c->bytes, c->len);
            answer[0] = query[0];
            answer[1] = query[1];
            return c->len;
        }
    }
    return 0;
}

static const char *yes_no(bool b) { return b ? "yes" : "no"; }

static const char *outcome_name(secmx_dns_outcome o) {
    switch (o) {
    case SECMX_DNS_OUTCOME_ANSWER: return "answer";
    case SECMX_DNS_OUTCOME_NODATA: return "nodata";
    case SECMX_DNS_OUTCOME_NXDOMAIN: return "nxdomain";
    case SECMX_DNS_OUTCOME_INDETERMINATE: return "indeterminate";
    default: return "none";
    }
}

static void print_conventions(uint32_t bits) {
    const char *sep = "";
    if (bits & SECMX_CONVENTION_SECMX_RR) { printf("%ssecmx-rr", sep); sep = ","; }
    if (bits & SECMX_CONVENTION_SRV) { printf("%ssrv", sep); sep = ","; }
    if (bits & SECMX_CONVENTION_MX_51966) { printf("%smx-51966", sep); sep = ","; }
    if (bits & SECMX_CONVENTION_NAMING) { printf("%snaming", sep); }
}

static void print_result(const secmx_discovered *result) {
    printf("domain: %s\n", secmx_discovered_domain(result));

    size_t sors = secmx_discovered_sor_count(result);
    for (size_t i = 0; i < sors; i++) {
        secmx_sor_target sor;
        CHECK(secmx_discovered_sor(result, i, &sor));
        printf("sor %zu: %s port %u conventions=", i + 1, sor.host, sor.port);
        print_conventions(sor.conventions);
        printf(" certificate=%s authenticated=%s\n", yes_no(sor.certificate_flag),
               yes_no(sor.authenticated));
    }

    uint32_t route = 0;
    CHECK(secmx_discovered_mail_route(result, &route));
    printf("mail route: %s\n", route == SECMX_MAIL_ROUTE_HOSTS      ? "hosts"
                               : route == SECMX_MAIL_ROUTE_NULL_MX   ? "null mx"
                               : route == SECMX_MAIL_ROUTE_NXDOMAIN  ? "nxdomain"
                               : route == SECMX_MAIL_ROUTE_NO_ROUTE  ? "no route"
                                                                     : "indeterminate");
    size_t mxs = secmx_discovered_mx_count(result);
    for (size_t i = 0; i < mxs; i++) {
        secmx_mx_host mx;
        CHECK(secmx_discovered_mx(result, i, &mx));
        printf("mx %zu: %s preference %u implicit=%s authenticated=%s\n", i + 1, mx.host,
               mx.preference, yes_no(mx.implicit), yes_no(mx.authenticated));
    }

    size_t hosts = secmx_discovered_host_count(result);
    for (size_t i = 0; i < hosts; i++) {
        secmx_host_addresses host;
        CHECK(secmx_discovered_host(result, i, &host));
        printf("host %s a=%s aaaa=%s authenticated=%s:", host.host, outcome_name(host.a),
               outcome_name(host.aaaa), yes_no(host.authenticated));
        for (size_t j = 0; j < host.address_count; j++) {
            secmx_ip_address address;
            CHECK(secmx_discovered_address(result, i, j, &address));
            printf(" %s", address.text);
        }
        printf("\n");
    }
    printf("indeterminate: %s\n", yes_no(secmx_discovered_is_indeterminate(result)));
}

static const char *requirement_name(secmx_tls_requirement t) {
    switch (t) {
    case SECMX_TLS_REQUIREMENT_REQUIRED: return "required";
    case SECMX_TLS_REQUIREMENT_OPPORTUNISTIC: return "opportunistic";
    default: return "none";
    }
}

static const char *check_name(secmx_cert_check c) {
    switch (c) {
    case SECMX_CERT_CHECK_ENCRYPT: return "encrypt";
    case SECMX_CERT_CHECK_VERIFY: return "verify";
    case SECMX_CERT_CHECK_DANE: return "dane";
    default: return "other";
    }
}

/* The plan for a message of `class`: every attempt in order. Each is
 * reported as a failed connection here, so that the next one comes; a
 * real MTA connects, runs a secmx_client with attempt.tls_requirement and
 * attempt.host, and reports its events with
 * secmx_plan_report_client_event(). */
static void print_plan(const secmx_discovered *result, uint32_t class, const char *name) {
    secmx_plan *plan = NULL;
    CHECK(secmx_plan_new(result, class, 1, 1700000000, 0, &plan));
    printf("plan %s:\n", name);
    secmx_attempt attempt;
    secmx_result r;
    while ((r = secmx_plan_next_attempt(plan, &attempt)) == SECMX_RESULT_OK) {
        printf("  %zu. %s:%u %s tls=%s check=%s addresses:", attempt.id + 1, attempt.host,
               attempt.port, attempt.role == SECMX_ATTEMPT_ROLE_SOR ? "sor" : "mx",
               requirement_name(attempt.tls_requirement), check_name(attempt.cert_check));
        for (size_t i = 0; i < attempt.address_count; i++) {
            secmx_ip_address address;
            CHECK(secmx_plan_attempt_address(plan, attempt.id, i, &address));
            printf(" %s", address.text);
        }
        printf("\n");
        secmx_attempt_outcome outcome;
        memset(&outcome, 0, sizeof outcome);
        outcome.kind = SECMX_OUTCOME_KIND_CONNECT_FAILED;
        secmx_progress progress;
        CHECK(secmx_plan_report(plan, attempt.id, &outcome, &progress));
    }
    if (r != SECMX_RESULT_NOTHING) {
        fail("secmx_plan_next_attempt", r);
    }
    secmx_verdict verdict;
    CHECK(secmx_plan_verdict(plan, 0, &verdict));
    printf("  verdict: %s %s (%s)\n",
           verdict.kind == SECMX_VERDICT_KIND_DELIVERED ? "delivered"
           : verdict.kind == SECMX_VERDICT_KIND_DEFER   ? "defer"
                                                        : "bounce",
           verdict.status, verdict.reason_text);
    secmx_plan_free(plan);
}

int main(void) {
    printf("secmx %s\n", secmx_version());
    uint64_t now_ms = 5000; /* a simulated clock */
    secmx_discovery *discovery = NULL;
    CHECK(secmx_discovery_new("example.test", 0, SECMX_DISCOVERY_TRUSTED_RESOLVER,
                              CANNED_ID_SEED, 0, now_ms, &discovery));

    /* A forged answer (an id no query has) is ignored, never believed. */
    static const uint8_t forged[] = {0xbe, 0xef, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0,
                                     7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e',
                                     's', 't', 0, 0, 15, 0, 1};
    secmx_result r = secmx_discovery_feed(discovery, now_ms, forged, sizeof forged);
    char text[128];
    result_text(r, text, sizeof text);
    printf("forged response: %s\n", text);

    size_t queries = 0;
    uint8_t query[512], answer[4096];
    for (int round = 0; round < 100 && !secmx_discovery_is_finished(discovery); round++) {
        /* The drain rule: take every query, answer each. */
        size_t len = 0;
        uint32_t transport = 0;
        while ((r = secmx_discovery_take_query(discovery, now_ms, query, sizeof query, &len,
                                               &transport)) == SECMX_RESULT_OK) {
            queries++;
            size_t answer_len = resolve(query, len, answer, sizeof answer);
            if (answer_len == 0) {
                fprintf(stderr, "discover: no canned answer for query %zu\n", queries);
                return 1;
            }
            now_ms += 1;
            CHECK(secmx_discovery_feed(discovery, now_ms, answer, answer_len));
        }
        if (r != SECMX_RESULT_NOTHING) {
            fail("secmx_discovery_take_query", r);
        }
        uint64_t deadline = 0;
        if (!secmx_discovery_is_finished(discovery) &&
            secmx_discovery_poll_timeout(discovery, &deadline) == SECMX_RESULT_OK) {
            now_ms = deadline;
            CHECK(secmx_discovery_handle_timeout(discovery, now_ms));
        }
    }
    printf("queries: %zu\n", queries);

    secmx_discovered *result = NULL;
    CHECK(secmx_discovery_take_result(discovery, &result));
    secmx_discovery_free(discovery);
    /* The result is owned apart from the discovery that made it. */
    print_result(result);
    print_plan(result, SECMX_CLASS_SECURE_ONLY, "secure only");
    print_plan(result, SECMX_CLASS_BEST_EFFORT, "best effort");
    secmx_discovered_free(result);
    return 0;
}
