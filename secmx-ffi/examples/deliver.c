/*
 * deliver.c: a SecMX client session delivers one message to a SecMX server
 * session (a secure only receiver) in memory, through STARTTLS, and prints
 * the events of both sides.
 *
 * Usage: deliver CERT.pem KEY.pem
 *   CERT.pem  the server's certificate for mx.example.net, which the client
 *             also trusts as its CA (a self-signed test certificate)
 *   KEY.pem   its private key
 *
 * The two sessions are wired back to back: what one side's take_output
 * gives is fed to the other. Time is a simulated millisecond counter.
 * Exit status 0 when the server stored the message unchanged and both
 * sessions ended with QUIT.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secmx.h"

#define CHECK(call)                                                         \
    do {                                                                    \
        secmx_result check_result_ = (call);                                \
        if (check_result_ != SECMX_RESULT_OK) {                             \
            fail(#call, check_result_);                                     \
        }                                                                   \
    } while (0)

static void fail(const char *what, secmx_result result) {
    char text[128];
    size_t len = 0;
    if (secmx_result_text(result, text, sizeof text, &len) != SECMX_RESULT_OK) {
        strcpy(text, "?");
    }
    fprintf(stderr, "deliver: %s: %s (%u)\n", what, text, (unsigned)result);
    exit(1);
}

/* A growing byte buffer: the "network" between the two sessions. */
struct bytes {
    uint8_t *data;
    size_t len;
    size_t cap;
};

static void bytes_append(struct bytes *b, const uint8_t *data, size_t len) {
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) {
            cap *= 2;
        }
        uint8_t *grown = realloc(b->data, cap);
        if (grown == NULL) {
            fprintf(stderr, "deliver: out of memory\n");
            exit(1);
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void bytes_consume(struct bytes *b, size_t n) {
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static const char MESSAGE[] =
    "From: <a@client.example>\r\n"
    "To: <b@example.net>\r\n"
    "Subject: hello over STARTTLS\r\n"
    "\r\n"
    "This message never crossed the network in clear.\r\n"
    ".A line that starts with a dot.\r\n";

struct sender {
    secmx_client *session;
    bool submitted;
    bool accepted;
};

struct receiver {
    secmx_server *session;
    struct bytes body;
    bool stored;
};

static const char *yes_no(bool b) { return b ? "yes" : "no"; }

static const char *client_close_name(secmx_client_close_reason reason) {
    switch (reason) {
    case SECMX_CLIENT_CLOSE_REASON_QUIT: return "quit";
    case SECMX_CLIENT_CLOSE_REASON_SERVICE_CLOSING: return "service closing";
    case SECMX_CLIENT_CLOSE_REASON_REJECTED: return "rejected";
    case SECMX_CLIENT_CLOSE_REASON_ERROR: return "error";
    default: return "other";
    }
}

static const char *server_close_name(secmx_server_close_reason reason) {
    switch (reason) {
    case SECMX_SERVER_CLOSE_REASON_QUIT: return "quit";
    case SECMX_SERVER_CLOSE_REASON_PEER_CLOSED: return "peer closed";
    case SECMX_SERVER_CLOSE_REASON_TIMEOUT: return "timeout";
    case SECMX_SERVER_CLOSE_REASON_TOO_MANY_ERRORS: return "too many errors";
    case SECMX_SERVER_CLOSE_REASON_SERVICE_CLOSING: return "service closing";
    case SECMX_SERVER_CLOSE_REASON_FAILED: return "failed";
    default: return "other";
    }
}

/* Handles every event the client has; true if there was one. */
static bool client_events(struct sender *s, uint64_t now_ms) {
    bool any = false;
    secmx_client_event ev;
    while (secmx_client_poll_event(s->session, &ev) == SECMX_RESULT_OK) {
        any = true;
        switch (ev.kind) {
        case SECMX_CLIENT_EVENT_KIND_GREETING:
            printf("client: greeting %u %s\n", ev.reply_code, ev.reply_text);
            break;
        case SECMX_CLIENT_EVENT_KIND_CAPABILITIES:
            printf("client: capabilities tls=%s starttls=%s requiretls=%s size=%llu\n",
                   yes_no(ev.tls), yes_no(ev.capabilities & SECMX_CAP_STARTTLS),
                   yes_no(ev.capabilities & SECMX_CAP_REQUIRETLS),
                   (unsigned long long)ev.size_limit);
            break;
        case SECMX_CLIENT_EVENT_KIND_TLS_ESTABLISHED:
            printf("client: tls established version 0x%04x %s\n", ev.tls_version,
                   ev.tls_cipher_suite_name);
            break;
        case SECMX_CLIENT_EVENT_KIND_READY:
            printf("client: ready\n");
            if (!s->submitted) {
                const char *to[] = {"b@example.net"};
                CHECK(secmx_client_send_message(s->session, now_ms, "a@client.example", to, 1,
                                                (const uint8_t *)MESSAGE, strlen(MESSAGE),
                                                SECMX_MAIL_REQUIRETLS));
                s->submitted = true;
            } else {
                CHECK(secmx_client_quit(s->session, now_ms));
            }
            break;
        case SECMX_CLIENT_EVENT_KIND_RCPT_ACCEPTED:
            printf("client: recipient %zu accepted %u %s %s\n", ev.recipient_index,
                   ev.reply_code, ev.reply_enhanced, ev.reply_text);
            break;
        case SECMX_CLIENT_EVENT_KIND_MESSAGE_ACCEPTED:
            printf("client: message accepted %u %s %s\n", ev.reply_code, ev.reply_enhanced,
                   ev.reply_text);
            s->accepted = true;
            break;
        case SECMX_CLIENT_EVENT_KIND_CLOSED:
            printf("client: closed (%s)%s%s\n", client_close_name(ev.close_reason),
                   ev.error_text[0] ? ": " : "", ev.error_text);
            break;
        default:
            printf("client: event %u %u %s\n", (unsigned)ev.kind, ev.reply_code, ev.reply_text);
            break;
        }
        secmx_client_event_free(&ev);
    }
    return any;
}

/* Handles every event the server has; true if there was one. */
static bool server_events(struct receiver *r, uint64_t now_ms) {
    bool any = false;
    secmx_server_event ev;
    while (secmx_server_poll_event(r->session, &ev) == SECMX_RESULT_OK) {
        any = true;
        switch (ev.kind) {
        case SECMX_SERVER_EVENT_KIND_HELO:
            printf("server: %s %s\n", ev.extended ? "ehlo" : "helo", ev.helo);
            break;
        case SECMX_SERVER_EVENT_KIND_TLS_ESTABLISHED:
            printf("server: tls established version 0x%04x sni=%s\n", ev.tls_version, ev.sni);
            break;
        case SECMX_SERVER_EVENT_KIND_MAIL_FROM:
            printf("server: mail from %s requiretls=%s\n", ev.from,
                   yes_no(ev.mail_flags & SECMX_MAIL_REQUIRETLS));
            CHECK(secmx_server_accept(r->session, now_ms));
            break;
        case SECMX_SERVER_EVENT_KIND_RCPT_TO:
            printf("server: rcpt to %s\n", ev.to);
            CHECK(secmx_server_accept(r->session, now_ms));
            break;
        case SECMX_SERVER_EVENT_KIND_DATA_START:
            printf("server: data start bdat=%s\n", yes_no(ev.bdat));
            break;
        case SECMX_SERVER_EVENT_KIND_BODY_CHUNK:
            printf("server: body chunk of %zu octets\n", ev.data_len);
            bytes_append(&r->body, ev.data, ev.data_len);
            break;
        case SECMX_SERVER_EVENT_KIND_MESSAGE_COMPLETE:
            printf("server: message complete from %s to", ev.from);
            for (size_t i = 0; i < ev.recipient_count; i++) {
                printf(" %s", ev.recipients[i]);
            }
            printf(", %llu octets, tls=%s\n", (unsigned long long)ev.size, yes_no(ev.tls));
            /* "Store" the message, then take responsibility for it. */
            r->stored = ev.tls && r->body.len == strlen(MESSAGE) &&
                        memcmp(r->body.data, MESSAGE, r->body.len) == 0;
            CHECK(secmx_server_accept_with(r->session, now_ms, 250, "2.0.0 Ok: queued as 1"));
            break;
        case SECMX_SERVER_EVENT_KIND_REFUSED:
            printf("server: refused %s with %u %s\n", ev.verb, ev.reply_code, ev.reply_text);
            break;
        case SECMX_SERVER_EVENT_KIND_CLOSED:
            printf("server: closed (%s)%s%s\n", server_close_name(ev.close_reason),
                   ev.error_text[0] ? ": " : "", ev.error_text);
            break;
        default:
            printf("server: event %u\n", (unsigned)ev.kind);
            break;
        }
        secmx_server_event_free(&ev);
    }
    return any;
}

/* Moves a session's output to the wire; true if there was any. */
static bool client_output(secmx_client *c, struct bytes *wire) {
    uint8_t chunk[1024]; /* smaller than a TLS record: output comes in pieces */
    size_t n = 0;
    bool any = false;
    secmx_result r;
    while ((r = secmx_client_take_output(c, chunk, sizeof chunk, &n)) == SECMX_RESULT_OK) {
        bytes_append(wire, chunk, n);
        any = true;
    }
    if (r != SECMX_RESULT_NOTHING) {
        fail("secmx_client_take_output", r);
    }
    return any;
}

static bool server_output(secmx_server *s, struct bytes *wire) {
    uint8_t chunk[1024];
    size_t n = 0;
    bool any = false;
    secmx_result r;
    while ((r = secmx_server_take_output(s, chunk, sizeof chunk, &n)) == SECMX_RESULT_OK) {
        bytes_append(wire, chunk, n);
        any = true;
    }
    if (r != SECMX_RESULT_NOTHING) {
        fail("secmx_server_take_output", r);
    }
    return any;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: deliver CERT.pem KEY.pem\n");
        return 2;
    }
    printf("secmx %s\n", secmx_version());
    uint64_t now_ms = 1000; /* any epoch: a simulated clock */

    /* The configurations: owned here, borrowed by the sessions. */
    secmx_tls_server_config *server_tls = NULL;
    secmx_tls_client_config *client_tls = NULL;
    CHECK(secmx_tls_server_config_new_pem_files(argv[1], argv[2], &server_tls));
    CHECK(secmx_tls_client_config_new_ca_file(argv[1], &client_tls));

    struct receiver receiver = {0};
    struct sender sender = {0};
    CHECK(secmx_server_new("mx.example.net", SECMX_SERVER_MODE_SOR, server_tls, now_ms,
                           &receiver.session));
    CHECK(secmx_client_new(client_tls, "client.example", SECMX_TLS_REQUIREMENT_REQUIRED,
                           "mx.example.net", now_ms, &sender.session));
    /* The sessions keep their own references to the configurations. */
    secmx_tls_server_config_free(server_tls);
    secmx_tls_client_config_free(client_tls);

    struct bytes to_server = {0}, to_client = {0};
    for (int round = 0; round < 200; round++) {
        /* The drain rule: events and output until neither gives more. */
        while (client_events(&sender, now_ms) | client_output(sender.session, &to_server)) {
        }
        while (server_events(&receiver, now_ms) | server_output(receiver.session, &to_client)) {
        }
        if (secmx_client_is_closed(sender.session) && secmx_server_is_closed(receiver.session) &&
            to_server.len == 0 && to_client.len == 0) {
            break;
        }
        /* The network. The server may take less than offered: keep the rest. */
        now_ms += 10;
        if (to_server.len > 0) {
            size_t consumed = 0;
            CHECK(secmx_server_feed(receiver.session, now_ms, to_server.data, to_server.len,
                                    &consumed));
            bytes_consume(&to_server, consumed);
        }
        if (to_client.len > 0) {
            CHECK(secmx_client_feed(sender.session, now_ms, to_client.data, to_client.len));
            bytes_consume(&to_client, to_client.len);
        }
    }

    bool ok = receiver.stored && sender.accepted && secmx_client_is_closed(sender.session) &&
              secmx_server_is_closed(receiver.session) &&
              secmx_client_error(sender.session) == SECMX_RESULT_OK &&
              secmx_server_error(receiver.session) == SECMX_RESULT_OK;
    printf("delivered: %s\n", ok ? "the server stored the message unchanged, over TLS" : "NO");

    secmx_client_free(sender.session);
    secmx_server_free(receiver.session);
    free(to_server.data);
    free(to_client.data);
    free(receiver.body.data);
    return ok ? 0 : 1;
}
