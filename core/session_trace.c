/*
 * core/session_trace.c - a session's SMTP dialogue in the log for smtpctl
 * trace smtp: "trace smtp: <session id> <<< LINE" for what the client sent,
 * ">>> LINE" for the replies (core/trace.c's trace_dialogue()). Only called
 * when the trace is on. Input read while the machine is in a message body
 * or waits for the TLS handshake is left out; a SASL response is hidden.
 */
#include "core/session_int.h"
#include "core/trace.h"

void
session_trace_in(const struct session *s, const char *data, size_t len)
{
	switch (s->proto.state) {
	case PROTO_S_BODY:
	case PROTO_S_DRAIN:
	case PROTO_S_CHUNK:
	case PROTO_S_TLS:
		return;
	case PROTO_S_AUTH:
		log_info("trace smtp: %016llx <<< (hidden)", (unsigned long long)s->id);
		return;
	default:
		trace_dialogue("smtp", s->id, "<<<", data, len, 1);
	}
}

void
session_trace_out(const struct session *s, const char *data, size_t len)
{
	trace_dialogue("smtp", s->id, ">>>", data, len, 0);
}
