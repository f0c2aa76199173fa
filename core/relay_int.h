/*
 * core/relay_int.h - what core/relay.c and core/relay_tls.c share: the
 * destinations (a smart host, a domain's MX hosts or an LMTP server, with
 * the action's TLS settings and credentials) and their connections. Not
 * for other modules: core/relay.h is the interface.
 */
#ifndef CORE_RELAY_INT_H
#define CORE_RELAY_INT_H

#include <stdint.h>

#include "core/daemon.h"
#include "core/delivery.h"
#include "core/dns.h"
#include "core/list.h"
#include "core/mta_limit.h"
#include "core/route_backoff.h"
#include "core/shard.h"
#include "proto/smtp_client.h"
#include "queue/queue.h"
#include "rules/rules.h"

#define RELAY_PLAIN_BYTES 16384   /* one TLS record's plaintext */

enum relay_lmtp {
	RELAY_SMTP,                /* not LMTP */
	RELAY_LMTP_USER,           /* lmtp: RCPT TO:<local user> */
	RELAY_LMTP_RCPT_TO,        /* lmtp ... rcpt-to: RCPT TO:<address> */
};

/* One address of a destination's route: OpenSMTPD's host and route. */
struct relay_route {
	struct route_backoff backoff;
	uint64_t last_conn_ms;     /* the last connection opened to it */
	unsigned long long conns;  /* connections opened to it */
};

struct relay_dest {
	struct list_head node;
	uint64_t id;               /* for smtpctl show relays */
	int mx;                    /* routed by the domain's MX records */
	enum relay_lmtp lmtp;
	char host[RULES_PATH_BYTES_MAX];   /* smart host, the domain for MX, or
	                                    * an LMTP server's socket path */
	uint16_t port;
	struct dns_addr addrs[DNS_ADDRS_MAX];  /* where to connect, in order */
	unsigned naddrs;
	struct relay_route routes[DNS_ADDRS_MAX];   /* per address, as addrs */
	struct mta_limits lim;     /* mta limit, for this domain or host */
	struct mta_rate rate;      /* max-rate: when the next transaction may start */
	struct mta_window window;  /* slow start: connections it may have now */
	uint64_t last_conn_ms;     /* the last connection opened */
	unsigned long long sent;   /* transactions done */
	char last_error[ROUTE_BACKOFF_WHY_BYTES];
	uint64_t route_expires_ms;
	int resolving;
	char name[RULES_HOST_BYTES_MAX + 8];   /* for logs before a connection */
	struct delivery_item *head, *tail;
	unsigned queued;
	unsigned nconns, nconnecting;
	struct list_head conns;
	int kick;                  /* new work arrived this turn */
	struct shard *owner;
	/* TLS and credentials, from the action (relay.c relay_enqueue()) */
	enum rules_relay_tls tls;
	int tls_verify;
	char tls_ca[RULES_PATH_BYTES_MAX];     /* verifying: the CA file */
	char tls_pki[RULES_HOST_BYTES_MAX];    /* our client certificate's pki */
	char tls_ciphers[RULES_CIPHERS_BYTES_MAX]; /* ciphers, "" the default */
	unsigned tls_protocols;                /* protocols: RULES_TLS_V1_* */
	char label[RULES_NAME_BYTES_MAX];      /* credentials: the label, "" none */
	char auth_user[PROTO_CLIENT_AUTH_PART_BYTES_MAX + 1];
	char auth_pass[PROTO_CLIENT_AUTH_PART_BYTES_MAX + 1];
	uint64_t tls_plain_until_ms;  /* opportunistic TLS failed: plain text until */
	/* session options (core/relay_opts.c): the action whose helo,
	 * helo-src, mail-from, src, backup or srs these connections follow,
	 * looked up in the configuration in force; "" none */
	char action[RULES_NAME_BYTES_MAX];
	unsigned src_next;         /* src: the next of its addresses to bind */
};

struct relay_conn {
	struct list_head node;
	struct relay_dest *dest;
	struct shard *sh;
	uint64_t id;
	int fd;
	struct sockaddr_storage addr;   /* the address connected to */
	socklen_t addr_len;
	char peer_host[DNS_NAME_BYTES_MAX];   /* its name: TLS checks it, SNI */
	unsigned mails;            /* transactions started on this connection */
	uint64_t connected_ms;
	char via[RULES_HOST_BYTES_MAX + 64];   /* "host [addr]:port" for logs */
	struct core_op connect_op, recv_op, send_op;
	unsigned inflight;
	int connected, receiving, sending, closing, in_body;
	uint64_t last_active_ms;
	struct proto_client pc;
	struct delivery_item *items[RELAY_TXN_RCPT_MAX];
	const char *rcpts[RELAY_TXN_RCPT_MAX];     /* into items[i]->env, or lmtp_users:
	                                            * kept until TXN_DONE */
	char (*lmtp_users)[RULES_NAME_BYTES_MAX];  /* LMTP without rcpt-to: the users */
	unsigned notify[RELAY_TXN_RCPT_MAX];       /* the envelopes' DSN NOTIFY= and ORCPT= */
	const char *orcpt[RELAY_TXN_RCPT_MAX];
	struct proto_client_dsn dsn;               /* the message's MAIL parameters, */
	struct proto_client_mail_opts mail_opts;   /* passed on as the peer allows */
	int rcpt_code[RELAY_TXN_RCPT_MAX];         /* a refused RCPT's code, 0 if accepted */
	char rcpt_stat[RELAY_TXN_RCPT_MAX][QUEUE_ERROR_BYTES_MAX / 2];
	char sender[QUEUE_ADDR_BYTES_MAX];
	unsigned nitems;
	char *body;
	size_t body_len, body_off;
	char inbuf[4096];
	/* TLS (core/relay_tls.c) */
	struct tls_conn *tls;      /* NULL in plain text */
	char *plain;               /* RELAY_PLAIN_BYTES: decrypted replies */
	int tls_handshaking, tls_sending;   /* a handshake runs; the send in
	                                     * flight is ciphertext */
	int ready_once;            /* the session reached READY (greeting, TLS,
	                            * AUTH done) */
	char via_tls[RULES_HOST_BYTES_MAX + 192];  /* via and " tls=..." for results */
	char helo[RULES_HOST_BYTES_MAX];   /* our EHLO name on this connection */
};

/* Items for destinations another shard owns, posted at the end of the
 * turn as one chain per shard (a message's recipients stay together). */
struct relay_outbox {
	struct delivery_item *head, **tail;
};

struct relay_pool {
	struct list_head dests;
	struct list_head dead;
	unsigned nconns;
	int kick;                  /* some destination has kick set */
	int outbound;              /* some outbox holds items */
	struct shard *sh;
	struct core_op timer_op;   /* a rate or connection delay waits */
	struct __kernel_timespec timer_ts;
	int timer_armed;
	struct relay_outbox out[DAEMON_SHARDS_MAX];
};

/* core/relay.c */
void relay_pump(struct relay_conn *c);
void relay_conn_close(struct relay_conn *c, const char *why);
void relay_recv_arm(struct relay_conn *c);
void relay_finish_items(struct relay_conn *c, int code, const char *text);
void relay_session_failed(struct relay_conn *c, int code, const char *text);
void relay_dest_fail_queued(struct shard *sh, struct relay_dest *d, enum delivery_status st,
                            const char *stat);
/* c failed before its first transaction (why): when another address of
 * its destination is not in backoff, c's address is put in backoff (if
 * not yet) so the next connection goes there, and 1; else 0 (nothing
 * changed: the caller fails what waits). */
int relay_dest_next_route(struct relay_conn *c, const char *why);

/* core/relay_opts.c: a relay action's session options on the shard.
 *   relay_dest_action()  the action d's connections follow, from the
 *                        configuration in force; NULL none (or gone)
 *   relay_dest_backup()  `backup [mx NAME]`: d's MX addresses cut to those
 *                        preferred over NAME (our hostname by default);
 *                        0, or -1 when we are the most preferred MX
 *   relay_conn_bind()    `src`: bind c's socket to the next source address
 *                        of the destination's family; 0 (also with no src),
 *                        -1 with why (none of that family, bind failed)
 *   relay_conn_helo()    our EHLO name for c, from its source address
 *                        (helo-src), `helo` or the hostname, into c->helo
 *   relay_env_sender()   the MAIL FROM envelope e goes out with on c's
 *                        destination: mail-from's rewrite, then srs for a
 *                        forwarded one; into out (cap octets); 1 when
 *                        srs rewrote it
 *   relay_txn_sender()   c->sender for the transaction e heads (as
 *                        relay_env_sender(); logged when srs rewrote it)
 *   relay_env_same_sender()  1 when e goes out with c->sender, the MAIL
 *                        FROM of the transaction being gathered */
const struct rules_action *relay_dest_action(struct shard *sh, const struct relay_dest *d);
int relay_dest_backup(struct shard *sh, struct relay_dest *d, struct dns_addr *addrs,
                      unsigned *n);
int relay_conn_bind(struct relay_conn *c, const struct sockaddr_storage *to, char *why,
                    size_t cap);
void relay_conn_helo(struct relay_conn *c);
int relay_env_sender(struct relay_conn *c, const struct queue_envelope *e, char *out,
                     size_t cap);
void relay_txn_sender(struct relay_conn *c, const struct queue_envelope *e);
int relay_env_same_sender(struct relay_conn *c, const struct queue_envelope *e);

/* core/relay_tls.c: TLS between a relay connection's socket and its client
 * machine, driven by the same receive and send operations.
 *   relay_tls_start()  after connect (smtps) or PROTO_CEV_STARTTLS: 0, or -1
 *                      when there is no context or memory (nothing changed)
 *   relay_tls_input()  ciphertext received (handshake, or pump for replies)
 *   relay_tls_read()   at NEED_MORE: decrypt one record into the machine;
 *                      1 fed, 0 wants more ciphertext, -1 closed the connection
 *   relay_tls_flush()  encrypt what the machine queued and send it
 *   relay_tls_sent()   a ciphertext send of res bytes completed
 *   relay_tls_free()   at close */
int relay_tls_start(struct relay_conn *c);
/* The handshake failed (why): plain text next time for an opportunistic
 * destination without credentials, else what waits for it fails for now;
 * c is closed. */
void relay_tls_failed(struct relay_conn *c, const char *why);
void relay_tls_input(struct relay_conn *c, const char *cipher, size_t len);
int relay_tls_read(struct relay_conn *c);
void relay_tls_flush(struct relay_conn *c);
void relay_tls_sent(struct relay_conn *c, int res);
void relay_tls_free(struct relay_conn *c);

#endif
