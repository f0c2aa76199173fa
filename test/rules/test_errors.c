/*
 * test/rules/test_errors.c - every refusal names file:line:column of the
 * offending token: (config text, wanted error) pairs for syntax, values,
 * each check OpenSMTPD makes (auth and pki need tls, one TLS mode, objects
 * declared before use, reserved words, each criterion once per rule, the
 * exclusions between action options, no rules at all ...), the hints for
 * misspelt keywords, and the long form with the line and a caret.
 */
#include <criterion/criterion.h>
#include <net/if.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test/rules/helpers.h"

#define OK_TAIL "action a maildir\nmatch for any action a\n"
#define PKI "pki p cert \"%D/cert.pem\" key \"%D/key.pem\"\n"

static const struct {
	const char *text, *want;   /* %D: the fixture folder */
} error_cases[] = {
	/* syntax */
	{ "listen\n", "t.conf:1:7: expected \"on\" after \"listen\", got end of line" },
	{ "listen at lo\n", "t.conf:1:8: expected \"on\" after \"listen\", got \"at\"" },
	{ "frobnicate on\n", "t.conf:1:1: unknown keyword \"frobnicate\"" },
	{ "actoin a maildir\n", "t.conf:1:1: unknown keyword \"actoin\"; did you mean \"action\"?" },
	{ "{ a }\n", "t.conf:1:1: expected a statement, got \"{\"" },
	{ "action \"x\" maildir \"unterminated\n", "t.conf:1:20: unterminated string" },
	{ "listen on 127.0.0.1 (\n", "t.conf:1:21: unexpected character '('" },
	{ "match from any\n", "t.conf:1:15: expected \"action\" or \"reject\", got end of line" },
	{ "match from any for any action a reject\n",
	  "t.conf:1:33: expected end of line, got \"reject\"" },
	{ "match ! action a\n", "t.conf:1:7: \"!\" cannot negate \"action\"" },
	{ "match from elsewhere action a\n", "t.conf:1:12: unknown \"from\" source \"elsewhere\"" },
	{ "match for domian x action a\n",
	  "t.conf:1:11: unknown \"for\" destination \"domian\"; did you mean \"domain\"?" },
	{ "match for domain <t action a\n",
	  "t.conf:1:21: expected \">\" after the table name, got \"action\"" },
	{ "match frm any action a\n", "t.conf:1:7: unknown match option \"frm\"; did you mean \"from\"?" },
	{ "table t { a, b\n", "t.conf:1:9: unterminated table: \"}\" expected" },
	{ "table t { a, b = c }\n",
	  "t.conf:1:16: a table holds values or key = value pairs, not both" },
	{ "table t { a = b, c }\n",
	  "t.conf:1:20: expected \"=\" in a key = value table, got \"}\"" },
	{ "table t nothing\n",
	  "t.conf:1:9: invalid table \"nothing\": expected { ... }, file:/path or /path" },
	{ "table t sqlite:relative.conf\n",
	  "t.conf:1:9: invalid table \"sqlite:relative.conf\": the path after \"sqlite:\" must be "
	  "absolute" },
	{ "lan-addr = 1\n", "t.conf:1:1: invalid macro name \"lan-addr\"" },
	{ "action a maildri\n", "t.conf:1:10: unknown action type \"maildri\"; did you mean \"maildir\"?" },
	{ "action a deliver\n", "t.conf:1:10: unknown action type \"deliver\"" },
	{ "action a maildir /x extra\n", "t.conf:1:21: unknown local action option \"extra\"" },
	{ "action r relay hots x\n", "t.conf:1:16: unknown relay option \"hots\"; did you mean \"host\"?" },
	{ "listen on 127.0.0.1 tsl\n",
	  "t.conf:1:21: unknown listen option \"tsl\"; did you mean \"tls\"?" },
	{ "listen on 127.0.0.1 colour blue\n", "t.conf:1:21: unknown listen option \"colour\"" },
	{ "queue pth \"/q\"\n", "t.conf:1:7: unknown queue option \"pth\"; did you mean \"path\"?" },
	{ "smtp limit max-rcpts 10\n",
	  "t.conf:1:12: unknown smtp limit \"max-rcpts\"; did you mean \"max-rcpt\"?" },
	{ "smtp timeout 2h\n", "t.conf:1:6: smtp timeout must be between 1s and 1h" },
	{ "smtp bare-newline normalise\n",
	  "t.conf:1:19: unknown smtp bare-newline option \"normalise\"; did you mean \"normalize\"?" },
	{ "smtp bare-newline\n", "t.conf:1:18: expected smtp bare-newline option, got end of line" },
	{ "smtp limit max-sessions 0\n", "t.conf:1:25: limit 0 out of range (1 to 2147483647)" },
	{ "smtp limit max-auth-failures -1\n", "t.conf:1:30: invalid limit \"-1\": expected a number" },
	{ "filter f phase connet match rdns junk\n",
	  "t.conf:1:16: unknown filter phase \"connet\"; did you mean \"connect\"?" },
	/* values: ports, sizes, delays, names */
	{ "listen on 127.0.0.1 port 70000\n", "t.conf:1:26: port 70000 out of range" },
	{ "listen on 127.0.0.1 port 0\n", "t.conf:1:26: port 0 out of range" },
	{ "listen on 127.0.0.1 port smtpx\n", "t.conf:1:26: invalid port \"smtpx\"" },
	{ "listen on ::1 inet4\n",
	  "t.conf:1:11: address \"::1\" is not in the address family asked for" },
	{ "listen on nosuchif0\n", "t.conf:1:11: no such interface or address \"nosuchif0\"" },
	{ "p = 70000\nlisten on 127.0.0.1 port $p\n", "t.conf:2:26: port 70000 out of range" },
	{ "listen on $nope\n", "t.conf:1:11: macro \"nope\" is not defined" },
	{ "listen on 127.0.0.1 tag 0123456789012345678901234567890123\n",
	  "t.conf:1:21: tag name too long (at most 31 bytes)" },
	{ "smtp max-message-size 10X\n", "t.conf:1:23: invalid size \"10X\"" },
	{ "smtp max-message-size 99999999999999999G\n",
	  "t.conf:1:23: size \"99999999999999999G\" out of range" },
	{ "smtp sub-addr-delim ab\n", "t.conf:1:21: subaddressing-delimiter must be one character" },
	{ "smtp sub-addr-delim @\n", "t.conf:1:21: sub-addr-delim uses invalid character" },
	{ "queue ttl 4\n",
	  "t.conf:1:11: invalid ttl delay \"4\": expected a number then s, m, h or d (30m, 4h, 2d)" },
	{ "queue ttl 4w\n",
	  "t.conf:1:11: invalid ttl delay \"4w\": expected a number then s, m, h or d (30m, 4h, 2d)" },
	{ "queue ttl\n", "t.conf:1:10: expected a delay after \"ttl\" (30m, 4h, 2d), got end of line" },
	{ "queue ttl 0s\n", "t.conf:1:11: ttl delay \"0s\" out of range" },
	{ "queue ttl 1.5h\n",
	  "t.conf:1:11: invalid ttl delay \"1.5h\": expected a number then s, m, h or d (30m, 4h, "
	  "2d)" },
	{ "action r relay ttl 5x\n",
	  "t.conf:1:20: invalid ttl delay \"5x\": expected a number then s, m, h or d (30m, 4h, 2d)" },
	{ "action r relay ttl 1h ttl 2h\n", "t.conf:1:23: ttl already specified for this action" },
	{ "action a maildir ttl 0d\n", "t.conf:1:22: ttl delay \"0d\" out of range" },
	{ "action a maildir ttl 99999999d\n", "t.conf:1:22: ttl delay \"99999999d\" out of range" },
	{ "bounce warn-interval 1h, 2x\n",
	  "t.conf:1:26: invalid bounce delay \"2x\": expected a number then s, m, h or d (30m, 4h, "
	  "2d)" },
	{ "bounce warn-interval 1h, 2h, 3h, 4h, 5h\n",
	  "t.conf:1:38: too many bounce delays (at most 4)" },
	{ "srs ttl 1h\n", "t.conf:1:9: srs ttl delay is too short (a day at least)" },
	{ "srs ttl 1001d\n",
	  "t.conf:1:9: srs ttl delay is too long (at most 1000 days: the timestamp wraps at 1024)" },
	{ "srs key \"\"\n", "t.conf:1:9: srs key is empty" },
	{ "srs key backup \"\"\n", "t.conf:1:16: srs key is empty" },
	{ "srs ttl \377 M\n", "t.conf:1:9: unexpected byte 0xff" },   /* fuzz_config */
	{ "mta limit max-conn-per-host x\n",
	  "t.conf:1:29: invalid limit \"x\": expected a number" },
	{ "mta limit max-conn-per-host 0\n", "t.conf:1:29: limit 0 out of range (1 to 100000)" },
	{ "mta limit max-rate 10/h\n", "t.conf:1:20: max-rate takes N/s or N/m, N from 1 to 100000" },
	{ "mta limit max-rate 0/s\n", "t.conf:1:20: max-rate takes N/s or N/m, N from 1 to 100000" },
	{ "mta limit for example.org max-rate 1/s\n",
	  "t.conf:1:15: expected \"domain\" after \"mta limit for\", got \"example.org\"" },
	{ "pki \"bad name!\" cert \"/x\"\n", "t.conf:1:5: not a valid domain name: bad name!" },
	{ "pki p dhe strong\n", "t.conf:1:11: invalid DHE keyword: strong" },
	{ "queue path \"\"\n", "t.conf:1:12: queue path is empty" },
	{ "action r relay host smtp://h:99999\n", "t.conf:1:21: port 99999 out of range" },
	{ "action r relay host smtp://:25\n", "t.conf:1:21: relay URL \"smtp://:25\" has no host" },
	{ "action r relay host smtp://[::1\n", "t.conf:1:21: missing \"]\" in relay URL" },
	{ "action r relay host smtpx://h\n",
	  "t.conf:1:21: unknown relay scheme \"smtpx\"; did you mean \"smtp\"?" },
	{ "action r relay host lmtp://h\n", "t.conf:1:21: lmtp:// needs a port" },
	{ "action r maildir \"\"\n", "t.conf:1:18: maildir path is empty" },
	{ "action l lmtp \"nohost\"\n",
	  "t.conf:1:15: invalid lmtp destination \"nohost\": expected host:port or an absolute "
	  "socket path" },
	{ "action l lmtp \"[::1]\"\n",
	  "t.conf:1:15: invalid lmtp destination \"[::1]\": expected [address]:port" },
	{ "action l lmtp \":24\"\n", "t.conf:1:15: lmtp destination \":24\" has no host" },
	{ "action l lmtp \"h:0\"\n", "t.conf:1:15: port 0 out of range" },
	{ "action l lmtp \"h:24\" user u\n", "t.conf:1:22: user may not be specified for lmtp" },
	{ "action a maildir \"/m/%{rcpt.usr}\"\n",
	  "t.conf:1:18: unknown format token \"%{rcpt.usr}\"; did you mean \"%{rcpt.user}\"?" },
	{ "action a maildir \"/m/%{rcpt.user:lower}\"\n",
	  "t.conf:1:18: unknown format modifier \"lower\"" },
	{ "action a maildir \"/m/%{rcpt.user\"\n", "t.conf:1:18: unterminated \"%{\" in a format" },
	{ "action a mda \"/bin/x %{rcpt[a:b]}\"\n",
	  "t.conf:1:14: invalid slice \"[a:b]\" in a format" },
	{ "admd \"a\tb\"\n", "t.conf:1:6: not a valid admd" },
	{ "include \"nope.conf\"\n",
	  "t.conf:1:9: cannot read \"/base/nope.conf\": No such file or directory" },
	{ "table t file:/nonexistent/x\n",
	  "t.conf:1:9: cannot open table file \"/nonexistent/x\": No such file or directory" },
	{ "table t \"/nonexistent/y\"\n",
	  "t.conf:1:9: cannot open table file \"/nonexistent/y\": No such file or directory" },
	{ "table d db:/nonexistent/domains.db\n",
	  "t.conf:1:9: cannot open table file \"/nonexistent/domains.db\": No such file or directory" },
	/* listen checks (OpenSMTPD create_if_listener and the option table) */
	{ "listen on 192.0.2.1 auth\n", "t.conf:1:21: auth requires tls, tls-require or smtps "
	  "(or a loopback address: 192.0.2.1 is not one)" },
	{ PKI "listen on 127.0.0.1 pki p\n", "t.conf:2:21: pki requires tls, tls-require or smtps" },
	{ "listen on 127.0.0.1 tls smtps\n",
	  "t.conf:1:25: \"tls\" and \"smtps\" are mutually exclusive" },
	{ "listen on 127.0.0.1 smtps verify tls-require\n",
	  "t.conf:1:34: \"smtps\" and \"tls-require\" are mutually exclusive" },
	{ "listen on 127.0.0.1 tls tls-require\n", "t.conf:1:25: TLS mode already specified" },
	{ "listen on 127.0.0.1 tls auth-optional auth\n", "t.conf:1:39: auth already specified" },
	{ "listen on 127.0.0.1 port 25 port 26\n", "t.conf:1:29: port already specified" },
	{ "listen on 127.0.0.1 tag a tag b\n", "t.conf:1:27: tag already specified" },
	{ "listen on 127.0.0.1 inet4 inet6\n", "t.conf:1:27: address family already specified" },
	{ "listen on 127.0.0.1 mask-src mask-src\n", "t.conf:1:30: mask-src already specified" },
	{ "listen on socket\nlisten on socket\n", "t.conf:2:11: socket listener already configured" },
	{ "listen on socket port 25\n", "t.conf:1:18: \"listen on socket\" does not take \"port\"" },
	/* objects declared before use */
	{ "match for any action a\naction a maildir\n",
	  "t.conf:1:22: action \"a\" is used before its declaration at line 2" },
	{ "action a maildir\nmatch for domain <d> action a\ntable d { x }\n",
	  "t.conf:2:18: table \"d\" is used before its declaration at line 3" },
	{ "listen on 127.0.0.1 tls pki p\n" PKI OK_TAIL,
	  "t.conf:1:29: pki \"p\" is used before its declaration at line 2" },
	{ "listen on 127.0.0.1 filter f\nfilter f proc-exec \"x\"\n" OK_TAIL,
	  "t.conf:1:28: filter \"f\" is used before its declaration at line 2" },
	{ "filter f proc p\nproc p \"x\"\n" OK_TAIL,
	  "t.conf:1:15: processor \"p\" is used before its declaration at line 2" },
	{ "action m mda \"/bin/m %{mda}\"\n" OK_TAIL,
	  "t.conf:1:14: %{mda} stands for the command an mda wrapper wraps: only in "
	  "\"mda wrapper\" commands" },
	{ "mda wrapper w \"/bin/w %{mda} %{sender.dom}\"\n" OK_TAIL,
	  "t.conf:1:15: unknown format token \"%{sender.dom}\"; did you mean \"%{sender.domain}\"?" },
	{ "action w maildir wrapper x\nmda wrapper x \"/bin/w\"\n" OK_TAIL,
	  "t.conf:1:26: mda wrapper \"x\" is used before its declaration at line 2" },
	{ "listen on 127.0.0.1 tls ca c\n" OK_TAIL, "t.conf:1:28: unknown ca \"c\"" },
	{ "action r relay pki q\n" PKI OK_TAIL, "t.conf:1:20: unknown pki \"q\"" },
	{ "table domains { x }\n" OK_TAIL "match for domain <domians> action a\n",
	  "t.conf:4:18: unknown table \"domians\"; did you mean \"domains\"?" },
	{ "action \"local\" maildir\nmatch for any action \"locla\"\n",
	  "t.conf:2:22: unknown action \"locla\"; did you mean \"local\"?" },
	{ "match from any for any action foo\n", "t.conf:1:31: unknown action \"foo\"" },
	{ OK_TAIL "match from src <nets> for any action a\n", "t.conf:3:16: unknown table \"nets\"" },
	/* reserved words are keywords, not names, unless quoted */
	{ "action relay relay\n",
	  "t.conf:1:8: \"relay\" is a reserved word: quote it to use it as an action name" },
	{ "table local { a }\n",
	  "t.conf:1:7: \"local\" is a reserved word: quote it to use it as a table name" },
	{ "action \"local\" maildir\nmatch for any action local\n",
	  "t.conf:2:22: \"local\" is a reserved word: quote it to use it as an action name" },
	{ OK_TAIL "match for domain <alias> action a\n",
	  "t.conf:3:19: \"alias\" is a reserved word: quote it to use it as a table name after \"<\"" },
	{ "filter tls proc-exec \"x\"\n",
	  "t.conf:1:8: \"tls\" is a reserved word: quote it to use it as a filter name" },
	/* each criterion at most once per rule */
	{ "match from any from local action a\n",
	  "t.conf:1:16: from already specified for this rule" },
	{ "match for any for\\\n  local action a\n",
	  "t.conf:1:15: for already specified for this rule" },
	{ "match tag a tag b action a\n", "t.conf:1:13: tag already specified for this rule" },
	{ "match helo a !helo b action a\n", "t.conf:1:15: helo already specified for this rule" },
	{ "match mail-from a from mail-from b action a\n",
	  "t.conf:1:19: mail-from already specified for this rule" },
	{ "match rcpt-to a for rcpt-to b action a\n",
	  "t.conf:1:17: rcpt-to already specified for this rule" },
	{ "match tls !tls action a\n", "t.conf:1:12: tls already specified for this rule" },
	{ "match from auth auth action a\n", "t.conf:1:17: auth already specified for this rule" },
	{ "match from rdns from any action a\n", "t.conf:1:17: from already specified for this rule" },
	/* action options */
	{ "action a maildir alias <t>\n", "t.conf:1:24: unknown table \"t\"" },
	{ "table t { a = b }\naction x maildir alias <t> virtual <t>\n",
	  "t.conf:2:28: \"alias\" and \"virtual\" are mutually exclusive" },
	{ "table t { a = b }\naction x maildir alias <t> alias <t>\n",
	  "t.conf:2:28: alias already specified for this action" },
	{ "action x mbox user bob\n", "t.conf:1:15: user may not be specified for mbox" },
	{ "action x forward-only user bob\n",
	  "t.conf:1:23: user may not be specified for forward-only" },
	{ "action r relay backup host smtp://h\n",
	  "t.conf:1:23: \"backup\" and \"host\" are mutually exclusive" },
	{ "table d { a = b }\naction r relay domain <d> backup mx x\n",
	  "t.conf:2:27: \"domain\" and \"backup\" are mutually exclusive" },
	{ "action r relay host smtp://h host smtp://i\n",
	  "t.conf:1:30: host already specified for this action" },
	{ "action r relay auth <s>\n", "t.conf:1:16: auth may not be specified without host" },
	{ "action r relay host smtp://bob@h\n",
	  "t.conf:1:16: a relay host with a label (label@host) needs \"auth <table>\"" },
	{ "action r relay srs\n", "t.conf:1:16: srs needs an \"srs key\" declared before this action" },
	{ "table t { a }\naction x maildir alias <t>\n",
	  "t.conf:2:24: table \"t\" holds a list and cannot be used for alias lookups (key = value "
	  "pairs needed)" },
	{ "action x maildir virtual { a, b }\n",
	  "t.conf:1:26: table { ... } holds a list and cannot be used for virtual lookups (key = "
	  "value pairs needed)" },
	{ "table m { a = b }\naction r relay src <m>\n",
	  "t.conf:2:20: table \"m\" holds key = value pairs and cannot be used for src lookups" },
	{ "action r relay src { 10.0.0.1, mx.example }\n",
	  "t.conf:1:20: \"mx.example\" is not an address or network" },
	{ "table ub { vbob = \"2000:2000:/var/vmail/bob\", root = \"0:0:/root\" }\n"
	  "action x maildir userbase <ub>\n" OK_TAIL,
	  "t.conf:2:27: userbase table \"ub\": the entry for \"root\" (line 1) is not uid:gid:/home "
	  "(numeric ids, not 0)" },
	{ "action x maildir userbase { vbob = \"2000:x:/h\" }\n" OK_TAIL,
	  "t.conf:1:27: userbase table { ... }: the entry for \"vbob\" (line 1) is not "
	  "uid:gid:/home (numeric ids, not 0)" },
	{ "action x maildir userbase <localhost>\n",
	  "t.conf:1:27: builtin table <localhost> cannot be used for userbase lookups" },
	/* match tables */
	{ OK_TAIL "match from src \"foo\" for any action a\n",
	  "t.conf:3:16: \"foo\" is not an address or network" },
	{ "table n { 10.0.0.0/8, mx.example }\n" OK_TAIL "match from src <n> action a\n",
	  "t.conf:4:16: \"mx.example\" in table \"n\" is not an address or network" },
	{ "table m { a = b }\n" OK_TAIL "match for domain <m> action a\n",
	  "t.conf:4:18: table \"m\" holds key = value pairs and cannot be used in a match" },
	{ OK_TAIL "match from src <localnames> action a\n",
	  "t.conf:3:16: builtin table <localnames> cannot be used for from lookups" },
	{ OK_TAIL "match mail-from <anyhost> action a\n",
	  "t.conf:3:17: builtin table <anyhost> cannot be used for mail-from lookups" },
	/* pki and ca files */
	{ "pki p key \"/k\"\n" OK_TAIL, "t.conf:1:5: pki \"p\" has no certificate (cert \"file\")" },
	{ "pki p cert \"%D/cert.pem\"\n" OK_TAIL, "t.conf:1:5: pki \"p\" has no key (key \"file\")" },
	{ "pki p cert \"/nonexistent.crt\" key \"/k\"\n" OK_TAIL,
	  "t.conf:1:12: cannot read certificate \"/nonexistent.crt\": No such file or directory" },
	{ "pki p cert \"%D/key.pem\" key \"%D/key.pem\"\n" OK_TAIL,
	  "t.conf:1:12: \"%D/key.pem\" is not a PEM certificate" },
	{ "pki p key \"%D/cert.pem\" cert \"%D/cert.pem\"\n" OK_TAIL,
	  "t.conf:1:11: \"%D/cert.pem\" is not a PEM private key" },
	{ "ca c cert \"%D/nope.pem\"\n" OK_TAIL,
	  "t.conf:1:11: cannot read certificate \"%D/nope.pem\": No such file or directory" },
	/* only regular files of bounded size are read: a FIFO or device named
	 * by include, a table or a pki neither hangs the load nor fills memory */
	{ "include \"%D/fifo\"\n", "t.conf:1:9: cannot read \"%D/fifo\": not a regular file" },
	{ "include \"/dev/zero\"\n", "t.conf:1:9: cannot read \"/dev/zero\": not a regular file" },
	{ "include \"%D\"\n", "t.conf:1:9: cannot read \"%D\": Is a directory" },
	{ "table t file:%D/fifo\n",
	  "t.conf:1:9: cannot open table file \"%D/fifo\": not a regular file" },
	{ "table t file:/dev/zero\n",
	  "t.conf:1:9: cannot open table file \"/dev/zero\": not a regular file" },
	{ "table t file:%D/huge\n", "t.conf:1:9: cannot open table file \"%D/huge\": File too large" },
	{ "pki p cert \"%D/fifo\" key \"%D/key.pem\"\n" OK_TAIL,
	  "t.conf:1:12: cannot read certificate \"%D/fifo\": not a regular file" },
	{ "pki p key \"/dev/stdin\" cert \"%D/cert.pem\"\n" OK_TAIL,
	  "t.conf:1:11: cannot read private key \"/dev/stdin\": not a regular file" },
	/* declarations */
	{ "mda wrapper w \"x\"\nmda wrapper w \"y\"\n",
	  "t.conf:2:13: mda wrapper \"w\" already declared at line 1" },
	{ "proc p \"x\"\nproc p \"y\"\n", "t.conf:2:6: processor \"p\" already declared at line 1" },
	{ "filter f proc-exec \"x\"\nfilter f proc-exec \"y\"\n",
	  "t.conf:2:8: filter \"f\" already declared at line 1" },
	{ "filter a proc-exec \"x\"\nfilter c chain { a }\nfilter d chain { a, c }\n" OK_TAIL,
	  "t.conf:3:21: filter chain \"c\" cannot be part of a chain" },
	{ "filter a proc-exec \"x\"\nfilter c chain { a, a }\n",
	  "t.conf:2:21: filter \"a\" is twice in this chain" },
	{ "filter f proc-exec \"x\" user a user b\n",
	  "t.conf:1:31: user already specified for this processor" },
	{ "filter f phase connect match helo x junk\n",
	  "t.conf:1:30: \"helo\" cannot be checked in phase connect" },
	{ "filter f phase commit match rdns junk\n",
	  "t.conf:1:34: \"junk\" is not allowed in phase commit" },
	/* nothing to do */
	{ "listen on 127.0.0.1\n", "t.conf:2:1: no match rules, nothing to do" },
	{ "", "t.conf:1:1: no match rules, nothing to do" },
};

static char fixture[256];

static void
errors_setup(void)
{
	char path[512];

	helper_fixture(fixture, sizeof fixture);
	snprintf(path, sizeof path, "%s/fifo", fixture);
	cr_assert_eq(mkfifo(path, 0600), 0);
	snprintf(path, sizeof path, "%s/huge", fixture);   /* sparse, past 64 MiB */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 65 << 20), 0);
	close(fd);
}

static void
errors_teardown(void)
{
	helper_fixture_remove(fixture);
}

Test(errors, each_error_has_its_position, .init = errors_setup, .fini = errors_teardown)
{
	char got[RULES_ERROR_BYTES_MAX + RULES_PATH_BYTES_MAX], text[2048], want[1024];
	struct rules_config *c;
	size_t i;

	for (i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
		helper_subst(error_cases[i].text, fixture, text, sizeof text);
		helper_subst(error_cases[i].want, fixture, want, sizeof want);
		c = helper_load(text, got, sizeof got);
		cr_expect_null(c, "case %zu loaded, want error %s", i, want);
		rules_free(c);
		cr_expect_str_eq(got, want, "case %zu:\n%s got  %s\n want %s", i, text, got, want);
	}
}

Test(errors, format_without_a_place)
{
	struct rules_error err = { .file = "/etc/smtpd.conf", .message = "cannot read" };
	char buf[128];

	rules_error_format(&err, buf, sizeof buf);
	cr_expect_str_eq(buf, "/etc/smtpd.conf: cannot read");
	rules_error_format_long(&err, buf, sizeof buf);
	cr_expect_str_eq(buf, "/etc/smtpd.conf: cannot read", "no place, no caret");
	err.line = 3;
	err.column = 9;
	rules_error_format(&err, buf, sizeof buf);
	cr_expect_str_eq(buf, "/etc/smtpd.conf:3:9: cannot read");
}

Test(errors, missing_config_file)
{
	struct rules_error err;
	char buf[1024];

	cr_assert_null(rules_load_file("/nonexistent/smtpd.conf", &helper_params, &err));
	rules_error_format(&err, buf, sizeof buf);
	cr_expect_str_eq(buf, "/nonexistent/smtpd.conf: cannot read \"/nonexistent/smtpd.conf\": "
	                      "No such file or directory");
}

/* The long form: the first line as rules_error_format(), then the line and
 * a caret under the column (tabs kept so it lines up). */
Test(errors, long_form_shows_the_line_and_a_caret)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "listen on 127.0.0.1\naction local maildir\n",
		  "t.conf:2:8: \"local\" is a reserved word: quote it to use it as an action name\n"
		  "  action local maildir\n"
		  "         ^" },
		{ "action a maildri\n",
		  "t.conf:1:10: unknown action type \"maildri\"; did you mean \"maildir\"?\n"
		  "  action a maildri\n"
		  "           ^" },
		{ "\tlisten on 127.0.0.1 \\\n\t\ttsl\n",
		  "t.conf:2:3: unknown listen option \"tsl\"; did you mean \"tls\"?\n"
		  "  \t\ttsl\n"
		  "  \t\t^" },
		{ "p = \"70000\"\nlisten on 127.0.0.1 port $p\n",
		  "t.conf:2:26: port 70000 out of range\n"
		  "  listen on 127.0.0.1 port $p\n"
		  "                           ^" },
		{ "listen on 127.0.0.1\r\n", "t.conf:2:1: no match rules, nothing to do" },
	};
	struct rules_error err;
	char buf[2048];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cr_assert_null(rules_load_string("t.conf", cases[i].text, &helper_params, &err));
		rules_error_format_long(&err, buf, sizeof buf);
		cr_expect_str_eq(buf, cases[i].want, "case %zu:\ngot\n%s\nwant\n%s", i, buf,
		                 cases[i].want);
	}
}

Test(errors, long_form_in_an_included_file, .init = errors_setup, .fini = errors_teardown)
{
	char text[512], want[1024], buf[2048];
	struct rules_error err;

	helper_put(fixture, "inc.conf", "# included\n  action x mbx\n");
	snprintf(text, sizeof text, "include \"%s/inc.conf\"\n" OK_TAIL, fixture);
	cr_assert_null(rules_load_string("t.conf", text, &helper_params, &err));
	rules_error_format_long(&err, buf, sizeof buf);
	snprintf(want, sizeof want, "%s/inc.conf:2:12: unknown action type \"mbx\"; did you mean "
	         "\"mbox\"?\n    action x mbx\n             ^", fixture);
	cr_expect_str_eq(buf, want);
}
