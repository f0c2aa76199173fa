/*
 * ctl/smtpctl.h - the smtpctl command (and mailq, which is `smtpctl show
 * queue`): the command words, the requests they send, and the output in
 * OpenSMTPD 6.8's formats (show queue's |-separated fields, show stats'
 * key=value lines) or, with --json, one JSON document.
 *
 * The formatters are pure (a record in, text out to a FILE) so the unit
 * tests check the exact lines scripts parse.
 */
#ifndef CTL_SMTPCTL_H
#define CTL_SMTPCTL_H

#include <stdint.h>
#include <stdio.h>

#include "ctl/ctl_proto.h"

/* Run smtpctl with its arguments (argv[0] is the program). Returns the exit
 * status. */
int smtpctl_main(int argc, char **argv);
/* mailq [-f file] [--json]: show queue. */
int smtpctl_mailq(int argc, char **argv);
/* smtpctl encrypt [string] (ctl/encrypt.c): exit status. */
int smtpctl_encrypt(int nwords, const char *const *words);
struct ctl_client;
/* smtpctl monitor [count] on a connected client (ctl/smtpctl_monitor.c):
 * count 0 runs until interrupted. Exit status. */
int smtpctl_monitor(struct ctl_client *c, int json, unsigned long count);

/* One show queue line for a RECORD, as OpenSMTPD prints it:
 * evpid|src|agent|status|sender|rcpt|dest|created|expire|lasttry|retry|runstate|nexttry|error */
void smtpctl_print_queue_line(FILE *f, const struct ctl_msg *rec);
/* A RECORD as one JSON object; numbers stay numbers. */
void smtpctl_print_json_record(FILE *f, const struct ctl_msg *rec);
/* Parse an envelope id (16 hex digits), a message id (1-8) or "all" into
 * a selector; returns 0 or -1. */
int smtpctl_parse_id(const char *s, uint32_t *sel, uint64_t *id);
/* A route id as show routes prints it ("0123456789abcdef.2", a trailing
 * dot allowed): the relay's id and the route's number; 0 or -1. */
int smtpctl_parse_route(const char *s, uint64_t *relay, uint32_t *route);

#endif
