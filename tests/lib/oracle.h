/* SPDX-License-Identifier: MIT */
/*
 * The UAPI oracle of the fuzzers (t_fuzz_*): what each /dev/zcrx ioctl and
 * mmap() must answer for a given argument, from what the UAPI header
 * documents (a model of the contract, not of the code).  The caller says
 * what it knows (the context, where the argument lies, what the fd is);
 * the oracle gives the errnos the contract allows and whether success is
 * one of the answers, and checks what a successful call wrote back.
 */
#ifndef ZCRX_TESTS_ORACLE_H
#define ZCRX_TESTS_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zcrx/zcrxdev.h>

/*
 * The errnos, by slot: the header's (EFAULT for bad pointers), then
 * send(2)'s own, which ZCRXDEV_IOC_SEND may return since it sends "like
 * send()".  A set of answers is a mask of EB(slot).
 */
enum {
	E_INVAL, E_2BIG, E_NOMEM, E_EXIST, E_NXIO, E_BADF, E_NOTSOCK, E_PROTO,
	E_NOTCONN, E_BUSY, E_NOENT, E_NOTTY, E_FAULT, E_NOBUFS, E_PERM,
	E_AGAIN, E_PIPE, E_CONNRESET, E_TIME, E_INTR, E_N
};
#define EB(x)		(1u << (x))
#define E_SENDERR	(EB(E_AGAIN) | EB(E_PIPE) | EB(E_CONNRESET))

extern const int oracle_eno[E_N];
/* The slot of errno e, or -1. */
int eslot(int e);
/* Is -r one of the answers in mask? */
bool in_mask(unsigned int mask, long r);
/* "ok EINVAL ENOENT " for a mask (and ok). */
const char *emask_str(unsigned int mask, bool ok, char *buf, size_t len);

/* The commands, by kind; K_OTHER is every other number (ENOTTY). */
enum {
	K_SETUP, K_ATTACH, K_DETACH, K_WAKE, K_STATS, K_CLAIM, K_SEND, K_RECV,
	K_PINS, K_OTHER, K_N
};
extern const char *const kname[K_N];
extern const unsigned int valid_cmds[K_OTHER];
int cmd_kind(unsigned int c);
/* ioctls the VFS answers before the driver: never send those. */
bool vfs_cmd(unsigned int c);

/*
 * The setup flags this model knows.  DEFER changes where bytes are placed,
 * never what an ioctl returns.  MAP pools charge their window to
 * RLIMIT_MEMLOCK too and place bytes only on RECV: t_map covers them, and
 * generated flags never carry MAP bits.
 */
#define SETUP_FLAGS_OK	(ZCRXDEV_SETUP_WRITABLE | ZCRXDEV_SETUP_DEFER)
#define SETUP_FLAGS_MAP	(ZCRXDEV_SETUP_MAP | ZCRXDEV_SETUP_MAP_ALWAYS)

union fargs {
	struct zcrxdev_setup	s;
	struct zcrxdev_attach	at;
	struct zcrxdev_detach	d;
	struct zcrxdev_stats	st;
	struct zcrxdev_claim	cl;
	struct zcrxdev_send	sd;
	struct zcrxdev_recv	rv;
	struct zcrxdev_pins	pn;
	uint8_t			raw[512];
};

/* What the fd of attach/detach/send is. */
enum fk {
	FK_TCP,		/* connected, peer open: attach 0 or EBUSY, exactly */
	FK_CLOSE_WAIT,	/* peer sent FIN: attach works, EOF detaches it at once */
	FK_FIN_WAIT,	/* we sent FIN */
	FK_RESET,	/* peer sent RST */
	FK_LISTEN,
	FK_UNCONN,
	FK_UDP,
	FK_UNIX,
	FK_MPTCP,
	FK_PIPE,
	FK_DEVNULL,
	FK_EVENTFD,
	FK_OPATH,	/* O_PATH fd of a socket: no file to look up */
	FK_N,
	FK_OTHER = FK_N,	/* open, not one of the above (contexts, stdio) */
	FK_CLOSED,		/* no such fd */
};

struct oracle_fd {
	int	kind;		/* enum fk */
	bool	attached;	/* (FK_TCP) attached to a live context */
	bool	here;		/* ... to the context of the call */
};

/* Where CLAIM's offsets go. */
enum { OFFS_WRITABLE, OFFS_PART, OFFS_NONE };

/* What the caller knows about one call. */
struct oracle_call {
	/* the context */
	bool			pool;
	unsigned int		nr_bufs, buf_size;
	uint64_t		locked_pages;	/* pool pages the caller holds */
	uint64_t		memlock_pages;	/* its RLIMIT_MEMLOCK */
	/* the argument struct: readable, its first 4 bytes readable, writable */
	const void		*ptr;
	bool			readable, first4, writable;
	int			offs;		/* CLAIM: OFFS_* */
	struct oracle_fd	fd;		/* ATTACH, DETACH, SEND */
	bool			held;		/* SEND: the range is in our claims */
};

struct oracle_answer {
	unsigned int	mask;	/* the errnos allowed */
	bool		ok;	/* success allowed */
};

/* The contract's answers for ioctl(kind) with the argument in (a copy). */
struct oracle_answer oracle_ioctl(int kind, const union fargs *in,
				  const struct oracle_call *c);

/*
 * Is errno -r one the header documents for kind?  EFAULT only when
 * efault_ok (a bad pointer), send(2)'s own only for SEND.
 */
bool oracle_documented(int kind, long r, bool efault_ok);

/* Expected SETUP outputs for the given inputs (it succeeded). */
bool setup_out_ok(const struct zcrxdev_setup *in, const struct zcrxdev_setup *o);
/* Counters of a pool of nr_bufs of which held are claimed and not returned. */
bool stats_out_ok(const struct zcrxdev_stats *st, unsigned int nr_bufs,
		  unsigned int held);

/* mmap() answers by slot: the contract's (EINVAL, EACCES, ENXIO) and mm's own. */
enum {
	M_INVAL, M_ACCES, M_NXIO, M_NOMEM, M_OVERFLOW, M_OPNOTSUPP, M_EXIST,
	M_PERM, M_N
};
int mslot(int e);

/* The regions of a context's setup: pool, cq, rq. */
struct oracle_maps {
	uint64_t	off[3], size[3];
};

struct oracle_mmap_answer {
	unsigned int	mod;	/* the module's answers (EB(M_*)) */
	unsigned int	mm;	/* mm's own, before the driver sees anything */
	bool		ok;	/* success allowed */
};

/* mmap(len, prot, flags, fd, o) of a context with maps m (nopool: none). */
struct oracle_mmap_answer oracle_mmap(const struct oracle_maps *m, bool nopool,
				      bool writable, uint64_t o, uint64_t len,
				      int prot, int flags);

#endif /* ZCRX_TESTS_ORACLE_H */
