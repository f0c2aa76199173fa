/*
 * bench/sink_proxy.c - the PROXY header on sink sessions: read with
 * proto/proxy.c from the first received bytes, its claimed source address
 * counted in the thread's set (bench/addrset.h); the greeting (or the TLS
 * handshake) comes only after it. A malformed header closes the session.
 */
#include "bench/sink_int.h"

int
ssession_proxy_feed(struct bench_ssession *s)
{
	struct bench_sinker *sk = s->sk;
	if (!s->holding || s->hoff >= s->hlen)
		return 0;
	size_t used = 0;
	enum proto_proxy_result r = proto_proxy_feed(&s->pp, ssession_held(s) + s->hoff,
	                                             s->hlen - s->hoff, &used);
	s->hoff += used;
	if (r == PROTO_PROXY_NEED_MORE)
		return 0;
	if (r == PROTO_PROXY_ERROR) {
		sink_count(&sk->ctr.proxy_errors, 1);
		ssession_close(s);
		return -1;
	}
	s->proxy_pending = 0;
	if (s->pp.local)
		sink_count(&sk->ctr.proxy_local, 1);
	else
		bench_addrset_add_sockaddr(&sk->sources, &s->pp.src);
	sink_count(s->pp.version == 1 ? &sk->ctr.proxy_v1 : &sk->ctr.proxy_v2, 1);
	return ssession_start(s) < 0 ? -1 : 1;
}
