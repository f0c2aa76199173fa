/*
 * rules/aliases.c - rules_aliases_expand(): what one accepted recipient
 * becomes once its action's alias or virtual table, the users' ~/.forward
 * files and :include: files have had their say, as OpenSMTPD's
 * lka_session.c decides it: a tree of nodes (address, user, file,
 * command, include, error) grown breadth first from the recipient, each
 * address passed through the rules again, each user looked up in the
 * alias table (key with its +tag first, then without) or the virtual
 * table (user+tag@domain, user@domain, user+tag, user, @domain, @), then
 * as a system user with its ~/.forward. The leaves are deliveries
 * (struct rules_dest); an error: entry, an unknown user, a rule that
 * refuses an expanded address, a node deeper than RULES_ALIAS_DEPTH_MAX or
 * an expansion with nothing left refuse the recipient with one reply.
 *
 * A user that meets itself again (bob: bob, backup; or a: b, b: a) is
 * taken as the real user, not looked up again ("\bob" says so outright);
 * an address met again is a loop or a duplicate and dropped; identical
 * deliveries are kept once; an expansion that ends with nothing to
 * deliver is refused.
 * Pure: the caller's callbacks answer rule matches, user lookups and file
 * reads, so this file does no I/O and is fuzzed and unit-tested alone.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/rules_int.h"

enum alias_node_kind {
	NODE_ADDRESS,      /* user@domain */
	NODE_USER,         /* a local part (with its +tag until looked up) */
	NODE_FILE,         /* /path: appended to, mbox style */
	NODE_COMMAND,      /* |command */
	NODE_INCLUDE,      /* :include:/path (alias and virtual values only) */
	NODE_ERROR,        /* error:CODE text */
};

struct alias_node {
	enum alias_node_kind kind;
	char *value;
	int parent;                    /* node index, -1 for the recipient */
	unsigned depth;
	const struct rules_action *action; /* of the nearest address above */
	int realuser;                  /* a system user (forward owner) */
	int direct;                    /* "\user" or met itself: no lookups */
};

struct alias_run {
	const struct rules_config *c;
	const struct rules_alias_ops *ops;
	const char *rcpt;
	struct rules_alias_result *out;
	struct alias_node *nodes;
	unsigned n, cap;
	int failed;
};

/* Refuse the recipient: the reply and, for the log, why. Only the first
 * failure counts. */
static void __attribute__((format(printf, 5, 6)))
alias_fail(struct alias_run *r, unsigned code, const char *status, const char *text,
           const char *fmt, ...)
{
	va_list ap;

	if (r->failed)
		return;
	r->failed = 1;
	r->out->code = code;
	snprintf(r->out->status, sizeof r->out->status, "%s", status);
	snprintf(r->out->text, sizeof r->out->text, "%s", text);
	va_start(ap, fmt);
	vsnprintf(r->out->why, sizeof r->out->why, fmt, ap);
	va_end(ap);
}

static void
alias_fail_invalid(struct alias_run *r, const char *why)
{
	char text[RULES_REPLY_TEXT_BYTES_MAX];

	snprintf(text, sizeof text, "Invalid recipient: <%.256s>", r->rcpt);
	alias_fail(r, 550, "5.1.1", text, "%s", why);
}

static void
alias_fail_temp(struct alias_run *r, const char *why)
{
	alias_fail(r, 451, "4.3.0", "Temporary failure, try again later", "%s", why);
}

/* The nearest ancestor of node i (itself included) of kind k, or -1. */
static int
alias_ancestor(const struct alias_run *r, int i, enum alias_node_kind k)
{
	while (i >= 0 && r->nodes[i].kind != k)
		i = r->nodes[i].parent;
	return i;
}

/* 1 if a node like (kind, value, direct) is there already: an address
 * anywhere (a loop or a duplicate), another kind under the same address
 * (so expanding it again adds nothing). */
static int
alias_seen(const struct alias_run *r, enum alias_node_kind kind, const char *value, int parent,
           int direct)
{
	int addr = alias_ancestor(r, parent, NODE_ADDRESS);

	for (unsigned i = 0; i < r->n; i++) {
		const struct alias_node *x = &r->nodes[i];
		if (x->kind != kind || x->direct != direct)
			continue;
		if (kind == NODE_ADDRESS ? strcasecmp(x->value, value) == 0 :
		    strcmp(x->value, value) == 0 && alias_ancestor(r, x->parent, NODE_ADDRESS) == addr)
			return 1;
	}
	return 0;
}

/* 1 if node p or a user node above it has the name user. */
static int
alias_user_in_chain(const struct alias_run *r, int p, const char *user)
{
	for (; p >= 0; p = r->nodes[p].parent)
		if (r->nodes[p].kind == NODE_USER && strcmp(r->nodes[p].value, user) == 0)
			return 1;
	return 0;
}

/* 1 if node i is a user node for root (with or without a +tag). */
static int
alias_is_root(const struct alias_run *r, int i)
{
	const char *v = r->nodes[i].value;

	return r->nodes[i].kind == NODE_USER && strncmp(v, "root", 4) == 0 &&
	       (v[4] == '\0' || v[4] == r->c->sub_addr_delim);
}

/* Append a node; its index, or -1 (limits or memory: the run fails). */
static int
alias_add(struct alias_run *r, enum alias_node_kind kind, const char *value, int parent,
          const struct rules_action *action)
{
	struct alias_node *x;

	if (r->n >= RULES_ALIAS_NODES_MAX) {
		alias_fail(r, 550, "5.3.4", "Mailing list expansion problem",
		           "expansion has more than %d entries", RULES_ALIAS_NODES_MAX);
		return -1;
	}
	if (r->n == r->cap) {
		unsigned cap = r->cap ? r->cap * 2 : 16;
		x = realloc(r->nodes, cap * sizeof *x);
		if (x == NULL) {
			alias_fail_temp(r, "out of memory");
			return -1;
		}
		r->nodes = x;
		r->cap = cap;
	}
	x = &r->nodes[r->n];
	memset(x, 0, sizeof *x);
	if ((x->value = strdup(value)) == NULL) {
		alias_fail_temp(r, "out of memory");
		return -1;
	}
	x->kind = kind;
	x->parent = parent;
	x->depth = parent < 0 ? 0 : r->nodes[parent].depth + 1;
	x->action = action;
	return (int)r->n++;
}

/* Lowercase s in place. */
static void
alias_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Strip blanks at both ends of s in place; returns s. */
static char *
alias_strip(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* 1 if s is a usable local user name: printable, no blank, '@', '/' or
 * ':', shorter than RULES_NAME_BYTES_MAX. */
static int
alias_user_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= RULES_NAME_BYTES_MAX || s[0] == '-' || s[0] == '.')
		return 0;
	for (; *s; s++)
		if (!isgraph((unsigned char)*s) || strchr("@/:|\\\"'", *s) != NULL)
			return 0;
	return 1;
}

/* 1 if s is user@domain with both parts and no blank or control byte. */
static int
alias_address_ok(const char *s)
{
	const char *at = strrchr(s, '@');

	if (at == NULL || at == s || at[1] == '\0' || strlen(s) >= RULES_ALIAS_ADDR_BYTES_MAX)
		return 0;
	for (; *s; s++)
		if (!isgraph((unsigned char)*s) || *s == '<' || *s == '>' || *s == ',')
			return 0;
	return 1;
}

/* One entry of an alias value, include file or .forward line, under
 * parent (includes: only when allowed). 0, or -1 when the run failed. */
static int
alias_entry(struct alias_run *r, char *s, int parent, int allow_include, int from_forward);

/* Split one line (or a whole value) at commas outside quotes, a backslash
 * taking the next byte as it is, '#' starting a comment when comments is
 * set; each piece becomes an entry. 0, or -1 when the run failed. */
static int
alias_list(struct alias_run *r, const char *line, int parent, int allow_include, int comments,
           int from_forward)
{
	char buf[RULES_ALIAS_ENTRY_BYTES_MAX];
	size_t i = 0;
	int dq = 0, esc = 0;

	for (const char *p = line;; p++) {
		int end = *p == '\0' || (comments && *p == '#' && !dq && !esc);
		if (end || (*p == ',' && !dq && !esc)) {
			if (esc || dq) {
				alias_fail_temp(r, "an alias entry has an open quote or a trailing backslash");
				return -1;
			}
			buf[i] = '\0';
			if (alias_entry(r, buf, parent, allow_include, from_forward) < 0)
				return -1;
			i = 0;
			if (end)
				return 0;
			continue;
		}
		if (i + 1 >= sizeof buf) {
			alias_fail_temp(r, "an alias entry is too long");
			return -1;
		}
		if (esc) {
			esc = 0;
		} else if (*p == '\\' && p[1] != '\0' && !isalnum((unsigned char)p[1])) {
			esc = 1;
			continue;     /* "\," keeps the comma; "\user" stays for alias_entry */
		} else if (*p == '"') {
			dq ^= 1;
		}
		buf[i++] = *p;
	}
}

/* Every line of a file's text as alias_list() entries. */
static int
alias_lines(struct alias_run *r, const char *text, int parent, int allow_include,
            int from_forward)
{
	char line[RULES_ALIAS_ENTRY_BYTES_MAX];
	const char *p = text;

	while (*p) {
		size_t n = strcspn(p, "\n");
		if (n >= sizeof line) {
			alias_fail_temp(r, "a line of an include or .forward file is too long");
			return -1;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		if (alias_list(r, line, parent, allow_include, 1, from_forward) < 0)
			return -1;
		p += n + (p[n] == '\n');
	}
	return 0;
}

static int
alias_entry(struct alias_run *r, char *s, int parent, int allow_include, int from_forward)
{
	const struct rules_action *a = r->nodes[parent].action;
	enum alias_node_kind kind;
	size_t n;
	int direct = 0;

	s = alias_strip(s);
	n = strlen(s);
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s[n - 1] = '\0';
		s = alias_strip(s + 1);
	}
	if (*s == '\0')
		return 0;
	if (strncmp(s, "error:", 6) == 0) {
		kind = NODE_ERROR;
		s += 6;
	} else if (strncmp(s, ":include:", 9) == 0) {
		kind = NODE_INCLUDE;
		s = alias_strip(s + 9);
	} else if (*s == '|') {
		kind = NODE_COMMAND;
		s = alias_strip(s + 1);
	} else if (*s == '/') {
		kind = NODE_FILE;
	} else if (strchr(s, '@') != NULL) {
		kind = NODE_ADDRESS;
		n = strlen(s);
		if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
			s[n - 1] = '\0';
			s++;
		}
		if (!alias_address_ok(s)) {
			alias_fail_temp(r, "an alias entry is not a valid address");
			return -1;
		}
	} else {
		kind = NODE_USER;
		if (*s == '\\') {
			direct = 1;
			s++;
		}
		alias_lower(s);
		if (!alias_user_ok(s)) {
			alias_fail_temp(r, "an alias entry is not a valid user name");
			return -1;
		}
	}
	if ((kind == NODE_COMMAND || kind == NODE_FILE || kind == NODE_INCLUDE) && *s == '\0') {
		alias_fail_temp(r, "an alias entry names no command or file");
		return -1;
	}
	if (kind == NODE_INCLUDE && s[0] != '/') {
		alias_fail_temp(r, "an :include: file must be an absolute path");
		return -1;
	}
	if (from_forward && alias_is_root(r, parent) &&
	    (kind == NODE_COMMAND || kind == NODE_INCLUDE))
		return 0;   /* root's .forward may not run commands (as OpenSMTPD) */
	if (kind == NODE_INCLUDE) {
		char *text = NULL;
		int ret;
		if (!allow_include)
			return 0;
		if (r->ops->read_include == NULL || r->ops->read_include(r->ops->arg, s, &text) < 0) {
			alias_fail_temp(r, "an :include: file cannot be read");
			return -1;
		}
		ret = alias_lines(r, text, parent, 0, from_forward);
		free(text);
		return ret;
	}
	if (kind == NODE_USER && alias_user_in_chain(r, parent, s))
		direct = 1;    /* bob: bob, backup; or back to a user above */
	if (alias_seen(r, kind, s, parent, direct))
		return 0;
	int i = alias_add(r, kind, s, parent, a);
	if (i < 0)
		return -1;
	r->nodes[i].direct = direct;
	return 0;
}

/* Keep a delivery unless an identical one is kept already. */
static void
alias_deliver(struct alias_run *r, enum rules_dest_kind kind, const struct rules_action *a,
              const char *address, const char *user, const char *exec)
{
	struct rules_alias_result *o = r->out;

	for (unsigned i = 0; i < o->ndests; i++) {
		const struct rules_dest *d = &o->dests[i];
		if (d->kind == kind && d->action == a && strcmp(d->user, user) == 0 &&
		    strcmp(d->exec, exec) == 0 &&
		    (kind != RULES_DEST_ADDRESS || strcmp(d->address, address) == 0))
			return;
	}
	if (o->ndests == o->cap) {
		unsigned cap = o->cap ? o->cap * 2 : 4;
		struct rules_dest *nd = realloc(o->dests, cap * sizeof *nd);
		if (nd == NULL) {
			alias_fail_temp(r, "out of memory");
			return;
		}
		o->dests = nd;
		o->cap = cap;
	}
	struct rules_dest *d = &o->dests[o->ndests++];
	memset(d, 0, sizeof *d);
	d->kind = kind;
	d->action = a;
	snprintf(d->address, sizeof d->address, "%s", address);
	snprintf(d->user, sizeof d->user, "%s", user);
	snprintf(d->exec, sizeof d->exec, "%s", exec);
}

/* A table value for one of keys (in order), or NULL. */
static const char *
alias_lookup(const struct rules_tab *t, const char *const *keys, unsigned nkeys)
{
	for (unsigned i = 0; i < nkeys; i++) {
		const char *v;
		if (keys[i] != NULL && (v = rules_tab_value(t, keys[i])) != NULL)
			return v;
	}
	return NULL;
}

/* Split addr (lowercased) into user, tag ("" none) and domain. */
static void
alias_split(const struct alias_run *r, const char *addr, char *user, char *tag, char *domain,
            size_t cap)
{
	const char *at = strrchr(addr, '@');
	size_t ulen = at ? (size_t)(at - addr) : strlen(addr);
	char *d;

	snprintf(user, cap, "%.*s", (int)ulen, addr);
	snprintf(domain, cap, "%s", at ? at + 1 : "");
	alias_lower(user);
	alias_lower(domain);
	tag[0] = '\0';
	if ((d = strchr(user, r->c->sub_addr_delim)) != NULL) {
		snprintf(tag, cap, "%s", d + 1);
		*d = '\0';
	}
}

/* An address node: through the rules unless it is the recipient, then
 * relayed, looked up in the virtual table, or handed to its user. */
static void
alias_address(struct alias_run *r, int i)
{
	struct alias_node *x = &r->nodes[i];
	char user[RULES_ALIAS_ADDR_BYTES_MAX], tag[RULES_ALIAS_ADDR_BYTES_MAX];
	char domain[RULES_ALIAS_ADDR_BYTES_MAX], k[4][RULES_ALIAS_ADDR_BYTES_MAX + 2];
	char why[RULES_ALIAS_WHY_BYTES_MAX];

	if (x->parent >= 0) {
		const struct rules_action *a = NULL;
		unsigned line = 0;
		enum rules_verdict v = r->ops->match(r->ops->arg, x->value, &a, &line);
		x = &r->nodes[i];
		if (v != RULES_ACCEPT) {
			snprintf(why, sizeof why, "expanded address <%.256s> %s (line %u)", x->value,
			         v == RULES_TEMPFAIL ? "cannot be decided now" :
			         v == RULES_REJECT ? "is rejected by the rules" : "matches no rule", line);
			if (v == RULES_TEMPFAIL)
				alias_fail_temp(r, why);
			else
				alias_fail_invalid(r, why);
			return;
		}
		x->action = a;
	}
	if (x->action->kind == RULES_ACTION_RELAY ||
	    (x->action->kind == RULES_ACTION_LMTP && !rules_action_expands(x->action, 0))) {
		/* the next hop answers for it */
		alias_deliver(r, RULES_DEST_ADDRESS, x->action, x->value, "", "");
		return;
	}
	alias_split(r, x->value, user, tag, domain, sizeof user);
	if (x->action->virtual_map != NULL) {
		const char *keys[6] = { NULL, k[0], NULL, user, k[2], "@" };
		if (tag[0]) {
			snprintf(k[1], sizeof k[1], "%s%c%s@%s", user, r->c->sub_addr_delim, tag, domain);
			snprintf(k[3], sizeof k[3], "%s%c%s", user, r->c->sub_addr_delim, tag);
			keys[0] = k[1];
			keys[2] = k[3];
		}
		snprintf(k[0], sizeof k[0], "%s@%s", user, domain);
		snprintf(k[2], sizeof k[2], "@%s", domain);
		const char *v = alias_lookup(x->action->virtual_map, keys, 6);
		if (v == NULL) {
			snprintf(why, sizeof why, "<%.256s> is not in the virtual table", x->value);
			alias_fail_invalid(r, why);
			return;
		}
		alias_list(r, v, i, 1, 0, 0);
		return;
	}
	/* the local part with its tag: the alias table sees it whole first */
	const char *at = strrchr(x->value, '@');
	char local[RULES_ALIAS_ADDR_BYTES_MAX];
	snprintf(local, sizeof local, "%.*s", at ? (int)(at - x->value) : (int)strlen(x->value),
	         x->value);
	alias_lower(local);
	if (!alias_user_ok(local)) {
		snprintf(why, sizeof why, "<%.256s> has no usable local part", x->value);
		alias_fail_invalid(r, why);
		return;
	}
	alias_add(r, NODE_USER, local, i, x->action);
}

/* A user node: alias or virtual entries, else the system user, its
 * ~/.forward, else its mailbox. */
static void
alias_user(struct alias_run *r, int i)
{
	struct alias_node *x = &r->nodes[i];
	const struct rules_action *a = x->action;
	const char *delim_at;
	char user[RULES_NAME_BYTES_MAX], why[RULES_ALIAS_WHY_BYTES_MAX];
	int forward_only = strcmp(a->method, "forward-only") == 0;
	int expand_only = strcmp(a->method, "expand-only") == 0;

	const struct rules_tab *t = a->alias != NULL ? a->alias : a->virtual_map;
	snprintf(user, sizeof user, "%s", x->value);
	if ((delim_at = strchr(user, r->c->sub_addr_delim)) != NULL)
		user[delim_at - user] = '\0';
	if (!x->direct && t != NULL) {
		const char *keys[2] = { x->value, delim_at ? user : NULL };
		const char *v = alias_lookup(t, keys, 2);
		if (v != NULL) {
			alias_list(r, v, i, 1, 0, 0);
			return;
		}
	}
	int known = r->ops->user_exists(r->ops->arg, a, user);
	x = &r->nodes[i];
	if (known < 0) {
		snprintf(why, sizeof why, "user \"%s\" cannot be looked up now", user);
		alias_fail_temp(r, why);
		return;
	}
	if (known == 0) {
		snprintf(why, sizeof why, "no such local user \"%s\"", user);
		alias_fail_invalid(r, why);
		return;
	}
	x->realuser = 1;
	if (!x->direct && r->ops->read_forward != NULL) {
		char *text = NULL;
		int got = r->ops->read_forward(r->ops->arg, a, user, &text);
		x = &r->nodes[i];
		if (got < 0) {
			snprintf(why, sizeof why, "~%s/.forward cannot be read now", user);
			alias_fail_temp(r, why);
			return;
		}
		if (got > 0) {
			unsigned before = r->n;
			int ret = alias_lines(r, text, i, 0, 1);
			free(text);
			if (ret < 0 || r->n > before)
				return;
			/* an empty .forward: as if there were none */
		}
	}
	if (forward_only || expand_only) {
		snprintf(why, sizeof why, "user \"%s\" has no alias or .forward entry and action "
		         "\"%s\" is %s", user, a->name, a->method);
		alias_fail_invalid(r, why);
		return;
	}
	int addr = alias_ancestor(r, i, NODE_ADDRESS);
	alias_deliver(r, RULES_DEST_USER, a, r->nodes[addr].value, user, "");
}

/* A file or command node: delivered as the .forward's owner, or (from an
 * alias table) as the action's user or the daemon's ("" here). */
static void
alias_program(struct alias_run *r, int i)
{
	const struct alias_node *x = &r->nodes[i];
	const struct alias_node *p = &r->nodes[x->parent];
	char why[RULES_ALIAS_WHY_BYTES_MAX];

	if (strcmp(x->action->method, "forward-only") == 0) {
		snprintf(why, sizeof why, "a %s entry under forward-only action \"%s\"",
		         x->kind == NODE_FILE ? "file" : "command", x->action->name);
		alias_fail_invalid(r, why);
		return;
	}
	if (strlen(x->value) >= RULES_ALIAS_EXEC_BYTES_MAX) {
		alias_fail_temp(r, "a command or file entry is too long");
		return;
	}
	int addr = alias_ancestor(r, i, NODE_ADDRESS);
	char user[RULES_NAME_BYTES_MAX] = "";
	if (p->kind == NODE_USER && p->realuser) {
		snprintf(user, sizeof user, "%s", p->value);
		char *d = strchr(user, r->c->sub_addr_delim);
		if (d != NULL)
			*d = '\0';
	}
	alias_deliver(r, x->kind == NODE_FILE ? RULES_DEST_FILE : RULES_DEST_COMMAND, x->action,
	              r->nodes[addr].value, user, x->value);
}

/* error:CODE text: the recipient is answered with it. */
static void
alias_error(struct alias_run *r, int i)
{
	const struct alias_node *x = &r->nodes[i];
	const char *s = x->value, *text;
	char status[16] = "", why[RULES_ALIAS_WHY_BYTES_MAX];
	unsigned code;

	if (strcmp(x->action->method, "forward-only") == 0) {
		alias_fail_invalid(r, "an error: entry under a forward-only action");
		return;
	}
	if (!(s[0] == '4' || s[0] == '5') || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]) || (s[3] != '\0' && s[3] != ' ')) {
		alias_fail_temp(r, "an error: entry without a 4xx or 5xx code");
		return;
	}
	code = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 + (unsigned)(s[2] - '0');
	text = s + 3;
	while (*text == ' ')
		text++;
	/* an enhanced status code X.Y.Z of the same class, when written */
	size_t n = strspn(text, "0123456789.");
	if (n > 0 && n < sizeof status && text[0] == s[0] && text[1] == '.' &&
	    (text[n] == ' ' || text[n] == '\0')) {
		memcpy(status, text, n);
		status[n] = '\0';
		text += n;
		while (*text == ' ')
			text++;
	}
	if (status[0] == '\0')
		snprintf(status, sizeof status, "%c.0.0", s[0]);
	snprintf(why, sizeof why, "error: entry %.200s", s);
	alias_fail(r, code, status, *text ? text : "Delivery refused", "%s", why);
}

/* See rules.h. */
int
rules_aliases_expand(const struct rules_config *c, const char *rcpt,
                     const struct rules_action *action, const struct rules_alias_ops *ops,
                     struct rules_alias_result *out)
{
	struct alias_run r = { .c = c, .ops = ops, .rcpt = rcpt, .out = out };

	memset(out, 0, sizeof *out);
	if (strlen(rcpt) >= RULES_ALIAS_ADDR_BYTES_MAX) {
		alias_fail_invalid(&r, "recipient too long");
		return -1;
	}
	if (alias_add(&r, NODE_ADDRESS, rcpt, -1, action) < 0)
		return -1;
	for (unsigned i = 0; i < r.n && !r.failed; i++) {
		if (r.nodes[i].depth >= RULES_ALIAS_DEPTH_MAX) {
			alias_fail(&r, 550, "5.4.6", "Mailing list expansion problem",
			           "expansion deeper than %d levels", RULES_ALIAS_DEPTH_MAX);
			break;
		}
		switch (r.nodes[i].kind) {
		case NODE_ADDRESS:
			alias_address(&r, (int)i);
			break;
		case NODE_USER:
			alias_user(&r, (int)i);
			break;
		case NODE_FILE:
		case NODE_COMMAND:
			alias_program(&r, (int)i);
			break;
		case NODE_ERROR:
			alias_error(&r, (int)i);
			break;
		case NODE_INCLUDE:
			break;   /* read where it was written */
		}
	}
	if (!r.failed && out->ndests == 0)
		alias_fail(&r, 550, "5.4.6", "Mailing list expansion problem",
		           "expansion loops back on itself with nothing to deliver");
	out->nodes = r.n;
	for (unsigned i = 0; i < r.n; i++)
		free(r.nodes[i].value);
	free(r.nodes);
	if (r.failed) {
		free(out->dests);
		out->dests = NULL;
		out->ndests = out->cap = 0;
		return -1;
	}
	return 0;
}

void
rules_alias_result_free(struct rules_alias_result *out)
{
	free(out->dests);
	out->dests = NULL;
	out->ndests = out->cap = 0;
}

/* See rules.h. */
int
rules_action_expands(const struct rules_action *a, int lookups)
{
	if (a->kind == RULES_ACTION_RELAY)
		return 0;
	if (a->kind == RULES_ACTION_LMTP)   /* else the LMTP server answers each user */
		return a->alias != NULL || a->virtual_map != NULL || a->userbase != NULL;
	return a->alias != NULL || a->virtual_map != NULL || a->userbase != NULL ||
	       strcmp(a->method, "forward-only") == 0 || strcmp(a->method, "expand-only") == 0 ||
	       (lookups && a->user[0] == '\0');
}
