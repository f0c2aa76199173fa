/*
 * core/session_int.h - the inside of an inbound session, shared by
 * core/session.c (the SMTP conversation and the transaction),
 * core/session_tls.c (TLS between the socket and the protocol machine),
 * core/session_proxy.c (the PROXY header before the greeting),
 * core/session_geoip.c (the client's country and AS number),
 * core/session_auth.c (SMTP AUTH), core/session_filter.c and
 * core/session_dnsbl.c (builtin filters and their DNS answers),
 * core/session_proc.c and core/session_dataline.c (filter processes), and
 * the milters' files (core/session_milter.c, through
 * core/session_milter_int.h, with core/session_milter_send.c and
 * core/session_milter_edit.c). Nothing outside those files includes it.
 */
#ifndef CORE_SESSION_INT_H
#define CORE_SESSION_INT_H

#include <stdint.h>
#include <sys/socket.h>

#include "core/auth.h"
#include "core/geoip.h"
#include "core/filter_proc.h"
#include "core/list.h"
#include "core/shard.h"
#include "proto/hops.h"
#include "proto/masquerade.h"
#include "proto/sasl.h"
#include "proto/smtp_server.h"
#include "core/rcpt_expand.h"
#include "queue/queue.h"
#include "rules/filter.h"

struct tls_conn;
struct session_proxy;
struct session_dl;
struct session_milter;

#define SESSION_PLAIN_BYTES 16384   /* one TLS record of plaintext */
/* smtp limit max-sessions-per-source exceeded (Postfix's words) */
#define SESSION_REPLY_SOURCE_LIMIT \
	"421 4.7.0 Too many connections from your address, try again later\r\n"


struct session {
	struct list_head node;
	struct shard *shard;
	const struct rules_config *config;   /* held: the config it started under,
	                                      * kept across reloads until it ends */
	uint64_t id;
	int fd;
	unsigned listener;
	struct core_op recv_op;
	struct core_op send_op;
	unsigned inflight;          /* operations on the ring, plus a pending commit */
	int receiving, sending, closing, dead, close_after_send;
	int holding;                /* a provided buffer is being consumed */
	int timed_out;              /* 421 queued for idleness */
	unsigned short held_bid;
	uint64_t last_active_ms;
	struct sockaddr_storage peer;
	char peer_text[64];
	int local;
	char helo[PROTO_HOSTNAME_BYTES_MAX];
	const char *reason;         /* for the disconnect log line */
	struct proto_server proto;

	/* the transaction */
	int in_txn;                 /* DATA accepted: the writer is open */
	struct queue_writer writer;
	struct proto_hops hops;     /* Received: fields of the message so far */
	struct proto_masq *masq;    /* senders ... masquerade: the From: rewrite of
	                             * this message, NULL when none */
	int source_counted;         /* counted in daemon->sources until freed */
	char sender[QUEUE_ADDR_BYTES_MAX];
	uint8_t mail_body;          /* MAIL's BODY=, SMTPUTF8, RET=, ENVID= */
	uint8_t mail_smtputf8;
	uint8_t mail_dsn_ret;
	char mail_dsn_envid[QUEUE_ENVID_BYTES_MAX];
	struct rcpt_list rcpts;     /* the transaction's deliveries, after expansion */
	int committing;             /* waiting for the syncer */
	struct queue_envelope *envs;
	unsigned nenvs;
	uint64_t body_size;
	uint64_t body_end_us;        /* metrics_now_us() at the end of the data */
	struct queue_sync_req sync;
	struct shard_msg sync_msg;
	int sync_err;

	/* TLS (core/session_tls.c) */
	struct tls_conn *tls;
	int tls_handshaking;
	int tls_starttls;           /* the handshake follows a STARTTLS */
	int starttls_pending;       /* 220 queued: start TLS once it is sent */
	char tls_desc[128];         /* "TLSv1.3:TLS_AES_256_GCM_SHA384:256" */
	int tls_cert_verified;      /* the client's certificate verified: YES in
	                             * Received: */
	char *plain;                /* decrypted input being fed, SESSION_PLAIN_BYTES */

	/* the staged decision table (core/session.c): the candidate set of the
	 * session's facts, then the one narrowed by this transaction's sender,
	 * each rules_candidates_words() long, allocated at the first RCPT */
	uint64_t *rules_sets;
	int rules_session_ok;       /* 0 after HELO/EHLO or STARTTLS changed the facts */
	int rules_mail_ok;          /* 0 after a new MAIL */

	/* proxy-v2 listeners (core/session_proxy.c) */
	struct session_proxy *proxy; /* the PROXY header is awaited; NULL after */

	/* SMTP AUTH (core/session_auth.c) */
	struct proto_sasl sasl;     /* the exchange in progress */
	struct auth_req auth;       /* with the auth threads while auth_checking */
	int auth_checking;
	struct core_op auth_delay_op;  /* the pause before a 535 */
	struct __kernel_timespec auth_delay_ts;
	int auth_delaying;
	int auth_blocked;           /* that failure reached the limit: 421 */
	char auth_user[PROTO_SASL_USER_BYTES_MAX + 1]; /* "" until 235 */

	/* GeoIP (core/session_geoip.c): looked up once, at connect */
	struct geoip_answer geo;    /* *_known 0: no database (rules tempfail) */
	/* builtin filters (core/session_filter.c) */
	int junk_session;           /* a junk action before MAIL: every message */
	int junk_txn;               /* one in this transaction: this message */
	int filter_waiting;         /* the greeting waits for the PTR lookup */
	enum rules_rdns rdns_state; /* the client's PTR name, when looked up */
	char rdns[PROTO_HOSTNAME_BYTES_MAX];
	enum rules_fcrdns fcrdns;
	uint8_t dnsbl[RULES_FILTER_CHAIN_MAX]; /* enum rules_dnsbl per chain position */
	unsigned lookups;           /* connect lookups (PTR, DNSBL) not answered */

	/* filter processes (core/session_proc.c) */
	struct filter_req proc_req;  /* the request out, with a process */
	struct proto_event proc_ev;  /* the event it was asked for, run again */
	int proc_waiting;
	int proc_done;               /* the answer for proc_phase came */
	enum rules_filter_phase proc_phase;
	unsigned proc_next;          /* the listener's next process to ask */
	int proc_rewritten;          /* proc_param replaces the parameter */
	char proc_param[RULES_FILTER_TEXT_BYTES_MAX];
	char proc_name[RULES_NAME_BYTES_MAX];
	struct session_dl *dl;       /* data-line streams of this message
	                              * (core/session_dataline.c), or NULL */
	uint32_t tx_id;              /* the transaction's id in reports */
	uint32_t tx_count;

	/* milters (core/session_milter.c): NULL on a listener without */
	struct session_milter *milter;
	int milter_buffering;        /* the message goes to memory, not the queue */
};


/* session.c */
void session_pump(struct session *s);
void session_txn_reset(struct session *s);
void session_redispatch(struct session *s);
void session_close(struct session *s, const char *reason);
void session_recv_arm(struct session *s);
void session_flush(struct session *s);
void session_after_send(struct session *s);
void session_buffer_return(struct session *s);
int session_peer_is_local(const struct sockaddr_storage *peer);
int session_count_source(struct shard *sh, const struct sockaddr_storage *peer,
                         const char *peer_text);
void session_say_refusal(int fd, const char *reply);
/* The message's octets into the queue (through the masquerade rewrite):
 * 0 or -1. */
int session_body_append(struct session *s, const char *data, size_t len);

/* session_tls.c */
int session_tls_start(struct session *s, int starttls);
int session_tls_available(const struct session *s);
void session_tls_input(struct session *s, const char *cipher, size_t len);
int session_tls_drained(struct session *s);
void session_tls_flush(struct session *s);
void session_tls_sent(struct session *s, int res);
void session_tls_free(struct session *s);

/* session_auth.c */
void session_auth_begin(struct session *s, const struct proto_event *ev);
void session_auth_data(struct session *s, const struct proto_event *ev);
int session_auth_mail_refused(struct session *s, const char *sender);
const char *session_auth_mechs(const struct rules_config *c, unsigned listener);
/* A filter process answered the auth phase: the next one, or 235. */
void session_auth_resume(struct session *s);

/* session_geoip.c: look the client up (once it is known: at accept, or
 * after the PROXY header) and count it; its " country=GB asn=64496" for
 * the connect log line and "country=GB" for Received: ("" without a
 * database); its facts for the rules query. */
void session_geoip_lookup(struct session *s);
const char *session_geoip_log(const struct session *s, char *buf, size_t cap);
const char *session_geoip_received(const struct session *s, char *buf, size_t cap);
void session_geoip_query(const struct session *s, const char **country, const char **asn);
/* session_filter.c */
/* Run the listener's chain for phase (param: the command's parameter, or
 * NULL): 0 to go on (a junk noted, *param replaced by a rewrite), 1 when
 * the command was answered (reject, 451, disconnect: the machine closes). */
int session_filter(struct session *s, enum rules_filter_phase phase, const char **param);
/* HELO/EHLO: the name the session goes by now, or NULL when refused
 * (answered). */
const char *session_filter_helo(struct session *s, const struct proto_event *ev);
/* MAIL or RCPT: the address (a rewrite's without <>) into out; 1 when
 * answered. */
int session_filter_addr(struct session *s, enum rules_filter_phase phase, const char *addr,
                        char *out, size_t cap);
/* The client's PTR name first when a filter needs it (the session
 * waits: session_pump() does nothing meanwhile), then the connect phase,
 * then the 220 banner or the refusal. */
void session_greet(struct session *s);

/* session_filter.c: the greeting again after a filter process answered
 * the connect phase. */
void session_greet_resume(struct session *s);
/* session_filter.c: a connect lookup answered (s->lookups counts them,
 * each in s->inflight); the last greets. */
void session_lookup_done(struct session *s);
/* session_dnsbl.c: the DNSBL answers of the listener's dnsbl filters into
 * s->dnsbl, from the shard's cache or by queries (each counted in
 * s->lookups and s->inflight, answered through session_lookup_done()). */
void session_dnsbl_start(struct session *s);
/* session_proc.c */
/* Ask the listener's filter processes about phase: 0 to go on (*param
 * replaced by a rewrite), 1 when answered (refused, or 451: a process is
 * down), 2 when waiting (the question stays unanswered; the answer runs
 * the event again). */
int session_proc(struct session *s, enum rules_filter_phase phase, const char **param);
/* Report ev with its parameters to the processes that registered it. */
void session_proc_report(struct session *s, enum proto_filter_event ev, const char *const *params,
                         unsigned n);
/* The protocol machine's observer (params.observe) on a listener with
 * processes: each command line as protocol-client, each reply line as
 * protocol-server. */
void session_proc_observe(void *arg, int reply, const char *line, size_t len);

/* session_dataline.c: the data-line phase of filter processes */
/* At DATA, once the writer is open: the streams to the listener's
 * processes that registered data-line (none: nothing is allocated); 0,
 * or 1 when one is not running (answered 451). */
int session_dataline_begin(struct session *s);
/* Octets of the message (our header lines, the client's body) to the
 * first process, with s->dl set; a failure is kept for the end. The
 * session may be paused (s->filter_waiting) until the process read. */
void session_dataline_write(struct session *s, const char *data, size_t len);
/* BODY_END: 0 to go on (no streams, or the message came back whole), 1
 * when answered (a failure, the transaction reset) or waiting for the
 * last "." (the event is run again then). */
int session_dataline_end(struct session *s);
/* Drop the streams (transaction reset, session end). */
void session_dataline_free(struct session *s);

/* session.c, for session_milter.c: the message in the queue's writer is
 * complete, commit it as end of data would have (and pump); a recipient
 * added by a milter, decided and expanded as RCPT TO would be (0, or -1
 * refused). */
void session_body_end_resume(struct session *s);
int session_rcpt_add(struct session *s, const char *addr);

/* session_milter.c: the listener's milters. begin at accept; mail, rcpt
 * (before: s->rcpts.n before this RCPT's deliveries were added) and data
 * just before their positive answer, and eom at end of data: 1 when the
 * milters have the question (the answer, positive or not, comes later
 * from them), 0 without milters; buffer takes the message's octets while
 * s->milter_buffering (0, or -1 over the size limit or out of memory);
 * envelopes marks a quarantined message's envelopes paused before the
 * commit, held says not to deliver them; buffer_begin at DATA before our
 * Received: header; abort at RSET and the end of a
 * transaction; tick once a second (timeouts); close when the session
 * closes, free when it is freed. */
void session_milter_begin(struct session *s);
/* Before the banner: 1 when the milters' connect step was started (the
 * session waits; session_greet_resume() follows), 0 to greet now. */
int session_milter_connect(struct session *s);
int session_milter_mail(struct session *s);
int session_milter_rcpt(struct session *s, const char *addr, unsigned before);
void session_milter_buffer_begin(struct session *s);
int session_milter_data(struct session *s);
int session_milter_eom(struct session *s);
int session_milter_buffer(struct session *s, const char *data, size_t len);
void session_milter_envelopes(struct session *s);
int session_milter_held(const struct session *s);
void session_milter_abort(struct session *s);
void session_milter_tick(struct session *s);
void session_milter_close(struct session *s);
void session_milter_free(struct session *s);

/* session_proxy.c */
void session_proxy_begin(struct session *s);
void session_proxy_input(struct session *s, const char *data, size_t len);
void session_proxy_tick(struct session *s);
void session_proxy_free(struct session *s);

#endif
