/*
 * test/core/test_dns.c - MX routing against a real DNS server on loopback:
 * dnsmasq (Debian's dnsmasq-base) started by the test with the records each
 * case needs, on 127.0.0.1 and a port of its own. No query leaves loopback.
 * CNAMEs are followed for an MX host's addresses and for the domain itself.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/dns.h"

static pid_t dnsmasq_pid;
static unsigned dnsmasq_port;
static char servers[64];

struct watched {
	int fd, r, w;
};
static struct watched fds[16];

static void
watch(void *arg, int fd, int r, int w)
{
	for (unsigned i = 0; i < 16; i++) {
		if (fds[i].fd == fd || (fds[i].fd < 0 && (r || w))) {
			fds[i].fd = (r || w) ? fd : -1;
			fds[i].r = r;
			fds[i].w = w;
			return;
		}
	}
}

static struct dns_route result;
static int finished;

static void
on_route(void *arg, const struct dns_route *r)
{
	result = *r;
	finished = 1;
}

/* Resolve domain with servers s, driving the resolver with poll();
 * returns 1 when an answer came. */
static int
try_route(const char *s, const char *domain, int rounds)
{
	struct dns_watch w = { watch, NULL };
	char err[128];
	for (unsigned i = 0; i < 16; i++)
		fds[i].fd = -1;
	struct dns *d = dns_new(s, 25, &w, err, sizeof err);
	cr_assert_not_null(d, "%s", err);
	finished = 0;
	dns_route(d, domain, on_route, NULL);
	for (int k = 0; k < rounds && !finished; k++) {
		struct pollfd p[16];
		unsigned n = 0;
		for (unsigned i = 0; i < 16; i++)
			if (fds[i].fd >= 0)
				p[n++] = (struct pollfd){ fds[i].fd, (short)((fds[i].r ? POLLIN : 0) |
				                                          (fds[i].w ? POLLOUT : 0)), 0 };
		poll(p, n, 20);
		for (unsigned i = 0; i < n; i++)
			dns_process(d, p[i].fd, p[i].revents & POLLIN, p[i].revents & POLLOUT);
		dns_process(d, -1, 0, 0);
	}
	if (finished)
		cr_expect_eq(dns_pending(d), 0);
	dns_free(d);
	return finished;
}

static void
route(const char *s, const char *domain)
{
	cr_assert(try_route(s, domain, 500), "no answer for %s", domain);
}

/* dnsmasq needs a moment to bind: ask until it answers. */
static int
dnsmasq_up(void)
{
	for (int tries = 0; tries < 100; tries++) {
		if (try_route(servers, "nomx.test", 10) && result.status == DNS_OK)
			return 1;
		usleep(50000);
	}
	return 0;
}


static void
start_dnsmasq(void)
{
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	dnsmasq_port = 20000 + (unsigned)(rand() % 20000);
	snprintf(servers, sizeof servers, "127.0.0.1:%u", dnsmasq_port);
	if (access("/usr/sbin/dnsmasq", X_OK) != 0)
		cr_skip_test("dnsmasq not installed (Debian package dnsmasq-base)");
	dnsmasq_pid = fork();
	cr_assert_neq(dnsmasq_pid, -1);
	if (dnsmasq_pid == 0) {
		char port[32];
		snprintf(port, sizeof port, "--port=%u", dnsmasq_port);
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(126);
		execl("/usr/sbin/dnsmasq", "dnsmasq", "--keep-in-foreground", "--no-resolv",
		      "--no-hosts", "--no-poll", "--conf-file=/dev/null", "--pid-file=",
		      "--listen-address=127.0.0.1", "--bind-interfaces", port,
		      "--local=/test/", "--local=/example.net/",
		      "--mx-host=example.net,mx1.example.net,10",
		      "--mx-host=example.net,mx2.example.net,20",
		      "--mx-host=example.net,mx3.example.net,20",
		      "--host-record=mx1.example.net,127.0.0.2",
		      "--host-record=mx2.example.net,127.0.0.3,::1",
		      "--host-record=mx3.example.net,127.0.0.4",
		      "--host-record=nomx.test,127.0.0.5",
		      "--mx-host=lh.test,localhost,10",
		      "--dns-rr=nullmx.test,15,000000",
		      "--mx-host=noaddr.test,ghost.test,10",
		      /* an MX host that is an alias, and a domain that is one */
		      "--mx-host=viacname.test,mxalias.test,10",
		      "--cname=mxalias.test,mx1.example.net",
		      "--cname=alias.test,example.net",
		      (char *)NULL);
		_exit(127);
	}
	cr_assert(dnsmasq_up(), "dnsmasq did not answer on %s", servers);
}

static void
stop_dnsmasq(void)
{
	if (dnsmasq_pid > 0) {
		kill(dnsmasq_pid, SIGTERM);
		waitpid(dnsmasq_pid, NULL, 0);
	}
}

TestSuite(dns, .init = start_dnsmasq, .fini = stop_dnsmasq, .timeout = 30);

static const char *
text(const struct dns_addr *a)
{
	static char buf[64];
	const void *p = a->addr.ss_family == AF_INET
	                    ? (const void *)&((const struct sockaddr_in *)&a->addr)->sin_addr
	                    : (const void *)&((const struct sockaddr_in6 *)&a->addr)->sin6_addr;
	inet_ntop(a->addr.ss_family, p, buf, sizeof buf);
	return buf;
}

Test(dns, mx_in_preference_order_with_all_addresses)
{
	route(servers, "example.net");
	cr_assert_eq(result.status, DNS_OK, "%s", result.error);
	cr_assert_eq(result.naddrs, 4);
	cr_expect_str_eq(result.addrs[0].host, "mx1.example.net");
	cr_expect_str_eq(text(&result.addrs[0]), "127.0.0.2");
	cr_expect_eq(result.addrs[0].preference, 10);
	for (unsigned i = 1; i < 4; i++)
		cr_expect_eq(result.addrs[i].preference, 20);
	cr_expect_eq(ntohs(((struct sockaddr_in *)&result.addrs[0].addr)->sin_port), 25);
	cr_expect_eq(result.implicit_mx, 0);
}

Test(dns, equal_preferences_come_in_both_orders)
{
	int mx2_first = 0, mx3_first = 0;
	for (int i = 0; i < 40 && !(mx2_first && mx3_first); i++) {
		route(servers, "example.net");
		cr_assert_eq(result.status, DNS_OK);
		if (strcmp(result.addrs[1].host, "mx2.example.net") == 0)
			mx2_first = 1;
		else
			mx3_first = 1;
	}
	cr_expect(mx2_first && mx3_first, "equal-preference MX hosts were never shuffled");
}

Test(dns, no_mx_means_the_domain_itself)
{
	route(servers, "nomx.test");
	cr_assert_eq(result.status, DNS_OK, "%s", result.error);
	cr_expect_eq(result.implicit_mx, 1);
	cr_assert_eq(result.naddrs, 1);
	cr_expect_str_eq(text(&result.addrs[0]), "127.0.0.5");
}

Test(dns, permanent_failures)
{
	static const struct {
		const char *domain, *want;
	} cases[] = {
		{ "nx.test", "does not exist" },
		{ "nullmx.test", "null MX" },
		{ "lh.test", "localhost" },
		{ "noaddr.test", "no address" },
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		route(servers, cases[i].domain);
		cr_expect_eq(result.status, DNS_PERMFAIL, "%s: got %d (%s)", cases[i].domain,
		             result.status, result.error);
		cr_expect(strstr(result.error, cases[i].want) != NULL, "%s: %s", cases[i].domain,
		          result.error);
	}
}

Test(dns, unreachable_server_is_temporary)
{
	route("127.0.0.1:9", "example.net");   /* nothing answers on the discard port */
	cr_expect_eq(result.status, DNS_TEMPFAIL, "got %d (%s)", result.status, result.error);
}

Test(dns, cname_of_an_mx_host_and_of_the_domain_are_followed)
{
	route(servers, "viacname.test");
	cr_assert_eq(result.status, DNS_OK, "%s", result.error);
	cr_assert_eq(result.naddrs, 1);
	cr_expect_str_eq(result.addrs[0].host, "mxalias.test");
	cr_expect_str_eq(text(&result.addrs[0]), "127.0.0.2");
	route(servers, "alias.test");   /* its MX records are example.net's */
	cr_assert_eq(result.status, DNS_OK, "%s", result.error);
	cr_assert_eq(result.naddrs, 4);
	cr_expect_str_eq(result.addrs[0].host, "mx1.example.net");
	cr_expect_eq(result.implicit_mx, 0);
}
