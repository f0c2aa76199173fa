/*
 * core/mx_backup.h - `relay backup [mx NAME]` (smtpd.conf(5)): acting as a
 * backup mail exchanger, only the MX hosts preferred over ourselves are
 * tried. Pure: no I/O.
 *
 *   mx_backup_filter()  keeps, in order, the addresses of addrs whose MX
 *                       preference is lower (better) than that of the MX
 *                       host named name (compared without case, a
 *                       trailing dot ignored); returns how many are left.
 *                       When name is not among the MX hosts, all stay
 *                       (we are not one of them: no loop) and *found is 0,
 *                       else 1. 0 left: we are the most preferred MX.
 */
#ifndef CORE_MX_BACKUP_H
#define CORE_MX_BACKUP_H

#include "core/dns.h"

unsigned mx_backup_filter(struct dns_addr *addrs, unsigned n, const char *name, int *found);

#endif
