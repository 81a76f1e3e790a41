/* SPDX-License-Identifier: MIT */
/*
 * The little of the kernel that module/ring.c and module/buf.c use, for
 * building them on the host (tests/unit/t_kring.c).  Each header in linux/
 * and asm/ beside this file includes it, so that the module's sources
 * compile unchanged with -Itests/unit/shim first on the include path.
 *
 *   spinlock_t               a pthread mutex that knows its owner
 *   lockdep_assert_held()    the owner must be the calling thread
 *   READ_ONCE/WRITE_ONCE     relaxed C11 atomics
 *   smp_load_acquire/..._release/smp_mb   acquire, release, seq_cst fence
 *   array_index_nospec()     the index itself
 *   WARN_ON_ONCE()           counts in kshim_warnings (a test fails on it)
 *   kvcalloc()/kvfree()      calloc()/free()
 *
 * Whatever else ring.c or buf.c would need is a layering question first.
 */
#ifndef ZCRX_TESTS_KSHIM_H
#define ZCRX_TESTS_KSHIM_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint8_t		u8;
typedef uint16_t	u16;
typedef uint32_t	u32;
typedef uint64_t	u64;
typedef int32_t		s32;
typedef int64_t		s64;

#define U32_MAX		UINT32_MAX

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

/* ---- memory model ---- */
#define READ_ONCE(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define smp_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define smp_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define smp_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)

#define array_index_nospec(index, size)	(index)

/* ---- warnings: every one is a test failure unless a test expects it ---- */
extern unsigned int kshim_warnings;
void kshim_warn(const char *file, int line, const char *what);

#define WARN_ON_ONCE(cond) ({						\
	bool __c = !!(cond);						\
	if (__c)							\
		kshim_warn(__FILE__, __LINE__, #cond);			\
	__c;								\
})

/* ---- locks ---- */
typedef struct {
	pthread_mutex_t	mutex;
	pthread_t	owner;
	int		held;
} spinlock_t;

static inline void spin_lock_init(spinlock_t *l)
{
	pthread_mutex_init(&l->mutex, NULL);
	l->held = 0;
}

static inline void spin_lock(spinlock_t *l)
{
	pthread_mutex_lock(&l->mutex);
	l->owner = pthread_self();
	__atomic_store_n(&l->held, 1, __ATOMIC_RELAXED);
}

static inline void spin_unlock(spinlock_t *l)
{
	__atomic_store_n(&l->held, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&l->mutex);
}

#define spin_lock_bh(l)		spin_lock(l)
#define spin_unlock_bh(l)	spin_unlock(l)

#define lockdep_assert_held(l) do {					\
	if (!__atomic_load_n(&(l)->held, __ATOMIC_RELAXED) ||		\
	    !pthread_equal((l)->owner, pthread_self()))			\
		kshim_warn(__FILE__, __LINE__, "lock not held: " #l);	\
} while (0)

/* ---- atomics mem.h names ---- */
typedef struct { int counter; } atomic_t;
typedef struct { long counter; } atomic_long_t;

/* ---- arithmetic ---- */
#define min(a, b)		((a) < (b) ? (a) : (b))
#define max(a, b)		((a) > (b) ? (a) : (b))
#define min_t(t, a, b)		min((t)(a), (t)(b))
#define max_t(t, a, b)		max((t)(a), (t)(b))
#define clamp(v, lo, hi)	min(max((v), (lo)), (hi))
#define clamp_t(t, v, lo, hi)	clamp((t)(v), (t)(lo), (t)(hi))

static inline u32 roundup_pow_of_two(u32 n)
{
	return n <= 1 ? 1 : 1U << (32 - __builtin_clz(n - 1));
}

/* ---- memory ---- */
#define GFP_KERNEL_ACCOUNT	0
#define kvcalloc(n, size, gfp)	calloc((n), (size))
#define kvfree(p)		free(p)

#endif /* ZCRX_TESTS_KSHIM_H */
