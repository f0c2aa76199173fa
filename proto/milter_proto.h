/*
 * proto/milter_proto.h - the milter protocol (Sendmail's libmilter,
 * version 6, as Postfix speaks it) from the MTA's side, without I/O: the
 * packets ringmta writes to a milter and the replies it reads back.
 *
 * A packet is a 4-octet length in network order (the command octet and
 * the data), the command octet, then the data; strings in the data end
 * in NUL.
 *
 * Builders write one whole packet into the caller's buffer and return its
 * length, or -1 when it does not fit in cap (never a partial packet).
 * Strings given to them must not hold NUL (they are cut there, which a
 * C string cannot contain anyway).
 *
 * proto_milter_parse() reads one reply from the octets received so far:
 * it returns the length of the packet it took (*r filled, pointing into
 * in: nothing is copied or allocated), 0 when the packet is not complete
 * yet, or -1 when it is malformed (r->error says why): a length of 0 or
 * over PROTO_MILTER_PACKET_BYTES_MAX, an unknown reply, a string without
 * its NUL, a header index or option word cut short, a reply code that is
 * not 4xx or 5xx. The caller treats such a milter as failed.
 */
#ifndef PROTO_MILTER_PROTO_H
#define PROTO_MILTER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_MILTER_VERSION 6
/* a reply packet at most (SMFIP_MDS_1M bodies and a margin, libmilter's
 * MILTER_MAX_DATA_SIZE with its largest setting) */
#define PROTO_MILTER_PACKET_BYTES_MAX ((1u << 20) + 1024)
/* SMFIC_BODY chunks we send (libmilter's MILTER_CHUNK_SIZE) */
#define PROTO_MILTER_BODY_CHUNK_BYTES 65535
#define PROTO_MILTER_MACROS_MAX 16           /* name/value pairs in one SMFIC_MACRO */

/* Commands, MTA to milter (mfdef.h SMFIC_*). */
enum proto_milter_cmd {
	PROTO_MILTER_ABORT = 'A',
	PROTO_MILTER_BODY = 'B',
	PROTO_MILTER_CONNECT = 'C',
	PROTO_MILTER_MACRO = 'D',
	PROTO_MILTER_BODYEOB = 'E',
	PROTO_MILTER_HELO = 'H',
	PROTO_MILTER_HEADER = 'L',
	PROTO_MILTER_MAIL = 'M',
	PROTO_MILTER_EOH = 'N',
	PROTO_MILTER_OPTNEG = 'O',
	PROTO_MILTER_QUIT = 'Q',
	PROTO_MILTER_RCPT = 'R',
	PROTO_MILTER_DATA = 'T',
};

/* Replies, milter to MTA (mfdef.h SMFIR_*). */
enum proto_milter_reply {
	PROTO_MILTER_R_ADDRCPT = '+',
	PROTO_MILTER_R_DELRCPT = '-',
	PROTO_MILTER_R_ADDRCPT_PAR = '2',
	PROTO_MILTER_R_ACCEPT = 'a',
	PROTO_MILTER_R_REPLBODY = 'b',
	PROTO_MILTER_R_CONTINUE = 'c',
	PROTO_MILTER_R_DISCARD = 'd',
	PROTO_MILTER_R_CHGFROM = 'e',
	PROTO_MILTER_R_ADDHEADER = 'h',
	PROTO_MILTER_R_INSHEADER = 'i',
	PROTO_MILTER_R_SETSYMLIST = 'l',
	PROTO_MILTER_R_CHGHEADER = 'm',
	PROTO_MILTER_R_PROGRESS = 'p',
	PROTO_MILTER_R_QUARANTINE = 'q',
	PROTO_MILTER_R_REJECT = 'r',
	PROTO_MILTER_R_SKIP = 's',
	PROTO_MILTER_R_TEMPFAIL = 't',
	PROTO_MILTER_R_REPLYCODE = 'y',
	PROTO_MILTER_R_OPTNEG = 'O',
};

/* Actions a milter may take at end of message (SMFIF_*). */
#define PROTO_MILTER_F_ADDHDRS 0x01u
#define PROTO_MILTER_F_CHGBODY 0x02u
#define PROTO_MILTER_F_ADDRCPT 0x04u
#define PROTO_MILTER_F_DELRCPT 0x08u
#define PROTO_MILTER_F_CHGHDRS 0x10u
#define PROTO_MILTER_F_QUARANTINE 0x20u
#define PROTO_MILTER_F_CHGFROM 0x40u
#define PROTO_MILTER_F_ADDRCPT_PAR 0x80u
#define PROTO_MILTER_F_SETSYMLIST 0x100u
/* what ringmta applies */
#define PROTO_MILTER_ACTIONS_OFFERED                                                   \
	(PROTO_MILTER_F_ADDHDRS | PROTO_MILTER_F_CHGBODY | PROTO_MILTER_F_ADDRCPT |       \
	 PROTO_MILTER_F_DELRCPT | PROTO_MILTER_F_CHGHDRS | PROTO_MILTER_F_QUARANTINE |     \
	 PROTO_MILTER_F_CHGFROM | PROTO_MILTER_F_ADDRCPT_PAR)

/* Steps a milter may ask us to skip or not to answer (SMFIP_*). */
#define PROTO_MILTER_P_NOCONNECT 0x1u
#define PROTO_MILTER_P_NOHELO 0x2u
#define PROTO_MILTER_P_NOMAIL 0x4u
#define PROTO_MILTER_P_NORCPT 0x8u
#define PROTO_MILTER_P_NOBODY 0x10u
#define PROTO_MILTER_P_NOHDRS 0x20u
#define PROTO_MILTER_P_NOEOH 0x40u
#define PROTO_MILTER_P_NR_HDR 0x80u
#define PROTO_MILTER_P_NOUNKNOWN 0x100u
#define PROTO_MILTER_P_NODATA 0x200u
#define PROTO_MILTER_P_SKIP 0x400u
#define PROTO_MILTER_P_RCPT_REJ 0x800u
#define PROTO_MILTER_P_NR_CONN 0x1000u
#define PROTO_MILTER_P_NR_HELO 0x2000u
#define PROTO_MILTER_P_NR_MAIL 0x4000u
#define PROTO_MILTER_P_NR_RCPT 0x8000u
#define PROTO_MILTER_P_NR_DATA 0x10000u
#define PROTO_MILTER_P_NR_UNKN 0x20000u
#define PROTO_MILTER_P_NR_EOH 0x40000u
#define PROTO_MILTER_P_NR_BODY 0x80000u
#define PROTO_MILTER_P_HDR_LEADSPC 0x100000u
/* what ringmta honours (no unknown commands are ever sent, so NOUNKNOWN
 * and NR_UNKN cost nothing; RCPT_REJ is not offered: rejected recipients
 * are never shown to milters) */
#define PROTO_MILTER_PROTOCOL_OFFERED 0x1FF7FFu

/* The steps of a conversation, for proto_milter_sends()/_replies(). */
enum proto_milter_step {
	PROTO_MILTER_STEP_CONNECT,
	PROTO_MILTER_STEP_HELO,
	PROTO_MILTER_STEP_MAIL,
	PROTO_MILTER_STEP_RCPT,
	PROTO_MILTER_STEP_DATA,
	PROTO_MILTER_STEP_HEADER,
	PROTO_MILTER_STEP_EOH,
	PROTO_MILTER_STEP_BODY,
	PROTO_MILTER_STEP_EOM,
};

/* One reply; the pointers point into the packet. */
struct proto_milter_msg {
	char cmd;                   /* enum proto_milter_reply */
	/* OPTNEG */
	uint32_t version, actions, protocol;
	/* ADDHEADER, INSHEADER, CHGHEADER: name and value (value may be "");
	 * ADDRCPT, DELRCPT, ADDRCPT_PAR, CHGFROM: name is the address, value
	 * the ESMTP arguments or NULL; QUARANTINE: name is the reason */
	const char *name, *value;
	uint32_t index;             /* INSHEADER, CHGHEADER */
	/* REPLYCODE: code (4xx/5xx) and the text after it ("5.7.1 go away"),
	 * text_len octets: of a multi-line reply (smfi_setmlreply(), lines
	 * "550-..." ended by CRLF) the first line's */
	unsigned code;
	const char *text;
	size_t text_len;
	/* REPLBODY: the octets */
	const char *data;
	size_t data_len;
	const char *error;          /* when the parse failed */
};

/* SMFIC_OPTNEG: version 6, the actions and steps we offer. */
int proto_milter_optneg(char *out, size_t cap, uint32_t actions, uint32_t protocol);
/* SMFIC_MACRO for the command cmd: n name/value pairs, names as Postfix
 * sends them ("j", "{client_addr}"); pairs with a NULL value are left out. */
int proto_milter_macros(char *out, size_t cap, char cmd, const char *const *pairs, unsigned n);
/* SMFIC_CONNECT: the client's name, its family ('4', '6', 'L' for a UNIX
 * socket, 'U' unknown), port and address text ('U': no port, no address). */
int proto_milter_connect(char *out, size_t cap, const char *hostname, char family,
                         uint16_t port, const char *addr);
/* A command of n NUL-ended strings: HELO (the name), MAIL and RCPT (the
 * address in <> then each ESMTP argument), HEADER (name, value), and with
 * n = 0 DATA, EOH, BODYEOB, ABORT, QUIT. */
int proto_milter_strings(char *out, size_t cap, char cmd, const char *const *strs, unsigned n);
/* SMFIC_BODY: len octets, at most PROTO_MILTER_BODY_CHUNK_BYTES. */
int proto_milter_body(char *out, size_t cap, const char *data, size_t len);

/* Read one reply from in[0..len): see the top. */
long proto_milter_parse(const char *in, size_t len, struct proto_milter_msg *r);

/* Check a milter's OPTNEG against what we offered: 0, or -1 with *why
 * (a version before 2, actions or steps we did not offer). */
int proto_milter_optneg_check(const struct proto_milter_msg *r, uint32_t actions,
                              uint32_t protocol, const char **why);
/* 1 when the step is sent to a milter that negotiated protocol. */
int proto_milter_sends(uint32_t protocol, enum proto_milter_step step);
/* 1 when the milter answers the step (no SMFIP_NR_* for it). */
int proto_milter_replies(uint32_t protocol, enum proto_milter_step step);
/* 1 when cmd is an action that ends a step (accept, continue, reject,
 * tempfail, discard, replycode, skip); 0 for modifications and progress. */
int proto_milter_is_final(char cmd);

#endif
