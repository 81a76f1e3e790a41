// SPDX-License-Identifier: MIT
/*
 * The race fuzzer of /dev/zcrx: three threads make the same calls (setup,
 * attach, detach, wake, stats, claim, send, poll, recv) on three contexts
 * and eight sockets while the main thread swaps contexts and sockets
 * under them with dup2(), feeds data, urgent data, FIN and RST.  Every
 * answer must be one the contract allows (tests/lib/oracle.c) and nothing
 * may be left afterwards.
 */
#include <poll.h>
#include <pthread.h>

#include "fuzz.h"

#define RACE_CTX	3
#define RACE_SOCK	8

struct race {
	int		ctxfd[RACE_CTX];
	int		sockfd[RACE_SOCK];
	int		peer[RACE_SOCK];	/* chaos thread only */
	int		stop;
	double		until;
	struct stats_acc acc;
	pthread_mutex_t	lock;			/* acc */
	unsigned long	calls;
};

static void *race_thread(void *arg)
{
	struct race *rc = arg;
	struct frng lr = { .s = frng_next(&rng) };
	unsigned long n = 0;
	uint64_t mine[16];	/* offsets this thread claimed (any context) */
	unsigned int nmine = 0;

	while (!__atomic_load_n(&rc->stop, __ATOMIC_RELAXED)) {
		int c = rc->ctxfd[frng_below(&lr, RACE_CTX)];
		int s = rc->sockfd[frng_below(&lr, RACE_SOCK)];
		unsigned int op = frng_below(&lr, 100), allowed, kind;
		union fargs u;
		char what[64];
		long r;

		memset(&u, 0, sizeof(u));
		if (op < 6) {
			kind = K_SETUP;
			setup_args(&u.s, 1 + frng_below(&lr, 16), 4096);
			u.s.flags = frng_below(&lr, 2) ? SETUP_FLAGS_OK : 0;
			r = rioctl(c, ZCRXDEV_IOC_SETUP, &u.s);
			allowed = EB(E_EXIST) | EB(E_NOMEM);
		} else if (op < 36) {
			kind = K_ATTACH;
			u.at.fd = s;
			u.at.tag = frng_below(&lr, RACE_SOCK);
			r = rioctl(c, ZCRXDEV_IOC_ATTACH, &u.at);
			allowed = EB(E_NXIO) | EB(E_BUSY) | EB(E_NOTCONN);
		} else if (op < 56) {
			kind = K_DETACH;
			u.d.fd = s;
			r = rioctl(c, ZCRXDEV_IOC_DETACH, &u.d);
			allowed = EB(E_NXIO) | EB(E_NOENT);
		} else if (op < 64) {
			kind = K_WAKE;
			r = rioctl(c, ZCRXDEV_IOC_WAKE, NULL);
			allowed = EB(E_NXIO);
		} else if (op < 72) {
			kind = K_STATS;
			r = rioctl(c, ZCRXDEV_IOC_STATS, &u.st);
			allowed = EB(E_NXIO);
			if (!r && !stats_out_ok(&u.st, 16, 0)) {
				pthread_mutex_lock(&rc->lock);
				acc_bad_out(&rc->acc, "free=%llu pending=%llu of <= 16",
					    (unsigned long long)u.st.bufs_free,
					    (unsigned long long)u.st.bufs_pending);
				pthread_mutex_unlock(&rc->lock);
			}
		} else if (op < 78) {
			uint64_t offs[4];

			kind = K_CLAIM;
			u.cl.count = 1 + frng_below(&lr, 4);
			u.cl.offs = (uintptr_t)offs;
			r = rioctl(c, ZCRXDEV_IOC_CLAIM, &u.cl);
			allowed = EB(E_NXIO) | EB(E_NOBUFS);
			for (op = 0; r > 0 && op < r; op++)
				mine[nmine++ & 15] = offs[op];
		} else if (op < 88) {
			/*
			 * Claimed in this context or another, maybe returned by
			 * its teardown: EPERM and EINVAL are fair answers.
			 */
			kind = K_SEND;
			u.sd.fd = s;
			u.sd.off = nmine ? mine[frng_below(&lr, nmine < 16 ? nmine : 16)] +
					   frng_below(&lr, 4096) : frng_below(&lr, 65536);
			u.sd.len = 1 + frng_below(&lr, 4096 - u.sd.off % 4096);
			u.sd.tag = n;
			r = rioctl(c, ZCRXDEV_IOC_SEND, &u.sd);
			allowed = EB(E_NXIO) | EB(E_PERM) | EB(E_INVAL) | EB(E_NOBUFS) |
				  E_SENDERR;
		} else if (op < 94) {
			struct pollfd pf = { .fd = c, .events = POLLIN };

			poll(&pf, 1, 0);
			continue;
		} else {
			/* Documented as wrong, must still be harmless. */
			char buf[4096];

			recv(s, buf, sizeof(buf), MSG_DONTWAIT | (op & 1 ? MSG_PEEK : 0));
			continue;
		}
		n++;
		pthread_mutex_lock(&rc->lock);
		snprintf(what, sizeof(what), "race %s", kname[kind]);
		acc_result(&rc->acc, kind, r, false, what);
		if (r < 0 && !in_mask(allowed, r))
			acc_mismatch(&rc->acc, "%s -> %s", what,
				     strerrorname_np((int)-r) ?: "?");
		pthread_mutex_unlock(&rc->lock);
	}
	pthread_mutex_lock(&rc->lock);
	rc->calls += n;
	pthread_mutex_unlock(&rc->lock);
	return NULL;
}

/* Swap contexts and sockets under the racing threads (dup2 is atomic). */
static void race_chaos(struct race *rc)
{
	static uint8_t junk[8192];
	unsigned long swaps = 0;

	while (now_s() < rc->until) {
		unsigned int op = frng_below(&rng, 10), i;
		int f, c, s;

		if (op < 2) {
			i = frng_below(&rng, RACE_CTX);
			f = zcrx_open_dev();
			if (f >= 0 && frng_below(&rng, 2)) {
				struct zcrxdev_setup st;

				setup_args(&st, 16, 4096);
				xioctl(f, ZCRXDEV_IOC_SETUP, &st);
			}
			if (f >= 0) {
				dup2(f, rc->ctxfd[i]);	/* the old context goes */
				close(f);
			}
			swaps++;
		} else if (op < 4) {
			i = frng_below(&rng, RACE_SOCK);
			if (!tcp_pair(frng_below(&rng, 2) ? AF_INET6 : AF_INET, &c, &s)) {
				fcntl(s, F_SETFL, O_NONBLOCK);	/* SEND never blocks */
				dup2(s, rc->sockfd[i]);	/* closes an attached socket */
				close(s);
				if (rc->peer[i] >= 0)
					close(rc->peer[i]);
				fcntl(c, F_SETFL, O_NONBLOCK);
				rc->peer[i] = c;
			}
			swaps++;
		} else if (op < 8) {
			i = frng_below(&rng, RACE_SOCK);
			if (rc->peer[i] >= 0)
				send(rc->peer[i], junk, 1 + frng_below(&rng, sizeof(junk)),
				     MSG_DONTWAIT);
		} else if (op < 9) {
			i = frng_below(&rng, RACE_SOCK);
			if (rc->peer[i] >= 0) {
				switch (frng_below(&rng, 3)) {
				case 0:
					send(rc->peer[i], "u", 1, MSG_OOB | MSG_DONTWAIT);
					break;
				case 1:
					shutdown(rc->peer[i], SHUT_WR);	/* EOF */
					break;
				default: {
					struct linger lg = { 1, 0 };	/* RST */

					setsockopt(rc->peer[i], SOL_SOCKET, SO_LINGER,
						   &lg, sizeof(lg));
					close(rc->peer[i]);
					rc->peer[i] = -1;
				}
				}
			}
		} else {
			i = frng_below(&rng, RACE_SOCK);
			shutdown(rc->sockfd[i], SHUT_RD);
		}
		usleep(frng_below(&rng, 2000));
	}
	tap_diag("race: %lu swaps of contexts/sockets", swaps);
}

static void test_race(void)
{
	const double secs = 10;
	struct race *rc = calloc(1, sizeof(*rc));
	pthread_t th[3];
	char why[WHY_LEN];
	int i, c, s;

	if (!rc)
		return;
	pthread_mutex_init(&rc->lock, NULL);
	for (i = 0; i < RACE_CTX; i++) {
		struct zcrxdev_setup st;

		rc->ctxfd[i] = zcrx_open_dev();
		setup_args(&st, 16, 4096);
		xioctl(rc->ctxfd[i], ZCRXDEV_IOC_SETUP, &st);
	}
	for (i = 0; i < RACE_SOCK; i++) {
		rc->sockfd[i] = -1;
		rc->peer[i] = -1;
		if (!tcp_pair(i & 1 ? AF_INET6 : AF_INET, &c, &s)) {
			fcntl(c, F_SETFL, O_NONBLOCK);
			fcntl(s, F_SETFL, O_NONBLOCK);
			rc->sockfd[i] = s;
			rc->peer[i] = c;
		}
	}
	rc->until = now_s() + secs;
	for (i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, race_thread, rc);
	race_chaos(rc);
	__atomic_store_n(&rc->stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	tap_diag("race: %lu calls from 3 threads in %.0f s", rc->calls, secs);
	acc_print(&rc->acc, "race");
	CHECK("race_only_documented_errnos", !rc->acc.undoc && !rc->acc.mismatch,
	      "%lu undocumented (%s), %lu not allowed (%s)", rc->acc.undoc,
	      rc->acc.undoc_ex, rc->acc.mismatch, rc->acc.mismatch_ex[0]);
	CHECK("race_stats_sane", !rc->acc.bad_out, "%lu bad: %s", rc->acc.bad_out,
	      rc->acc.bad_out_ex);
	CHECK("race_made_progress", rc->calls > 1000 && rc->acc.hist[K_ATTACH][0] &&
	      rc->acc.hist[K_DETACH][0] &&
	      rc->acc.hist[K_CLAIM][0] && rc->acc.hist[K_SEND][0],
	      "calls=%lu attach ok=%lu detach ok=%lu claim ok=%lu send ok=%lu",
	      rc->calls, rc->acc.hist[K_ATTACH][0], rc->acc.hist[K_DETACH][0],
	      rc->acc.hist[K_CLAIM][0], rc->acc.hist[K_SEND][0]);
	for (i = 0; i < RACE_CTX; i++)
		close(rc->ctxfd[i]);
	for (i = 0; i < RACE_SOCK; i++) {
		close(rc->sockfd[i]);
		if (rc->peer[i] >= 0)
			close(rc->peer[i]);
	}
	CHECK("race_no_leak", gauges_zero(5000, why, sizeof(why)), "%s", why);
	pthread_mutex_destroy(&rc->lock);
	free(rc);
}


int main(void)
{
	return fuzz_main(test_race, false, false);
}
