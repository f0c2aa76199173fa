/*
 * rules/default_config.c - the configuration used when no smtpd.conf is
 * found (DESIGN.md): loopback port 2525 only, local mail into maildirs under
 * ./mail, the spool in ./spool, nothing relayed. Relative paths are resolved
 * against rules_load_params.base_dir (the folder the daemon started in).
 */
#include "rules/rules.h"

const char rules_default_config[] =
	"# ringmta built-in configuration: used when no smtpd.conf is found.\n"
	"listen on 127.0.0.1 port 2525\n"
	"queue path \"./spool\"\n"
	"action \"local\" maildir \"./mail/%{rcpt.user}\"\n"
	"# Mail for this machine (localhost or its name) only; nothing is relayed.\n"
	"match from any for local action \"local\"\n";
