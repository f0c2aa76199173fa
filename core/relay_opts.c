/*
 * core/relay_opts.c - what a relay action's session options do to its
 * connections on the shard owning the destination: `src` binds the
 * socket to each of its addresses in turn, `helo`/`helo-src` choose the
 * EHLO name, `mail-from` the sender on the wire and `srs` its SRS form for
 * forwarded mail, `backup [mx NAME]` which MX hosts are tried. The action
 * is looked up by name in the configuration in force, so a reload applies
 * to the next connection.
 * See core/relay_int.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/listener.h"
#include "core/log.h"
#include "core/mta_block.h"
#include "core/mx_backup.h"
#include "core/relay.h"
#include "core/relay_int.h"
#include "core/srs.h"
#include "rules/rules.h"

const struct rules_action *
relay_dest_action(struct shard *sh, const struct relay_dest *d)
{
	if (d->action[0] == '\0')
		return NULL;
	return rules_action_find(sh->config, d->action);
}

int
relay_dest_backup(struct shard *sh, struct relay_dest *d, struct dns_addr *addrs, unsigned *n)
{
	const struct rules_action *a = relay_dest_action(sh, d);
	const char *name;
	int found;

	if (a == NULL || !a->relay_backup)
		return 0;
	name = a->relay_backup_mx[0] ? a->relay_backup_mx : sh->daemon->hostname;
	*n = mx_backup_filter(addrs, *n, name, &found);
	if (!found)
		log_info("mta backup relay=%s: %s is not an MX host of the domain, relaying to every "
		         "MX", d->name, name);
	return *n > 0 ? 0 : -1;
}

int
relay_conn_bind(struct relay_conn *c, const struct sockaddr_storage *to, char *why, size_t cap)
{
	const struct rules_action *a = relay_dest_action(c->sh, c->dest);
	struct relay_dest *d = c->dest;
	char text[64];

	if (a == NULL || a->nrelay_src == 0 || to->ss_family == AF_UNIX)
		return 0;
	for (unsigned k = 0; k < a->nrelay_src; k++) {
		const struct sockaddr_storage *src = &a->relay_src[d->src_next++ % a->nrelay_src];
		if (src->ss_family != to->ss_family ||
		    (d->mx && mta_block_src_paused(src, d->host)))   /* smtpctl pause mta from */
			continue;
		socklen_t len = src->ss_family == AF_INET ? sizeof(struct sockaddr_in)
		                                          : sizeof(struct sockaddr_in6);
		if (bind(c->fd, (const struct sockaddr *)src, len) == 0)
			return 0;
		listener_addr_text((const struct sockaddr *)src, text, sizeof text);
		snprintf(why, cap, "cannot bind source address %s: %s", text, strerror(errno));
		return -1;
	}
	snprintf(why, cap, "no source address of the destination's family in action %s's src",
	         a->name);
	return -1;
}

void
relay_conn_helo(struct relay_conn *c)
{
	const struct rules_action *a = relay_dest_action(c->sh, c->dest);
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char text[64];
	const char *src = NULL;

	if (a != NULL && a->relay_helo_src != NULL &&
	    getsockname(c->fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family != AF_UNIX) {
		listener_addr_text((const struct sockaddr *)&ss, text, sizeof text);
		src = text;
	}
	snprintf(c->helo, sizeof c->helo, "%s", rules_relay_helo(a, src, c->sh->daemon->hostname));
}

/* With `srs`: a forwarded envelope's sender (after mail-from) in SRS form
 * under the domain of the recipient it was forwarded from, as OpenSMTPD's
 * mta_session.c: forwarded when the recipient as given is not the
 * address delivered to (an alias, virtual or ~/.forward expansion, or a
 * decoded SRS address); a null sender stays null; one that cannot be
 * rewritten (proto/srs.h) goes as it is. 1 when out was rewritten. */
static int
relay_srs_sender(struct relay_conn *c, const struct rules_action *a,
                 const struct queue_envelope *e, char *out, size_t cap)
{
	const char *at = strrchr(e->rcpt, '@');

	if (a == NULL || !a->relay_srs || out[0] == '\0' || at == NULL ||
	    strcasecmp(e->rcpt, e->dest) == 0)
		return 0;
	if (srs_encode(c->sh->config, out, at + 1, out, cap))
		return 1;
	log_debug("mta srs sender=<%s> kept: it cannot be rewritten", out);
	return 0;
}

int
relay_env_sender(struct relay_conn *c, const struct queue_envelope *e, char *out, size_t cap)
{
	const struct rules_action *a = relay_dest_action(c->sh, c->dest);

	if (rules_relay_mail_from(a, e->sender, out, cap) < 0)
		snprintf(out, cap, "%s", e->sender);   /* too long: as it was */
	return relay_srs_sender(c, a, e, out, cap);
}

void
relay_txn_sender(struct relay_conn *c, const struct queue_envelope *e)
{
	if (relay_env_sender(c, e, c->sender, sizeof c->sender))
		log_info("%016llx mta srs evpid=%016llx from=<%s> sender=<%s>",
		         (unsigned long long)c->id, (unsigned long long)e->id, e->sender, c->sender);
}

int
relay_env_same_sender(struct relay_conn *c, const struct queue_envelope *e)
{
	char sender[QUEUE_ADDR_BYTES_MAX];

	relay_env_sender(c, e, sender, sizeof sender);
	return strcmp(sender, c->sender) == 0;
}
