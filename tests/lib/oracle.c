// SPDX-License-Identifier: MIT
/* The UAPI oracle of the fuzzers (see oracle.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "oracle.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

const int oracle_eno[E_N] = { EINVAL, E2BIG, ENOMEM, EEXIST, ENXIO, EBADF,
			      ENOTSOCK, EPROTONOSUPPORT, ENOTCONN, EBUSY,
			      ENOENT, ENOTTY, EFAULT, ENOBUFS, EPERM, EAGAIN,
			      EPIPE, ECONNRESET, ETIME, EINTR };

/* The index of e in tab[n], or -1. */
static int slot_of(const int *tab, int n, int e)
{
	int i;

	for (i = 0; i < n; i++)
		if (tab[i] == e)
			return i;
	return -1;
}

int eslot(int e)
{
	return slot_of(oracle_eno, E_N, e);
}

bool in_mask(unsigned int mask, long r)
{
	int s = eslot((int)-r);

	return s >= 0 && (mask & EB(s));
}

const char *emask_str(unsigned int mask, bool ok, char *buf, size_t len)
{
	size_t l = 0;
	int s;

	buf[0] = 0;
	if (ok)
		l += snprintf(buf + l, len - l, "ok ");
	for (s = 0; s < E_N; s++)
		if (mask & EB(s))
			l += snprintf(buf + l, len - l, "%s ",
				      strerrorname_np(oracle_eno[s]));
	return buf;
}

const char *const kname[K_N] = { "SETUP", "ATTACH", "DETACH", "WAKE",
				 "STATS", "CLAIM", "SEND", "RECV", "PINS",
				 "other" };

const unsigned int valid_cmds[K_OTHER] = {
	ZCRXDEV_IOC_SETUP, ZCRXDEV_IOC_ATTACH, ZCRXDEV_IOC_DETACH,
	ZCRXDEV_IOC_WAKE, ZCRXDEV_IOC_STATS,
	ZCRXDEV_IOC_CLAIM, ZCRXDEV_IOC_SEND, ZCRXDEV_IOC_RECV, ZCRXDEV_IOC_PINS,
};

int cmd_kind(unsigned int c)
{
	int i;

	for (i = 0; i < K_OTHER; i++)
		if (c == valid_cmds[i])
			return i;
	return K_OTHER;
}

bool vfs_cmd(unsigned int c)
{
	static const unsigned int v[] = { 0x5451, 0x5450, 0x5421, 0x5452, 0x5460,
					  0xc0045877, 0xc0045878, 0xc020660b, 2,
					  0x40049409, 0x4020940d, 0xc0189436,
					  0x80111500, 0x80811501 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(v); i++)
		if (c == v[i])
			return true;
	return false;
}

static bool pow2_bsize(uint64_t b)
{
	return b >= 4096 && b <= 65536 && !(b & (b - 1));
}

static uint64_t ring_pow2(uint64_t n)
{
	if (n > 32768)
		n = 32768;
	if (n < 8)
		n = 8;
	while (n & (n - 1))
		n += n & -n;
	return n;
}

bool setup_out_ok(const struct zcrxdev_setup *in, const struct zcrxdev_setup *o)
{
	uint64_t cq = ring_pow2(in->cq_entries ? in->cq_entries : 2ull * in->nr_bufs);
	uint64_t rq = ring_pow2(in->rq_entries ? in->rq_entries : cq);
	unsigned int i;

	if (o->cq_entries != cq || o->rq_entries != rq ||
	    o->pool.size != (uint64_t)in->nr_bufs * in->buf_size ||
	    o->flags != in->flags || o->buf_size != in->buf_size ||
	    o->nr_bufs != in->nr_bufs ||
	    o->cq.size != ((256 + cq * sizeof(struct zcrxdev_cqe) + 4095) & ~4095ull) ||
	    o->rq.size != ((256 + rq * sizeof(struct zcrxdev_rqe) + 4095) & ~4095ull) ||
	    o->pool.offset == o->cq.offset || o->cq.offset == o->rq.offset ||
	    o->pool.offset == o->rq.offset || (o->cq.offset & 4095) ||
	    (o->rq.offset & 4095) || (o->pool.offset & 4095) ||
	    o->cq_off.entries < 192 || o->rq_off.entries < 192 ||
	    !o->cq_off.wake_min || o->rq_off.wake_min ||
	    !(o->features & ZCRXDEV_FEAT_ZEROCOPY_POOL_PAGES) ||
	    o->map_threshold || o->win.size || o->win.offset)
		return false;
	for (i = 0; i < 4; i++)
		if ((i < 2 && o->resv3[i]) ||
		    (i < 3 && (o->cq_off.resv[i] || o->rq_off.resv[i])))
			return false;
	return true;
}

bool stats_out_ok(const struct zcrxdev_stats *st, unsigned int nr_bufs,
		  unsigned int held)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(st->resv); i++)
		if (st->resv[i])
			return false;
	return !st->flags && !st->resv0 &&
	       st->bufs_free + st->bufs_pending + held <= nr_bufs &&
	       st->sockets_attached <= st->sockets_total;
}

bool oracle_documented(int kind, long r, bool efault_ok)
{
	int s = eslot((int)-r);

	if (s == E_TIME || s == E_INTR)	/* a RECV_WAIT's ends */
		return kind == K_RECV;
	return r >= 0 || !(s < 0 || (s == E_FAULT && !efault_ok) ||
			   (s >= E_AGAIN && kind != K_SEND));
}

/*
 * What the contract lets attach/detach/send on fd answer, beyond the
 * argument checks: errnos into *mask, and whether success is possible.
 * held: (send) the range lies in buffers we claimed and never returned.
 */
static void fd_expect(const struct oracle_fd *fd, int kind, bool held,
		      unsigned int *mask, bool *ok)
{
	*ok = false;
	switch (fd->kind) {
	case FK_CLOSED:
		*mask |= EB(E_BADF);
		return;
	case FK_TCP:
	case FK_CLOSE_WAIT:
		if (kind == K_SEND) {
			if (!held)	/* maybe held through a completion */
				*mask |= EB(E_PERM);
			*mask |= EB(E_AGAIN);
			*ok = true;
		} else if (fd->kind == FK_CLOSE_WAIT) {
			/* attach may or may not have been undone by EOF yet */
			*mask |= kind == K_ATTACH ? EB(E_BUSY) : EB(E_NOENT);
			*ok = true;
		} else if (kind == K_ATTACH) {
			if (fd->attached)
				*mask |= EB(E_BUSY);
			else
				*ok = true;
		} else {
			if (fd->attached && fd->here)
				*ok = true;
			else
				*mask |= EB(E_NOENT);
		}
		return;
	case FK_FIN_WAIT:
	case FK_RESET:
	case FK_LISTEN:
	case FK_UNCONN:
		if (kind == K_SEND)
			*mask |= (held ? 0 : EB(E_PERM)) | EB(E_PIPE) |
				 (fd->kind == FK_RESET ? EB(E_CONNRESET) : 0);
		else
			*mask |= kind == K_ATTACH ? EB(E_NOTCONN) : EB(E_NOENT);
		return;
	case FK_UDP:
	case FK_MPTCP:
		*mask |= kind == K_DETACH ? EB(E_NOENT) :
			 kind == K_SEND ? EB(E_PROTO) : EB(E_PROTO) | EB(E_NOTCONN);
		return;
	case FK_UNIX:
		*mask |= kind == K_DETACH ? EB(E_NOENT) : EB(E_PROTO);
		return;
	case FK_OPATH:		/* no file behind it for a lookup */
		*mask |= EB(E_BADF) | EB(E_NOTSOCK);
		return;
	default:		/* contexts, stdio, pipes, ... */
		*mask |= EB(E_NOTSOCK);
	}
}

struct oracle_answer oracle_ioctl(int kind, const union fargs *in,
				  const struct oracle_call *c)
{
	uint64_t pool_bytes = (uint64_t)c->nr_bufs * c->buf_size;
	unsigned int mask = 0;
	bool ok = false;

	switch (kind) {
	case K_SETUP:
		if (!c->readable) {
			mask = EB(E_FAULT);
			break;
		}
		if (c->pool)
			mask |= EB(E_EXIST);
		/* win_pages without a MAP flag is refused. */
		if ((in->s.flags & ~SETUP_FLAGS_OK) || in->s.win_pages || in->s.resv1[0] ||
		    in->s.resv1[1] || in->s.resv1[2] || in->s.resv1[3] ||
		    !pow2_bsize(in->s.buf_size) || !in->s.nr_bufs)
			mask |= EB(E_INVAL);
		if ((uint64_t)in->s.nr_bufs * in->s.buf_size > ZCRXDEV_POOL_MAX_BYTES)
			mask |= EB(E_2BIG);
		if (!mask) {
			uint64_t pages = (uint64_t)in->s.nr_bufs * in->s.buf_size / 4096;

			/* Over what is left of RLIMIT_MEMLOCK: must fail. */
			if (pages + c->locked_pages > c->memlock_pages)
				mask |= EB(E_NOMEM);
			else
				ok = true;
			if (!c->writable) {
				mask |= EB(E_FAULT);	/* made, not returnable: undone */
				ok = false;
			}
		}
		break;
	case K_ATTACH:
	case K_DETACH:
		if (!c->pool)
			mask |= EB(E_NXIO);
		if (!c->readable) {
			mask |= EB(E_FAULT);
			break;
		}
		if (kind == K_ATTACH ? in->at.flags || in->at.resv[0] || in->at.resv[1] :
				       in->d.flags || in->d.resv[0] || in->d.resv[1])
			mask |= EB(E_INVAL);
		fd_expect(&c->fd, kind, false, &mask, &ok);
		ok = ok && !(mask & (EB(E_NXIO) | EB(E_INVAL)));
		break;
	case K_WAKE:
		if (!c->pool)
			mask |= EB(E_NXIO);
		if (c->ptr)
			mask |= EB(E_INVAL);
		ok = !mask;
		break;
	case K_STATS:
		if (!c->pool)
			mask |= EB(E_NXIO);
		if (!c->first4)
			mask |= EB(E_FAULT);
		else if (in->st.flags)
			mask |= EB(E_INVAL);
		if (!c->writable)
			mask |= EB(E_FAULT);
		ok = !mask;
		break;
	case K_CLAIM:
		if (!c->pool)
			mask |= EB(E_NXIO);
		if (!c->readable) {
			mask |= EB(E_FAULT);
			break;
		}
		if (in->cl.flags || in->cl.resv[0] || in->cl.resv[1] || !in->cl.count ||
		    in->cl.count > ZCRXDEV_CLAIM_MAX)
			mask |= EB(E_INVAL);
		if (!mask) {
			mask |= EB(E_NOBUFS);	/* no free buffer right now */
			ok = c->offs != OFFS_NONE;
			if (c->offs != OFFS_WRITABLE)
				mask |= EB(E_FAULT);	/* offsets not writable */
		}
		break;
	case K_SEND:
		if (!c->pool)
			mask |= EB(E_NXIO);
		if (!c->readable) {
			mask |= EB(E_FAULT);
			break;
		}
		if (in->sd.flags || in->sd.resv0 || in->sd.resv[0] || in->sd.resv[1] ||
		    !in->sd.len || !c->pool || in->sd.off >= pool_bytes ||
		    in->sd.len > pool_bytes - in->sd.off)
			mask |= EB(E_INVAL);
		fd_expect(&c->fd, kind, c->held, &mask, &ok);
		ok = ok && !(mask & (EB(E_NXIO) | EB(E_INVAL)));
		/* A send that would go out may find the in-flight cap reached. */
		if (ok || (mask & E_SENDERR))
			mask |= EB(E_NOBUFS);
		break;
	case K_PINS:
		if (!c->pool)
			mask |= EB(E_NXIO);
		if (!c->readable)
			mask |= EB(E_FAULT);
		else if (in->pn.flags || in->pn.resv[0] || in->pn.resv[1] ||
			 in->pn.count > ZCRXDEV_PINS_MAX)
			mask |= EB(E_INVAL);
		ok = !mask;
		break;
	case K_RECV:	/* without DEFER: a wake that counts completions */
		if (!c->pool)
			mask |= EB(E_NXIO);
		if (!c->readable)
			mask |= EB(E_FAULT);
		else if ((in->rv.flags & ~ZCRXDEV_RECV_FLAGS) || in->rv.resv[0] ||
			 in->rv.resv[1] ||
			 (!(in->rv.flags & ZCRXDEV_RECV_WAIT) && in->rv.timeout_us))
			mask |= EB(E_INVAL);
		ok = !mask;
		/* A wait may end with its time up, or with a signal. */
		if (ok && (in->rv.flags & ZCRXDEV_RECV_WAIT))
			mask |= EB(E_TIME) | EB(E_INTR);
		break;
	default:
		mask = EB(E_NOTTY);
	}
	return (struct oracle_answer){ .mask = mask, .ok = ok };
}

static const int mno[M_N] = { EINVAL, EACCES, ENXIO, ENOMEM, EOVERFLOW,
			      EOPNOTSUPP, EEXIST, EPERM };

int mslot(int e)
{
	return slot_of(mno, M_N, e);
}

struct oracle_mmap_answer oracle_mmap(const struct oracle_maps *m, bool nopool,
				      bool writable, uint64_t o, uint64_t len,
				      int prot, int flags)
{
	uint64_t alen = (len + 4095) & ~4095ull;
	unsigned int mod = 0, emm = 0;
	int k;

	/* What mm itself answers before the driver sees anything. */
	if (!len || (o & 4095) || (flags & (MAP_HUGETLB | MAP_GROWSDOWN)))
		emm |= EB(M_INVAL);
	/* No room, or overcommit refuses a big private writable map. */
	if (!alen || alen >= (256ull << 20))
		emm |= EB(M_NOMEM);
	if (o + alen < o || o + alen > ~0ull - 8192)
		emm |= EB(M_OVERFLOW);
	if ((flags & MAP_TYPE) != MAP_SHARED && (flags & MAP_TYPE) != MAP_PRIVATE &&
	    (flags & MAP_TYPE) != MAP_SHARED_VALIDATE)
		emm |= EB(M_INVAL);
	if ((flags & MAP_TYPE) == MAP_SHARED_VALIDATE &&
	    (flags & (MAP_SYNC | MAP_FIXED_NOREPLACE)))
		emm |= EB(M_OPNOTSUPP);
	if (flags & MAP_FIXED_NOREPLACE)
		emm |= EB(M_EXIST);	/* the reservation is there */
	if (prot & PROT_EXEC)
		emm |= EB(M_PERM);	/* only if /dev were noexec */
	/* The contract: ENXIO before setup, EINVAL, EACCES. */
	if (nopool)
		mod |= EB(M_NXIO);
	if ((flags & MAP_TYPE) == MAP_PRIVATE)
		mod |= EB(M_INVAL);
	for (k = 0; k < 3; k++)
		if (o == m->off[k])
			break;
	if (k == 3 || alen != m->size[k])
		mod |= EB(M_INVAL);
	if (k == 0 && (prot & PROT_WRITE) && !writable)
		mod |= EB(M_ACCES);
	return (struct oracle_mmap_answer){ .mod = mod, .mm = emm,
					    .ok = !mod && !(emm & ~EB(M_PERM)) };
}
