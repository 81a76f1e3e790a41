// SPDX-License-Identifier: MIT
/*
 * The ioctl fuzzer of /dev/zcrx: a million calls (fewer on the debug
 * kernel) with random command numbers, valid numbers with mangled
 * size/direction bits, boundary values in every struct field, every kind
 * of fd for attach/detach/send, contexts with and without a pool, and bad
 * pointers.  Every result is checked against what the UAPI header
 * documents for that call (tests/lib/oracle.c), every errno is counted,
 * and the run is reproducible: the seed is printed, ZCRX_FUZZ_SEED
 * overrides it.  First, a refused attach must leave no trace.
 */
#include <sys/eventfd.h>

#include "fuzz.h"

/* ---- the world the fuzzer calls into ---- */

#define NCTX	4
#define NSOCK	40

struct fctx {
	int		fd;
	bool		pool;
	unsigned int	nr_bufs, buf_size, flags;
	uint64_t	pages;
	unsigned int	gen;
	uint8_t		*claimed;	/* [nr_bufs]: claimed, never returned */
	unsigned int	nclaimed;
};

struct fsock {
	int		fd;
	int		kind;
	int		peer;	/* fd written to feed it, or -1 */
	int		att;	/* context it is attached to, or -1 */
	unsigned int	att_gen;
};

static struct fctx ctx[NCTX];
static struct fsock sk[NSOCK];
static int nsk;
static uint64_t outstanding_pages;	/* pool pages our contexts hold */

static uint64_t pool_bytes(const struct fctx *x)
{
	return (uint64_t)x->nr_bufs * x->buf_size;
}

static bool sock_attached(const struct fsock *s)
{
	return s->att >= 0 && ctx[s->att].gen == s->att_gen;
}

/* Every fd of the world is non-blocking: a SEND must never hang us. */
static void add_sock(int fd, int kind, int peer)
{
	if (fd < 0 || nsk == NSOCK)
		return;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	sk[nsk].fd = fd;
	sk[nsk].kind = kind;
	sk[nsk].peer = peer;
	sk[nsk].att = -1;
	nsk++;
}

/* One connected pair; both ends are FK_TCP entries feeding each other. */
static void add_tcp_pair(int family)
{
	int c, s;

	if (tcp_pair(family, &c, &s))
		return;
	add_sock(s, FK_TCP, c);
	add_sock(c, FK_TCP, s);
}

static void make_world(void)
{
	struct linger lg = { 1, 0 };
	char path[64];
	int i, c, s, p[2], sv[2];

	nsk = 0;
	for (i = 0; i < 8; i++)
		add_tcp_pair(i & 1 ? AF_INET6 : AF_INET);
	if (!tcp_pair(AF_INET, &c, &s)) {
		shutdown(c, SHUT_WR);
		add_sock(s, FK_CLOSE_WAIT, -1);
		add_sock(c, FK_FIN_WAIT, -1);
	}
	if (!tcp_pair(AF_INET6, &c, &s)) {
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c);
		add_sock(s, FK_RESET, -1);
	}
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s >= 0 && listen(s, 4) == 0)
		add_sock(s, FK_LISTEN, -1);
	add_sock(socket(AF_INET6, SOCK_STREAM, 0), FK_UNCONN, -1);
	add_sock(socket(AF_INET, SOCK_DGRAM, 0), FK_UDP, -1);
	if (!socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		add_sock(sv[0], FK_UNIX, -1);
		add_sock(sv[1], FK_UNIX, -1);
	}
	add_sock(socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP), FK_MPTCP, -1);
	if (!pipe(p)) {
		add_sock(p[0], FK_PIPE, -1);
		add_sock(p[1], FK_PIPE, -1);
	}
	add_sock(open("/dev/null", O_RDWR), FK_DEVNULL, -1);
	add_sock(eventfd(0, 0), FK_EVENTFD, -1);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", sk[0].fd);
	add_sock(open(path, O_PATH), FK_OPATH, -1);
}

static void free_world(void)
{
	int i;

	for (i = 0; i < nsk; i++)
		close(sk[i].fd);
	nsk = 0;
}

static int find_sock(int fd)
{
	int i;

	for (i = 0; i < nsk; i++)
		if (sk[i].fd == fd)
			return i;
	return -1;
}

/* Context i has a pool now: remember its shape. */
static void ctx_has_pool(int i, unsigned int nr, unsigned int bsize, unsigned int flags)
{
	ctx[i].pool = true;
	ctx[i].nr_bufs = nr;
	ctx[i].buf_size = bsize;
	ctx[i].flags = flags;
	ctx[i].pages = (uint64_t)nr * bsize / 4096;
	ctx[i].claimed = calloc(nr, 1);
	ctx[i].nclaimed = 0;
	outstanding_pages += ctx[i].pages;
}

/* Close context i (its sockets are detached now) and open a fresh one. */
static void ctx_renew(int i, bool with_pool)
{
	struct zcrxdev_setup s;

	if (ctx[i].fd >= 0) {
		close(ctx[i].fd);
		if (ctx[i].pool)
			outstanding_pages -= ctx[i].pages;
	}
	free(ctx[i].claimed);
	memset(&ctx[i], 0, offsetof(struct fctx, gen));
	ctx[i].claimed = NULL;
	ctx[i].nclaimed = 0;
	ctx[i].fd = zcrx_open_dev();
	ctx[i].gen++;
	if (!with_pool)
		return;
	setup_args(&s, 1 + frng_below(&rng, 16), 4096 << frng_below(&rng, 5));
	s.flags = frng_below(&rng, 2) ? SETUP_FLAGS_OK : 0;
	if (!xioctl(ctx[i].fd, ZCRXDEV_IOC_SETUP, &s))
		ctx_has_pool(i, s.nr_bufs, s.buf_size, s.flags);
}

/* Replace a random connected pair (closing it detaches it if attached). */
static void renew_pair(void)
{
	int i = frng_below(&rng, 16), j, c, s;

	if (i >= nsk || sk[i].kind != FK_TCP)
		return;
	j = find_sock(sk[i].peer);
	if (j < 0)
		return;
	if (tcp_pair(frng_below(&rng, 2) ? AF_INET6 : AF_INET, &c, &s))
		return;
	close(sk[i].fd);
	close(sk[j].fd);
	fcntl(c, F_SETFL, O_NONBLOCK);
	fcntl(s, F_SETFL, O_NONBLOCK);
	sk[i].fd = s;
	sk[i].peer = c;
	sk[i].att = -1;
	sk[j].fd = c;
	sk[j].peer = s;
	sk[j].att = -1;
}

/* Some bytes (sometimes urgent data) towards a random connected socket. */
static void feed_data(void)
{
	static uint8_t junk[16384];
	int i = frng_below(&rng, nsk);

	if (sk[i].kind != FK_TCP || sk[i].peer < 0)
		return;
	if (!frng_below(&rng, 50))
		send(sk[i].peer, "!", 1, MSG_OOB | MSG_DONTWAIT);
	else
		send(sk[i].peer, junk, 1 + frng_below(&rng, sizeof(junk)),
		     MSG_DONTWAIT);
}


/* ---- argument memory ---- */

enum {
	P_GOOD, P_UNALIGNED, P_RO, P_STRADDLE, P_NULL, P_LOW, P_UNMAPPED,
	P_KERNEL, P_NONCANON, P_N
};

static uint8_t *arena;		/* two RW pages, then a PROT_NONE page */
static uint8_t *ro_page;
static uint8_t *gone_page;	/* unmapped */
static uint8_t *offs_area;	/* three RW pages, then PROT_NONE: CLAIM output */

static const uint64_t kaddr[] = { 0xffff888000000000ull, 0xffffffff81000000ull,
				  0xffffffffff600000ull, 0xfffffffffffff000ull };
static const uint64_t noncanon[] = { 0x8000000000000000ull, 0x0000800000000000ull,
				     0x00007ffffffff000ull };

struct argp {
	int	cls;
	void	*ptr;
	bool	readable, first4, writable;
};

/* One of the classes that point at nothing usable. */
static void *bad_ptr(int cls)
{
	switch (cls) {
	case P_NULL:
		return NULL;
	case P_LOW:
		return (void *)(uintptr_t)(8 + 8 * frng_below(&rng, 512));
	case P_UNMAPPED:
		return gone_page + 8 * frng_below(&rng, 256);
	case P_KERNEL:
		return (void *)(uintptr_t)kaddr[frng_below(&rng, 4)];
	default:
		return (void *)(uintptr_t)noncanon[frng_below(&rng, 3)];
	}
}

static int pick_class(void)
{
	unsigned int r = frng_below(&rng, 100);

	return r < 75 ? P_GOOD : r < 80 ? P_UNALIGNED : r < 84 ? P_RO :
	       r < 88 ? P_STRADDLE : P_NULL + frng_below(&rng, P_N - P_NULL);
}

/* Put the len bytes of arg where a random class says. */
static struct argp place_arg(const void *arg, size_t len)
{
	struct argp a = { .cls = pick_class() };

	switch (a.cls) {
	case P_GOOD:
		a.ptr = arena + 8 * frng_below(&rng, 64);
		break;
	case P_UNALIGNED:
		a.ptr = arena + 1 + frng_below(&rng, 63);
		break;
	case P_RO:
		a.ptr = ro_page + 64;
		mprotect(ro_page, 4096, PROT_READ | PROT_WRITE);
		memcpy(a.ptr, arg, len);
		mprotect(ro_page, 4096, PROT_READ);
		a.readable = true;
		a.first4 = true;
		return a;
	case P_STRADDLE:	/* the first half readable, the rest not */
		a.ptr = arena + 8192 - ((len / 2) & ~7ul);
		memcpy(a.ptr, arg, (len / 2) & ~7ul);
		a.first4 = true;
		return a;
	default:
		a.ptr = bad_ptr(a.cls);
		return a;
	}
	memcpy(a.ptr, arg, len);
	a.readable = true;
	a.first4 = true;
	a.writable = true;
	return a;
}


/* ---- the ioctl fuzzer ---- */

/* A command number: valid, mangled, random, or valid with garbage above bit 31. */
static unsigned long gen_cmd(void)
{
	/* Weights: SETUP ATTACH DETACH WAKE STATS CLAIM SEND RECV PINS. */
	static const unsigned int w[K_OTHER] = { 8, 18, 12, 8, 8, 6, 12, 6, 4 };
	unsigned int r, c, i, tot = 0;
	unsigned long cmd;

	for (i = 0; i < K_OTHER; i++)
		tot += w[i];
	do {
		r = frng_below(&rng, 100);
		if (r < 62) {
			r = frng_below(&rng, tot);
			for (i = 0; r >= w[i]; i++)
				r -= w[i];
			cmd = valid_cmds[i];
		} else if (r < 74) {	/* mangled direction, size or number */
			c = valid_cmds[frng_below(&rng, K_OTHER)];
			switch (frng_below(&rng, 3)) {
			case 0:
				c ^= (1u + frng_below(&rng, 3)) << _IOC_DIRSHIFT;
				break;
			case 1:
				c = (c & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT)) |
				    ((unsigned int)fval(14) << _IOC_SIZESHIFT);
				break;
			default:
				c = (c & ~0xffu) | (unsigned int)frng_below(&rng, 256);
			}
			cmd = c;
		} else if (r < 88) {
			cmd = (unsigned int)frng_next(&rng);
		} else if (r < 94) {
			cmd = _IOC(frng_below(&rng, 4), ZCRXDEV_IOC_MAGIC,
				   frng_below(&rng, 256), frng_below(&rng, 1 << 14));
		} else {		/* the kernel only sees the low 32 bits */
			cmd = valid_cmds[frng_below(&rng, K_OTHER)] |
			      (frng_next(&rng) << 32 | 1ul << 32);
		}
	} while (vfs_cmd((unsigned int)cmd));
	return cmd;
}


/* The fd field of attach/detach/send: mostly from the world, sometimes numbers. */
static int gen_fd(int c)
{
	static const int nums[] = { -1, -2, INT32_MIN, INT32_MAX, 900, 1023, 1024,
				    4096, 1 << 20, 0, 1, 2 };
	unsigned int r = frng_below(&rng, 100);

	if (r < 70 && nsk)
		return sk[frng_below(&rng, nsk)].fd;
	if (r < 80)
		return ctx[frng_below(&rng, NCTX)].fd;
	if (r < 85)
		return ctx[c].fd;
	if (r < 95)
		return nums[frng_below(&rng, ARRAY_SIZE(nums))];
	return (int)fval(32);
}


/* What the oracle needs to know of fd (world entry si, or -1) in context c. */
static struct oracle_fd fd_info(int fd, int si, int c)
{
	struct oracle_fd f = { .kind = FK_OTHER };

	if (si < 0) {
		if (fcntl(fd, F_GETFD) < 0)
			f.kind = FK_CLOSED;
		return f;
	}
	f.kind = sk[si].kind;
	f.attached = sock_attached(&sk[si]);
	f.here = sk[si].att == c;
	return f;
}

/* A claimed buffer of context c, or -1. */
static int pick_claimed(int c)
{
	unsigned int i, start;

	if (!ctx[c].nclaimed)
		return -1;
	start = frng_below(&rng, ctx[c].nr_bufs);
	for (i = 0; i < ctx[c].nr_bufs; i++)
		if (ctx[c].claimed[(start + i) % ctx[c].nr_bufs])
			return (start + i) % ctx[c].nr_bufs;
	return -1;
}

/* Do the buffers of [off, off + len) all belong to our claims? */
static bool range_claimed(int c, uint64_t off, uint64_t len)
{
	uint64_t b, last;

	if (!ctx[c].pool || !len || off >= pool_bytes(&ctx[c]) ||
	    len > pool_bytes(&ctx[c]) - off)
		return false;
	last = (off + len - 1) / ctx[c].buf_size;
	for (b = off / ctx[c].buf_size; b <= last; b++)
		if (!ctx[c].claimed[b])
			return false;
	return true;
}


static void fuzz_one(struct stats_acc *a)
{
	union fargs u, in;
	unsigned long cmd = gen_cmd();
	unsigned int c32 = (unsigned int)cmd, mask = 0;
	int c = frng_below(&rng, NCTX), kind = cmd_kind(c32), si = -1, ocls = P_GOOD;
	bool ok = false, mutate = frng_below(&rng, 3) == 0, held = false;
	char what[WHY_LEN], ebuf[200];
	struct argp p = { 0 };
	struct oracle_call oc = { 0 };
	struct oracle_answer ans;
	void *arg = NULL, *offs = NULL;
	size_t len = 64;
	long r;

	memset(&u, 0, sizeof(u));
	switch (kind) {
	case K_SETUP:
		len = sizeof(u.s);
		if (mutate || frng_below(&rng, 4) == 0) {
			u.s.flags = frng_below(&rng, 4) ? 0 :
				    (uint32_t)fval(32) & ~SETUP_FLAGS_MAP;
			u.s.buf_size = frng_below(&rng, 2) ? 4096u << frng_below(&rng, 5) :
							      fval(32);
			u.s.nr_bufs = frng_below(&rng, 2) ? 1 + frng_below(&rng, 32) : fval(32);
			u.s.cq_entries = frng_below(&rng, 2) ? 0 : fval(32);
			u.s.rq_entries = frng_below(&rng, 2) ? 0 : fval(32);
			u.s.win_pages = frng_below(&rng, 8) ? 0 : fval(32);
			u.s.resv1[frng_below(&rng, 4)] = frng_below(&rng, 8) ? 0 : fval(64);
		} else {
			u.s.flags = frng_below(&rng, 2) ? SETUP_FLAGS_OK : 0;
			u.s.buf_size = 4096u << frng_below(&rng, 5);
			u.s.nr_bufs = 1 + frng_below(&rng, 16);
		}
		/* Garbage in the output half is fine: the kernel overwrites it. */
		if (frng_below(&rng, 2))
			memset(&u.s.pool, 0xa5, sizeof(u.s) - offsetof(struct zcrxdev_setup, pool));
		break;
	case K_ATTACH:
		len = sizeof(u.at);
		u.at.fd = gen_fd(c);
		u.at.tag = fval(64);
		if (mutate) {
			u.at.flags = frng_below(&rng, 2) ? fval(32) : 0;
			u.at.resv[frng_below(&rng, 2)] = fval(64);
		}
		break;
	case K_DETACH:
		len = sizeof(u.d);
		u.d.fd = gen_fd(c);
		if (mutate) {
			u.d.flags = frng_below(&rng, 2) ? fval(32) : 0;
			u.d.resv[frng_below(&rng, 2)] = fval(64);
		}
		break;
	case K_STATS:
		len = sizeof(u.st);
		if (mutate)
			u.st.flags = fval(32);
		if (frng_below(&rng, 2))
			memset(&u.st.bytes_copied, 0x5a, sizeof(u.st) - 8);
		break;
	case K_WAKE:
		break;
	case K_PINS:
		len = sizeof(u.pn);
		/* Mostly 0: declared pins make pinned buffers look free. */
		u.pn.count = frng_below(&rng, 8) ? 0 : frng_below(&rng, 2) ?
			     fval(32) : frng_below(&rng, 4);
		if (mutate) {
			u.pn.flags = frng_below(&rng, 2) ? fval(32) : 0;
			u.pn.resv[frng_below(&rng, 2)] = frng_below(&rng, 2) ? fval(64) : 0;
		}
		break;
	case K_RECV:
		len = sizeof(u.rv);
		if (mutate) {
			u.rv.flags = frng_below(&rng, 2) ? fval(32) : 0;
			u.rv.timeout_us = frng_below(&rng, 2) ? fval(32) : 0;
			u.rv.resv[frng_below(&rng, 2)] = frng_below(&rng, 2) ? fval(64) : 0;
		} else if (frng_below(&rng, 4) == 0) {
			u.rv.flags = ZCRXDEV_RECV_WAIT;
		}
		/* A valid wait sleeps: never longer than a millisecond here. */
		if (u.rv.flags == ZCRXDEV_RECV_WAIT && !u.rv.resv[0] && !u.rv.resv[1])
			u.rv.timeout_us %= 1000;
		break;
	case K_CLAIM:
		len = sizeof(u.cl);
		u.cl.count = mutate && frng_below(&rng, 2) ? fval(32) : 1 + frng_below(&rng, 8);
		if (mutate) {
			u.cl.flags = frng_below(&rng, 2) ? fval(32) : 0;
			u.cl.resv[frng_below(&rng, 2)] = frng_below(&rng, 2) ? fval(64) : 0;
		}
		ocls = pick_class();
		switch (ocls) {
		case P_GOOD:
			offs = offs_area + 8 * frng_below(&rng, 8);
			break;
		case P_UNALIGNED:
			offs = offs_area + 1 + frng_below(&rng, 7);
			break;
		case P_RO:
			offs = ro_page;
			break;
		case P_STRADDLE:	/* room for about half of them */
			offs = offs_area + 3 * 4096 -
			       8 * ((u.cl.count < 1024 ? u.cl.count : 1024) / 2);
			break;
		default:
			offs = bad_ptr(ocls);
		}
		u.cl.offs = (uintptr_t)offs;
		break;
	case K_SEND: {
		int b = ctx[c].pool ? pick_claimed(c) : -1;

		len = sizeof(u.sd);
		u.sd.fd = gen_fd(c);
		u.sd.tag = fval(64);
		if (b >= 0 && frng_below(&rng, 10) < 7) {
			uint64_t bs = ctx[c].buf_size, in_buf;

			u.sd.off = b * bs + frng_below(&rng, bs);
			in_buf = bs - u.sd.off % bs;
			/* Mostly inside the buffer, sometimes into the next one. */
			u.sd.len = 1 + frng_below(&rng, frng_below(&rng, 8) ? in_buf : 2 * bs);
		} else {
			u.sd.off = fval(64);
			u.sd.len = fval(32);
		}
		if (mutate) {
			u.sd.flags = frng_below(&rng, 2) ? fval(32) : 0;
			u.sd.resv0 = frng_below(&rng, 2) ? fval(32) : 0;
			u.sd.resv[frng_below(&rng, 2)] = frng_below(&rng, 2) ? fval(64) : 0;
		}
		held = range_claimed(c, u.sd.off, u.sd.len);
		break;
	}
	default:
		len = 64 + frng_below(&rng, 448);
		for (si = 0; si < (int)len; si++)
			u.raw[si] = (uint8_t)frng_next(&rng);
		si = -1;
	}
	in = u;
	if (kind == K_WAKE) {
		arg = frng_below(&rng, 3) ? NULL : (void *)(uintptr_t)fval(64);
	} else {
		p = place_arg(&u, len);
		arg = p.ptr;
	}
	oc.pool = ctx[c].pool;
	oc.nr_bufs = ctx[c].nr_bufs;
	oc.buf_size = ctx[c].buf_size;
	oc.locked_pages = outstanding_pages;
	oc.memlock_pages = FUZZ_MEMLOCK / 4096;
	oc.ptr = arg;
	oc.readable = p.readable;
	oc.first4 = p.first4;
	oc.writable = p.writable;
	oc.offs = ocls == P_GOOD || ocls == P_UNALIGNED ? OFFS_WRITABLE :
		  ocls == P_STRADDLE ? OFFS_PART : OFFS_NONE;
	oc.held = held;

	/* The contract's answers for this call. */
	if ((kind == K_ATTACH || kind == K_DETACH || kind == K_SEND) && p.readable) {
		int fd = kind == K_ATTACH ? in.at.fd : kind == K_DETACH ? in.d.fd :
			 in.sd.fd;

		si = find_sock(fd);
		oc.fd = fd_info(fd, si, c);
	}
	ans = oracle_ioctl(kind, &in, &oc);
	mask = ans.mask;
	ok = ans.ok;

	r = rioctl(ctx[c].fd, cmd, arg);
	snprintf(what, sizeof(what), "ioctl(ctx%d%s, %#lx, ptr class %d/%d)", c,
		 ctx[c].pool ? "+pool" : "", cmd, p.cls, ocls);
	acc_result(a, kind, r, !p.writable || (kind == K_CLAIM && oc.offs != OFFS_WRITABLE),
		   what);
	if (r == -ENOMEM && kind == K_SETUP && ok) {
		a->enomem_unpredicted++;	/* allocation may fail: allowed */
	} else if (r < 0 ? !in_mask(mask, r) : !ok) {
		acc_mismatch(a, "%s: got %s, contract allows {%s} (fd kind %d%s)", what,
			     r < 0 ? strerrorname_np((int)-r) ?: "?" : "ok",
			     emask_str(mask, ok, ebuf, sizeof(ebuf)),
			     si >= 0 ? sk[si].kind : -1, held ? ", range claimed" : "");
	}
	if (r < 0)
		return;

	/* Success: learn the new state and check what came back. */
	switch (kind) {
	case K_SETUP:
		if (!ctx[c].pool)
			ctx_has_pool(c, in.s.nr_bufs, in.s.buf_size, in.s.flags);
		if (p.writable && !setup_out_ok(&in.s, (struct zcrxdev_setup *)arg))
			acc_bad_out(a, "SETUP nr=%u bs=%u cq=%u rq=%u -> cq=%u rq=%u pool=%llu",
				    in.s.nr_bufs, in.s.buf_size, in.s.cq_entries,
				    in.s.rq_entries, ((struct zcrxdev_setup *)arg)->cq_entries,
				    ((struct zcrxdev_setup *)arg)->rq_entries,
				    (unsigned long long)((struct zcrxdev_setup *)arg)->pool.size);
		break;
	case K_ATTACH:
		if (si >= 0 && sk[si].kind == FK_TCP) {
			sk[si].att = c;
			sk[si].att_gen = ctx[c].gen;
		}
		break;
	case K_DETACH:
		if (si >= 0)
			sk[si].att = -1;
		break;
	case K_STATS: {
		const struct zcrxdev_stats *st = arg;

		if (p.writable && !stats_out_ok(st, ctx[c].nr_bufs, ctx[c].nclaimed))
			acc_bad_out(a, "STATS nr_bufs=%u claimed=%u free=%llu pending=%llu "
				    "attached=%llu total=%llu", ctx[c].nr_bufs,
				    ctx[c].nclaimed, (unsigned long long)st->bufs_free,
				    (unsigned long long)st->bufs_pending,
				    (unsigned long long)st->sockets_attached,
				    (unsigned long long)st->sockets_total);
		break;
	}
	case K_CLAIM: {
		const uint64_t *o = offs;
		long i;

		if (r > in.cl.count || r > ctx[c].nr_bufs) {
			acc_bad_out(a, "CLAIM of %u gave %ld", in.cl.count, r);
			break;
		}
		/* Free buffers only: never one we hold already, never twice. */
		for (i = 0; i < r; i++) {
			uint64_t b = o[i] / ctx[c].buf_size;

			if (o[i] % ctx[c].buf_size || b >= ctx[c].nr_bufs ||
			    ctx[c].claimed[b]) {
				acc_bad_out(a, "CLAIM gave offset %#llx (buf_size %u, %u "
					    "buffers, already ours: %d)",
					    (unsigned long long)o[i], ctx[c].buf_size,
					    ctx[c].nr_bufs, b < ctx[c].nr_bufs ?
					    ctx[c].claimed[b] : -1);
				break;
			}
			ctx[c].claimed[b] = 1;
			ctx[c].nclaimed++;
		}
		break;
	}
	case K_SEND:
		if (r > in.sd.len)
			acc_bad_out(a, "SEND of %u bytes queued %ld", in.sd.len, r);
		break;
	}
}


static bool fuzz_arena(void)
{
	arena = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	offs_area = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro_page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gone_page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED || ro_page == MAP_FAILED || gone_page == MAP_FAILED ||
	    offs_area == MAP_FAILED)
		return false;
	munmap(gone_page, 4096);
	return !mprotect(arena + 8192, 4096, PROT_NONE) &&
	       !mprotect(offs_area + 3 * 4096, 4096, PROT_NONE);
}

/*
 * A refused attach must leave the socket as it was (t_recv checks this for
 * a listener): no "zcrx" ULP left on it, so it can still listen(), take
 * kTLS, and does not pin the module.
 */
static void test_refused_attach_no_trace(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0), r1, r2 = -1;
	struct zcrx_params p = { .nr_bufs = 4 };
	char ulp[32] = "";
	socklen_t ulen = sizeof(ulp);
	struct zcrx z;

	if (zcrx_init(&z, &p)) {
		CHECK("refused_attach_unconnected_no_trace", 0, "zcrx_init failed");
		return;
	}
	r1 = zcrx_attach(&z, s, 1);
	if (getsockopt(s, IPPROTO_TCP, TCP_ULP, ulp, &ulen))
		ulen = 0;
	ulp[ulen < sizeof(ulp) ? ulen : sizeof(ulp) - 1] = 0;
	r2 = listen(s, 4) ? -errno : 0;
	CHECK("refused_attach_unconnected_no_trace", r1 == -ENOTCONN && !ulp[0] && r2 == 0,
	      "attach=%d, then TCP_ULP='%s' and listen()=%s", r1, ulp,
	      r2 ? strerror(-r2) : "ok");
	close(s);
	zcrx_exit(&z);
}

static void test_ioctl_fuzz(void)
{
	const unsigned long calls = fault_count(1000000, 500000);
	struct stats_acc *a = calloc(1, sizeof(*a));
	unsigned long i;
	double t0, dt;
	char why[WHY_LEN];
	int k;

	if (!a || !fuzz_arena()) {
		CHECK("ioctl_fuzz_setup", 0, "no memory");
		return;
	}
	for (k = 0; k < NCTX; k++) {
		ctx[k].fd = -1;
		ctx_renew(k, k & 1);
	}
	make_world();
	t0 = now_s();
	for (i = 0; i < calls; i++) {
		fuzz_one(a);
		if (!(i & 255))
			feed_data();
		/* New contexts (their sockets detach) and new connections. */
		if (i % 2500 == 2499) {
			ctx_renew(frng_below(&rng, NCTX), frng_below(&rng, 2));
			renew_pair();
		}
	}
	dt = now_s() - t0;
	tap_diag("ioctl fuzz: %lu calls in %.1f s = %.0f calls/s (%lu SETUP ENOMEM "
		 "by allocation, not by limit)", calls, dt, calls / dt,
		 a->enomem_unpredicted);
	acc_print(a, "ioctl");
	CHECK("ioctl_fuzz_only_documented_errnos", !a->undoc,
	      "%lu calls returned an undocumented errno; first: %s", a->undoc,
	      a->undoc_ex);
	CHECK("ioctl_fuzz_results_match_contract", !a->mismatch,
	      "%lu mismatches; %s | %s | %s | %s", a->mismatch, a->mismatch_ex[0],
	      a->mismatch_ex[1], a->mismatch_ex[2], a->mismatch_ex[3]);
	CHECK("ioctl_fuzz_outputs_valid", !a->bad_out, "%lu bad outputs; first: %s",
	      a->bad_out, a->bad_out_ex);
	CHECK("ioctl_fuzz_reached_every_command",
	      a->hist[K_SETUP][0] && a->hist[K_ATTACH][0] && a->hist[K_DETACH][0] &&
	      a->hist[K_WAKE][0] && a->hist[K_STATS][0] && a->hist[K_OTHER][1 + E_NOTTY] &&
	      a->hist[K_CLAIM][0] && a->hist[K_SEND][0] && a->hist[K_RECV][0] &&
	      a->hist[K_PINS][0],
	      "a command never succeeded");
	for (k = 0; k < NCTX; k++) {
		close(ctx[k].fd);
		free(ctx[k].claimed);
		memset(&ctx[k], 0, sizeof(ctx[k]));
		ctx[k].fd = -1;
	}
	outstanding_pages = 0;
	free_world();
	CHECK("ioctl_fuzz_no_leak", gauges_zero(5000, why, sizeof(why)), "%s", why);
	free(a);
}


static void run(void)
{
	test_refused_attach_no_trace();
	test_ioctl_fuzz();
}

int main(void)
{
	return fuzz_main(run, true, false);
}
