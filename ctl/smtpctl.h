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

#include <stddef.h>
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
/* smtpctl encrypt -k [FILE] (encrypt 1) and decrypt [-k] [FILE] (0)
 * (ctl/seal.c): words are those after the command word. Exit status. */
int smtpctl_seal(const char *config_file, int nwords, const char *const *words, int encrypt);
/* The sealed format of OpenSMTPD's queue files (crypto.c, API version 1):
 * a version octet 1, a 12-octet IV, the AES-256-GCM ciphertext, its
 * 16-octet tag. Pure (the IV is the caller's). seal: out has room for
 * len + SMTPCTL_SEAL_OVERHEAD; returns the length. open: out has room for
 * len; returns the plaintext length, or -1 when the input is not in the
 * format or fails its tag (wrong key, damaged). */
#define SMTPCTL_SEAL_OVERHEAD (1 + 12 + 16)
size_t smtpctl_seal_buf(const uint8_t key[32], const uint8_t iv[12], const uint8_t *in,
                        size_t len, uint8_t *out);
long smtpctl_open_buf(const uint8_t key[32], const uint8_t *in, size_t len, uint8_t *out);
/* Print the records the way the command prints them (pure, for tests):
 * show mta paused's "source -> domain", show hoststats' "domain|time|error". */
void smtpctl_print_mta_paused_line(FILE *f, const struct ctl_msg *rec);
void smtpctl_print_hoststat_line(FILE *f, const struct ctl_msg *rec);
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
